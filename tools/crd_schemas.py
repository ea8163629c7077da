"""Turn Kubernetes CRD manifests into closed JSON Schema (draft 2020-12) files: how the Gateway API
and GKE policy schemas under tests/schemas/ were made (their NOTICE files give the exact command).

    python -m tools.crd_schemas --out DIR [--only v1] [--drop-status] [--source TEXT] CRD.yaml...

One file per kind and served version, `<group>_<version>_<Kind>.json`. What the conversion does:
- `description` (and the OpenAPI-only `example`, `externalDocs`, `xml`) goes, everywhere.
- `x-kubernetes-*` keys go. Two change what is valid and are translated first:
  `x-kubernetes-int-or-string` → `anyOf: [integer, string]`, `x-kubernetes-list-type: set` →
  `uniqueItems: true`. CEL rules (`x-kubernetes-validations`) have no JSON Schema form: they are
  not enforced (dwsupport/gateway.py checks the ones that matter for the generated objects).
- `nullable: true` adds "null" to the type (and to `enum`).
- The API server prunes fields a structural schema does not name, so a typo is silently lost;
  here every object that lists `properties` is closed (`additionalProperties: false`) unless it
  preserves unknown fields, so a typo fails. Not inside allOf/anyOf/oneOf/not: structural schemas
  put only value checks there.
- `apiVersion` and `kind` become constants and are required; `metadata` gets the ObjectMeta fields
  a manifest sets (name, namespace, string labels and annotations).
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import yaml

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ONE_SCHEMA = ("items", "not", "additionalProperties")  # keywords holding one subschema
SCHEMA_LIST = ("allOf", "anyOf", "oneOf")  # ... a list of them
SCHEMA_MAP = ("properties", "patternProperties")  # ... a map of them
DROP = {"description", "example", "externalDocs", "xml"}

Schema = dict[str, Any]
STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    # ObjectMeta has more fields (uid, ownerReferences, ...): the API server checks those.
}


def convert(node: Schema, *, closed: bool) -> Schema:
    """The JSON Schema form of one structural OpenAPI v3 schema node (`closed`: False inside
    allOf/anyOf/oneOf/not)."""
    out: Schema = {}
    for key, value in node.items():
        if key in DROP or key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in SCHEMA_MAP:
            out[key] = {name: convert(sub, closed=closed) for name, sub in value.items()}
        elif key in SCHEMA_LIST:
            out[key] = [convert(sub, closed=False) for sub in value]
        elif key in ONE_SCHEMA and isinstance(value, dict):
            out[key] = convert(value, closed=closed and key != "not")
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    open_ended = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
        "x-kubernetes-embedded-resource"
    )
    if closed and "properties" in out and "additionalProperties" not in out and not open_ended:
        out["additionalProperties"] = False
    return out


def document_schema(group: str, version: Schema, kind: str, *, drop_status: bool, source: str) -> Schema:
    """The schema of one served version of a CRD, as a whole document."""
    schema = convert(version["schema"]["openAPIV3Schema"], closed=True)
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"const": f"{group}/{version['name']}"}
    props["kind"] = {"const": kind}
    props["metadata"] = METADATA
    if drop_status:
        props.pop("status", None)
    schema["required"] = sorted({"apiVersion", "kind", *schema.get("required", [])})
    schema["additionalProperties"] = False
    head: Schema = {"$schema": DIALECT, "title": f"{kind} {group}/{version['name']}"}
    if source:
        head["$comment"] = source
    return {**head, **schema}


def crds(paths: list[pathlib.Path]) -> Iterator[tuple[pathlib.Path, Schema]]:
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                yield path, doc


def write_schemas(
    paths: list[pathlib.Path],
    out: pathlib.Path,
    *,
    only: set[str] | None = None,
    drop_status: bool = False,
    source: str = "",
) -> list[pathlib.Path]:
    """Write the schema of every served version (of `only` these versions) of every CRD in the
    files; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, crd in crds(paths):
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            if not version.get("served", False) or (only and version["name"] not in only):
                continue
            if "schema" not in version:
                raise SystemExit(f"{path}: {kind} {version['name']} has no openAPIV3Schema")
            schema = document_schema(group, version, kind, drop_status=drop_status, source=source)
            target = out / f"{group}_{version['name']}_{kind}.json"
            target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("crds", nargs="+", type=pathlib.Path, help="CRD YAML files")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="output directory")
    parser.add_argument("--only", action="append", help="only this version (repeatable), e.g. v1")
    parser.add_argument("--drop-status", action="store_true", help="leave out .status")
    parser.add_argument("--source", default="", help="provenance, stored as $comment in every file")
    args = parser.parse_args(argv)
    written = write_schemas(
        args.crds, args.out, only=set(args.only or []), drop_status=args.drop_status, source=args.source
    )
    if not written:
        print("no served CRD versions found", file=sys.stderr)
        return 1
    for target in written:
        print(f"{target}  {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
