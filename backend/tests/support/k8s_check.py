"""Render every Kustomize overlay under deploy/k8s and check what it would apply, offline.

    python -m tests.support.k8s_check [OVERLAY_DIR...]

For each overlay: `kubectl kustomize` renders it (as `kubectl apply -k` would), every manifest
is validated against the Kubernetes schemas that kubernetes-validate ships (strict: an unknown
field is an error, as a typo would be), and the deployment's own rules are checked: no secret
setting written in a manifest, probes on /healthz and /readyz, a grace period longer than
SHUTDOWN_GRACE_SECONDS plus the preStop pause, the hardened securityContext, WORKERS set.
Exits 1 on the first overlay that fails, naming every problem found in it.
"""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from app.core.config import BACKEND_DIR

K8S_DIR = BACKEND_DIR.parent / "deploy" / "k8s"
# The oldest Kubernetes the manifests are meant for (autoscaling/v2, policy/v1 and the
# RuntimeDefault seccomp profile are all older), and the newest schemas shipped.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SECRET_SETTINGS = frozenset(
    {"DATABASE_URL", "DATABASE_URL_DIRECT", "JWT_SECRET", "BETTER_AUTH_SECRET", "REDIS_URL"}
)
API_NAME = "todo-api"


def kubectl() -> str:
    found = shutil.which("kubectl")
    if not found:
        raise SystemExit(
            "kubectl is not installed: it renders the overlays (`kubectl kustomize`, the same "
            "Kustomize that `kubectl apply -k` runs)"
        )
    return found


def render(overlay: Path) -> list[dict[str, Any]]:
    result = subprocess.run(  # noqa: S603
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{overlay}: kubectl kustomize failed:\n{result.stderr}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def schema_problems(resources: list[dict[str, Any]]) -> list[str]:
    problems = []
    for resource in resources:
        name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(part) for part in exc.path)
                problems.append(f"{name} (Kubernetes {version}): {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(f"{name} (Kubernetes {version}): no schema: {exc}")
    return problems


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = [
        *spec.get("initContainers", []),
        *spec.get("containers", []),
    ]
    return containers


def _seconds_of_pre_stop(container: dict[str, Any]) -> float:
    """The pause of a `python -c "import time; time.sleep(N)"` preStop hook (or a sleep action)."""
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = " ".join(pre_stop.get("exec", {}).get("command", []))
    if "sleep(" not in command:
        return 0.0
    return float(command.split("sleep(", 1)[1].split(")", 1)[0])


def policy_problems(resources: list[dict[str, Any]]) -> list[str]:
    problems = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_kind.setdefault(resource["kind"], []).append(resource)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        if not any(r["metadata"]["name"] == API_NAME for r in by_kind.get(kind, [])):
            problems.append(f"no {kind} named {API_NAME}")
    for config_map in by_kind.get("ConfigMap", []):
        for key in SECRET_SETTINGS & set(config_map.get("data", {})):
            problems.append(f"ConfigMap/{config_map['metadata']['name']} holds the secret {key}")
    for kind in ("Secret",):
        for secret in by_kind.get(kind, []):
            problems.append(f"Secret/{secret['metadata']['name']} is written in a manifest")
    for workload in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", []):
        for container in _containers(workload):
            for variable in container.get("env", []):
                if variable["name"] in SECRET_SETTINGS and "valueFrom" not in variable:
                    problems.append(f"{container['name']}: {variable['name']} written as a value")
                if "PASSWORD" in variable["name"] and "valueFrom" not in variable:
                    problems.append(f"{container['name']}: {variable['name']} written as a value")
    api = [d for d in by_kind.get("Deployment", []) if d["metadata"]["name"] == API_NAME]
    if api:
        problems += _api_deployment_problems(api[0], by_kind.get("ConfigMap", []))
    return problems


def _api_deployment_problems(
    deployment: dict[str, Any], config_maps: list[dict[str, Any]]
) -> list[str]:
    problems = []
    pod = deployment["spec"]["template"]["spec"]
    settings: dict[str, str] = {}
    for config_map in config_maps:
        settings.update(config_map.get("data", {}))
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        problems.append("the pod does not set runAsNonRoot")
    for container in _containers(deployment):
        security = container.get("securityContext", {})
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{container['name']}: allowPrivilegeEscalation is not false")
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{container['name']}: readOnlyRootFilesystem is not true")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{container['name']}: capabilities are not all dropped")
        resources = container.get("resources", {})
        if not resources.get("requests", {}).get("memory") or not resources.get("limits", {}).get(
            "memory"
        ):
            problems.append(f"{container['name']}: no memory request and limit")
    if not any(
        "app.core.migrate" in " ".join(c.get("command", [])) for c in pod.get("initContainers", [])
    ):
        problems.append("no init container applies the migrations")
    [api] = pod["containers"][:1]
    if api.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        problems.append("the liveness probe is not GET /healthz")
    if api.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        problems.append("the readiness probe is not GET /readyz")
    if "WORKERS" not in settings:
        problems.append("WORKERS is not set explicitly")
    grace = float(settings.get("SHUTDOWN_GRACE_SECONDS", "20"))
    pre_stop = _seconds_of_pre_stop(api)
    if pre_stop <= 0:
        problems.append("the API container has no preStop pause")
    termination = float(pod.get("terminationGracePeriodSeconds", 30))
    if termination <= grace + pre_stop:
        problems.append(
            f"terminationGracePeriodSeconds {termination:g} is not longer than "
            f"SHUTDOWN_GRACE_SECONDS {grace:g} + preStop {pre_stop:g}"
        )
    return problems


def main(argv: list[str]) -> int:
    overlays = [Path(arg) for arg in argv] or sorted((K8S_DIR / "overlays").iterdir())
    failed = False
    for overlay in overlays:
        resources = render(overlay)
        problems = schema_problems(resources) + policy_problems(resources)
        kinds = ", ".join(f"{r['kind']}/{r['metadata']['name']}" for r in resources)
        if problems:
            failed = True
            print(f"FAIL {overlay}:\n  " + "\n  ".join(problems))
        else:
            versions = " and ".join(KUBERNETES_VERSIONS)
            print(f"ok   {overlay}: {len(resources)} manifests valid for Kubernetes {versions}")
            print(f"     {kinds}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
