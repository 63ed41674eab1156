"""The Kubernetes manifests (``deploy/kubernetes``, with the ``docker``
answer): valid for every Kubernetes version the template supports, offline
(kubernetes-validate ships the schemas), and consistent with the service:
the shutdown timing, the probes, the ports, what runs as whom, and which
objects each combination needs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .generated import SERVING_QUESTIONS
from .matrix import Combination
from .projects import ProjectFactory, matrix_params

pytestmark = pytest.mark.slow

# The oldest and newest Kubernetes releases supported (the preStop `sleep`
# action needs 1.30 or newer).
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
WITH_DOCKER = matrix_params(lambda c: c.docker, vary=SERVING_QUESTIONS)
# Manifest sets already validated on this worker, by content.
VALIDATED: set[str] = set()


def manifests(folder: Path) -> dict[str, dict[str, Any]]:
    """Every manifest in *folder* but the kustomization, by file name."""
    return {
        path.name: yaml.safe_load(path.read_text())
        for path in sorted(folder.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def validate(resources: dict[str, dict[str, Any]]) -> None:
    """Validate each resource, strictly, against every supported version."""
    key = hashlib.sha256(yaml.safe_dump(resources).encode()).hexdigest()
    if key in VALIDATED:
        return
    for version in KUBERNETES_VERSIONS:
        for name, resource in resources.items():
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name} is not valid for Kubernetes {version}: {error}")
    VALIDATED.add(key)


def scales_out(combination: Combination) -> bool:
    """Whether replicas share the load: the messages live outside the pods,
    and Redis carries them to every replica's realtime clients."""
    redis_store = combination.database == "none" and combination.needs_redis
    shared_store = combination.database_server or redis_store
    return shared_store and (combination.needs_redis or not combination.realtime)


@pytest.mark.parametrize("combination", WITH_DOCKER)
def test_kubernetes_manifests_are_valid_and_consistent(
    combination: Combination, projects: ProjectFactory
) -> None:
    project = projects.rendering(combination)
    folder = project.path / "deploy" / "kubernetes"
    resources = manifests(folder)
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(resources)
    validate(resources)

    kinds = {resource["kind"]: resource for resource in resources.values()}
    assert "Secret" not in kinds, "secret values must never be in the files"
    assert ("HorizontalPodAutoscaler" in kinds) == scales_out(combination)
    assert ("Job" in kinds) == combination.database_server
    assert ("PersistentVolumeClaim" in kinds) == (combination.database == "sqlite")

    config = kinds["ConfigMap"]["data"]
    readme = (project.path / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, re.MULTILINE))
    assert set(config) <= documented, set(config) - documented

    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    name = kinds["ConfigMap"]["metadata"]["name"]
    assert {"configMapRef": {"name": name}} in container["envFrom"]
    assert {"secretRef": {"name": f"{name}-secrets"}} in container["envFrom"]
    # Shutdown: preStop, then GRACEFUL_TIMEOUT, then at most 1 s to exit,
    # all before Kubernetes kills the container.
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = float(config["GRACEFUL_TIMEOUT"])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + grace + 1 + 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    # The image's user (Dockerfile: USER 10001), nothing writable but volumes.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert "/app/instance" in mounts

    ports = {(port["name"], port["containerPort"], port.get("protocol", "TCP"))
             for port in container["ports"]}  # fmt: skip
    assert ("http", int(config["PORT"]), "TCP") in ports
    assert ("metrics", int(config["METRICS_PORT"]), "TCP") in ports
    assert (("http3", int(config["TLS_PORT"]), "UDP") in ports) == (
        combination.http == "h3"
    )
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == config["METRICS_PORT"]
    service_ports = {port["targetPort"] for port in kinds["Service"]["spec"]["ports"]}
    assert "metrics" not in service_ports, "the metrics port stays private"
    assert service_ports <= {name for name, _, _ in ports}

    if combination.database_server:
        job = kinds["Job"]["spec"]["template"]["spec"]["containers"][0]
        assert job["command"] == ["alembic", "upgrade", "head"]
        assert job["envFrom"] == container["envFrom"]


def test_the_validator_refuses_a_broken_manifest() -> None:
    """The check above can fail: a misspelt field is refused."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replica": 1,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "x"}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)
