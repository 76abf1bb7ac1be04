"""The Helm chart: lints, renders what manifests/ and crds/ say, installs and upgrades into the
live cluster (kwok runs its pods), and keeps its generated secrets across upgrades."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import CRDS, REPO, Cluster, poll

pytestmark = pytest.mark.cluster
CHART = REPO / "charts" / "vas"
NS = "helm-tests"


@pytest.fixture(scope="module")
def helm() -> Path:
    out = subprocess.run(
        [str(REPO / "hack" / "build-helm.sh")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def run(helm: Path, kube: Cluster, *args: str) -> str:
    proc = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, env=kube.env(), timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_chart_lints_strictly(helm: Path, cluster: Cluster) -> None:
    assert "0 chart(s) failed" in run(helm, cluster, "lint", "--strict", str(CHART))


def test_chart_copies_match_their_sources() -> None:
    for crd in CRDS.glob("*.yaml"):
        assert (CHART / "files" / "crds" / crd.name).read_text() == crd.read_text(), (
            f"{crd.name}: run `make crds`"
        )
    for name in ("operator", "facade"):
        manifest = REPO / "manifests" / "deploy" / f"rbac-{name}.yaml"
        role = next(
            d for d in yaml.safe_load_all(manifest.read_text()) if d["kind"] == "ClusterRole"
        )
        chart_rules = yaml.safe_load((CHART / "files" / f"rbac-{name}.yaml").read_text())
        assert chart_rules == role["rules"], f"{name} rules differ between chart and manifests"


def rendered(helm: Path, kube: Cluster, *sets: str) -> list[dict[str, Any]]:
    text = run(helm, kube, "template", "vas", str(CHART), "-n", NS, *sets)
    return [d for d in yaml.safe_load_all(text) if d]


def test_rendered_chart_is_accepted_by_the_api_server(helm: Path, crds_installed: Cluster) -> None:
    docs = rendered(helm, crds_installed, "--set", "serviceMonitor.enabled=false")
    kinds = {d["kind"] for d in docs}
    assert {
        "CustomResourceDefinition",
        "Deployment",
        "StatefulSet",
        "ClusterRole",
        "Secret",
        "Service",
        "ServiceAccount",
        "NetworkPolicy",
    } <= kinds
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert all(d["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for d in crds)
    text = yaml.safe_dump_all(docs)
    crds_installed.kubectl("create", "namespace", NS)
    out = crds_installed.kubectl("apply", "--dry-run=server", "-n", NS, "-f", "-", stdin=text)
    assert "(server dry run)" in out.stdout


def test_install_and_upgrade(helm: Path, crds_installed: Cluster) -> None:
    kube = crds_installed
    args = ["--set", "crds.enabled=false", "-n", NS, "--wait", "--timeout", "120s"]
    run(helm, kube, "install", "helmtest", str(CHART), *args)
    operator = kube.get_json("-n", NS, "deploy", "helmtest-vas-operator")
    assert operator["spec"]["strategy"]["type"] == "Recreate"
    assert operator["spec"]["replicas"] == 1
    pods = poll(
        lambda: kube.get_json("-n", NS, "pods", "-l", "app.kubernetes.io/component=gateway")[
            "items"
        ],
        lambda items: len(items) == 1 and items[0]["status"].get("phase") == "Running",
        60,
        "gateway pod",
    )
    assert pods[0]["metadata"]["name"] == "helmtest-vas-gateway-0"
    secret = kube.get_json("-n", NS, "secret", "helmtest-vas-secrets")["data"]
    assert set(secret) == {
        "janus-admin-secret",
        "janus-streaming-admin-key",
        "janus-api-secret",
        "mountpoint-key",
    }
    redis = kube.get_json("-n", NS, "secret", "helmtest-vas-redis")["data"]
    password = base64.b64decode(redis["password"]).decode()
    assert len(password) == 32
    assert password.isalnum(), "the Redis password must fit in a URL"
    policies = kube.get_json("-n", NS, "networkpolicies")["items"]
    assert {p["metadata"]["name"] for p in policies} == {
        f"helmtest-vas-{name}"
        for name in ("default-deny", "gateway", "operator", "facade", "redis")
    }
    run(helm, kube, "upgrade", "helmtest", str(CHART), *args, "--set", "facade.replicas=2")
    assert kube.get_json("-n", NS, "deploy", "helmtest-vas-facade")["spec"]["replicas"] == 2
    # Regenerated secrets would orphan every mountpoint and break the gateways' admin API; a
    # new Redis password would lock out the operator and the facade that started with the old.
    assert kube.get_json("-n", NS, "secret", "helmtest-vas-secrets")["data"] == secret
    assert kube.get_json("-n", NS, "secret", "helmtest-vas-redis")["data"] == redis
    run(helm, kube, "uninstall", "helmtest", "-n", NS, "--wait")


def test_values_schema_is_current_and_refuses_typos(helm: Path, cluster: Cluster) -> None:
    import sys

    check = subprocess.run([sys.executable, str(REPO / "hack" / "values_schema.py"), "--check"])
    assert check.returncode == 0, "charts/vas/values.schema.json is stale: run `make chart`"
    typo = subprocess.run(
        [str(helm), "template", "t", str(CHART), "--set", "facade.authh=none"],
        capture_output=True,
        text=True,
    )
    assert typo.returncode != 0
    assert "additional properties 'authh' not allowed" in typo.stderr
