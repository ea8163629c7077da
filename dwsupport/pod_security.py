"""Pod Security Standards "restricted" (plus dockwright's own pod rules) as a pure function over
parsed manifests. Shared by tests/test_kubernetes.py and the security gate (tools/security_gate/).

`violations(docs)` returns one Violation per broken rule per pod/container. Rule ids:
  pss/<control>    the Kubernetes Pod Security Standards, baseline + restricted profile
                   (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
  house/<rule>     dockwright's house rules (docs/ARCHITECTURE.md, Principles): an explicit non-root
                   UID, no service-account token, read-only root filesystem, memory request =
                   limit, liveness and readiness probes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dwsupport.k8s import Manifest, pod_specs

# restricted: the only volume types allowed
VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}


@dataclass(frozen=True)
class Violation:
    rule: str
    where: str  # "Deployment/api" or "Deployment/api container api"
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.where}: {self.message}"


def _containers(spec: Manifest) -> list[tuple[str, Manifest]]:
    return [
        (key, c)
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
    ]


def pod_violations(label: str, spec: Manifest) -> list[Violation]:
    out: list[Violation] = []

    def bad(rule: str, where: str, message: str) -> None:
        out.append(Violation(rule, where, message))

    pod_sc = spec.get("securityContext") or {}
    # ---- pod level (baseline)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            bad("pss/host-namespaces", label, f"{key}: true")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        bad("pss/host-process", label, "windowsOptions.hostProcess: true")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            bad("pss/sysctls", label, f"unsafe sysctl {sysctl.get('name')}")
    # ---- volumes (baseline: no hostPath; restricted: only the listed types)
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            bad("pss/host-path-volumes", label, f"volume {volume.get('name')} is a hostPath")
        elif not kinds <= VOLUME_TYPES:
            bad("pss/volume-types", label, f"volume {volume.get('name')} is {sorted(kinds)}")
    # ---- house rules at pod level
    if spec.get("automountServiceAccountToken") is not False:
        bad("house/service-account-token", label, "automountServiceAccountToken is not false")

    for key, c in _containers(spec):
        sc = c.get("securityContext") or {}
        where = f"{label} container {c.get('name')}"

        def effective(field: str, sc: Manifest = sc) -> Any:
            return sc.get(field, pod_sc.get(field))

        # baseline
        if sc.get("privileged"):
            bad("pss/privileged", where, "privileged: true")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            bad("pss/host-process", where, "windowsOptions.hostProcess: true")
        if sc.get("procMount") not in (None, "Default"):
            bad("pss/proc-mount", where, f"procMount: {sc.get('procMount')}")
        selinux = effective("seLinuxOptions") or {}
        if selinux.get("type") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            bad("pss/selinux", where, f"seLinuxOptions {selinux}")
        apparmor = (effective("appArmorProfile") or {}).get("type")
        if apparmor not in (None, "RuntimeDefault", "Localhost"):
            bad("pss/apparmor", where, f"appArmorProfile.type: {apparmor}")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            bad("pss/host-ports", where, "a hostPort is set")
        # restricted
        if sc.get("allowPrivilegeEscalation") is not False:
            bad("pss/privilege-escalation", where, "allowPrivilegeEscalation is not false")
        if effective("runAsNonRoot") is not True:
            bad("pss/run-as-non-root", where, "runAsNonRoot is not true (container or pod)")
        uid = effective("runAsUser")
        if uid == 0:
            bad("pss/run-as-non-root-user", where, "runAsUser: 0")
        elif not (isinstance(uid, int) and uid > 0):
            bad("house/explicit-uid", where, f"runAsUser is {uid!r}, not a numeric non-root UID")
        seccomp = (effective("seccompProfile") or {}).get("type")
        if seccomp not in SECCOMP_OK:
            bad("pss/seccomp", where, f"seccompProfile.type is {seccomp!r}, not RuntimeDefault/Localhost")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad("pss/capabilities", where, "capabilities.drop does not hold ALL")
        added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            bad("pss/capabilities", where, f"capabilities.add holds {sorted(added)}")
        # house rules
        if key == "ephemeralContainers":
            continue
        if sc.get("readOnlyRootFilesystem") is not True:
            bad("house/read-only-root", where, "readOnlyRootFilesystem is not true")
        res = c.get("resources") or {}
        limit = (res.get("limits") or {}).get("memory")
        if not limit:
            bad("house/memory-limit", where, "no memory limit")
        elif limit != (res.get("requests") or {}).get("memory"):
            bad("house/memory-limit", where, "memory request differs from the limit")
        if key == "containers" and not ("livenessProbe" in c and "readinessProbe" in c):
            bad("house/probes", where, "needs a livenessProbe and a readinessProbe")
    return out


def violations(docs: list[Any]) -> list[Violation]:
    """Every violation in every pod spec of a list of manifests (e.g. a built overlay)."""
    return [v for label, spec in pod_specs(docs) for v in pod_violations(label, spec)]
