"""Promise: the vendored CRD schemas (tests/schemas/) are valid JSON Schema, say where they come
from, keep their licence, and are what tools/crd_schemas.py makes of a CRD: closed objects (a
typo fails), Kubernetes' int-or-string / set / nullable / preserve-unknown-fields kept in meaning."""

from __future__ import annotations

import json
import pathlib
import re

import jsonschema
import pytest
import yaml

from dwsupport import gateway
from dwsupport.tools import run, tool
from tools import crd_schemas

SYNTHETIC_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "description": "a widget",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "x-kubernetes-validations": [{"rule": "self.size > 0", "message": "m"}],
                                "properties": {
                                    "size": {"x-kubernetes-int-or-string": True},
                                    "tags": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "x-kubernetes-list-type": "set",
                                    },
                                    "note": {"type": "string", "nullable": True},
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "properties": {"known": {"type": "string"}},
                                    },
                                },
                            }
                        },
                    }
                },
            },
            {"name": "v1alpha1", "served": False, "storage": False},
            {
                "name": "v2",
                "served": True,
                "storage": False,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}},
            },
        ],
    },
}


@pytest.fixture
def widget_schema(tmp_path: pathlib.Path) -> dict:
    crd = tmp_path / "crd.yaml"
    crd.write_text(yaml.safe_dump(SYNTHETIC_CRD))
    written = crd_schemas.write_schemas([crd], tmp_path / "out", only={"v1"}, source="synthetic")
    assert [p.name for p in written] == ["example.com_v1_Widget.json"]  # unserved and other versions left out
    schema: dict = json.loads(written[0].read_text())
    return schema


def widget(**spec: object) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def errors(schema: dict, doc: dict) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]


def test_converter_keeps_meaning_and_closes_objects(widget_schema):
    assert "description" not in json.dumps(widget_schema) and "x-kubernetes" not in json.dumps(widget_schema)
    assert widget_schema["$comment"] == "synthetic"
    assert not errors(widget_schema, widget(size=3, tags=["a", "b"], note=None, extra={"anything": 1}))
    assert not errors(widget_schema, widget(size="50%"))  # int-or-string
    assert errors(widget_schema, widget(size=1, tags=["a", "a"]))  # a set
    assert errors(widget_schema, widget(size=1, sise=2))  # typo: closed object
    assert errors(widget_schema, widget(tags=[]))  # required
    assert errors(widget_schema, {**widget(size=1), "apiVersion": "example.com/v2"})  # apiVersion const
    assert errors(widget_schema, {**widget(size=1), "metadata": {"name": "w", "labels": {"a": 1}}})


def test_converter_cli(tmp_path):
    crd = tmp_path / "crd.yaml"
    crd.write_text(yaml.safe_dump(SYNTHETIC_CRD))
    assert crd_schemas.main(["--out", str(tmp_path / "all"), str(crd)]) == 0
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == [
        "example.com_v1_Widget.json",
        "example.com_v2_Widget.json",
    ]
    crd.write_text("kind: ConfigMap\n")
    assert crd_schemas.main(["--out", str(tmp_path / "none"), str(crd)]) == 1


@pytest.mark.parametrize("folder", sorted(p.name for p in gateway.SCHEMAS.iterdir() if p.is_dir()))
def test_vendored_schemas_say_where_they_come_from(folder):
    here = gateway.SCHEMAS / folder
    notice = (here / "NOTICE").read_text()
    assert "Apache License 2.0" in notice
    assert "Apache License" in (here / "LICENSE").read_text().split("TERMS AND CONDITIONS")[0]
    (commit,) = set(re.findall(r"commit ([0-9a-f]{40})", notice.split("Files:")[0]))
    for path in here.glob("*.json"):
        schema = json.loads(path.read_text())
        assert commit in schema["$comment"] and "Apache-2.0" in schema["$comment"], path.name
    run([tool("check-jsonschema"), "--check-metaschema", *map(str, here.glob("*.json"))])
