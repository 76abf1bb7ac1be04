"""The Helm chart: lints, renders what manifests/ and crds/ say, installs and upgrades into the
live cluster (kwok runs its pods), and keeps its generated secrets across upgrades."""

from __future__ import annotations

import base64
import math
import os
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
    gateways = "app.kubernetes.io/instance=helmtest,app.kubernetes.io/component=gateway"

    def gateway_pods(count: int) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = poll(
            lambda: kube.get_json("-n", NS, "pods", "-l", gateways)["items"],
            lambda items: (
                sorted(p["metadata"]["name"] for p in items)
                == [f"helmtest-vas-gateway-{i}" for i in range(count)]
                and all(p["status"].get("phase") == "Running" for p in items)
            ),
            60,
            f"{count} gateway pods",
        )
        return pods

    # Autoscaling (the default): the StatefulSet starts at one pod and the operator owns its
    # replicas from then on.
    gateway_pods(1)
    statefulset = "statefulset/helmtest-vas-gateway"
    assert kube.get_json("-n", NS, statefulset)["spec"]["replicas"] == 1
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
    # The operator's ServiceAccount may scale the gateway StatefulSet, and only that one, in
    # the release namespace only; the API server's RBAC decides, as it will for the operator.
    operator_sa = f"system:serviceaccount:{NS}:helmtest-vas-operator"

    def may(who: str, *check: str) -> bool:
        out = kube.kubectl("auth", "can-i", f"--as={who}", *check, check=False).stdout.strip()
        return out == "yes"

    scale = ("patch", "statefulsets/helmtest-vas-gateway", "--subresource=scale")
    assert may(operator_sa, *scale, "-n", NS)
    assert not may(operator_sa, "patch", "statefulsets/other", "--subresource=scale", "-n", NS)
    assert not may(operator_sa, *scale, "-n", "default")
    assert not may(operator_sa, "patch", "statefulsets/helmtest-vas-gateway", "-n", NS)
    assert may(operator_sa, "patch", "pods", "-n", NS)
    assert not may(operator_sa, "patch", "pods", "-n", "default")
    facade_sa = f"system:serviceaccount:{NS}:helmtest-vas-facade"
    assert may(facade_sa, "watch", "pods", "-n", NS)
    assert not may(facade_sa, "watch", "pods", "-n", "default")
    assert not may(facade_sa, "patch", "pods", "-n", NS)
    # Scaled as the operator scales it, through the scale subresource under its own identity:
    # an upgrade must leave that alone.
    kube.kubectl("scale", statefulset, "--replicas=2", "-n", NS, f"--as={operator_sa}")
    gateway_pods(2)
    run(helm, kube, "upgrade", "helmtest", str(CHART), *args, "--set", "facade.replicas=2")
    assert kube.get_json("-n", NS, "deploy", "helmtest-vas-facade")["spec"]["replicas"] == 2
    assert kube.get_json("-n", NS, statefulset)["spec"]["replicas"] == 2
    gateway_pods(2)
    # Regenerated secrets would orphan every mountpoint and break the gateways' admin API; a
    # new Redis password would lock out the operator and the facade that started with the old.
    assert kube.get_json("-n", NS, "secret", "helmtest-vas-secrets")["data"] == secret
    assert kube.get_json("-n", NS, "secret", "helmtest-vas-redis")["data"] == redis
    # Autoscaling off: gateway.replicas is what the StatefulSet gets, and the operator loses
    # the right to scale it.
    fixed = ("--set", "gateway.autoscaling.enabled=false", "--set", "gateway.replicas=3")
    run(helm, kube, "upgrade", "helmtest", str(CHART), *args, *fixed)
    assert kube.get_json("-n", NS, statefulset)["spec"]["replicas"] == 3
    gateway_pods(3)
    assert not may(operator_sa, *scale, "-n", NS)
    assert may(operator_sa, "patch", "pods", "-n", NS)
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


def env_of(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    workload = next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def labels_of(selector: str) -> dict[str, str]:
    """An equality-based label selector string (what VAS_GATEWAY_SELECTOR holds) as labels."""
    return dict(term.split("=", 1) for term in selector.split(","))


def test_the_gateway_pool_is_found_through_the_api_server(
    helm: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vas_api.settings import ApiSettings
    from vas_operator.settings import OperatorSettings

    docs = rendered(helm, cluster)
    gateway = next(d for d in docs if d["kind"] == "StatefulSet")
    # Autoscaling (the default): no replicas in the manifest, so `helm upgrade` never resets
    # what the operator set through the scale subresource.
    assert "replicas" not in gateway["spec"]
    operator = env_of(docs, "Deployment", "vas-operator")
    facade = env_of(docs, "Deployment", "vas-facade")
    # No static gateway address anywhere: the pool is the pods this selector matches, exactly
    # the StatefulSet's pods (this release's, not another release's in the same namespace).
    selector = operator["VAS_GATEWAY_SELECTOR"]
    assert labels_of(selector) == gateway["spec"]["selector"]["matchLabels"]
    assert labels_of(selector)["app.kubernetes.io/instance"] == "vas"
    assert labels_of(selector)["app.kubernetes.io/component"] == "gateway"
    assert facade["VAS_API_GATEWAY_SELECTOR"] == selector
    assert operator["VAS_GATEWAY_NAMESPACE"] == facade["VAS_API_GATEWAY_NAMESPACE"] == NS
    for gone in ("VAS_GATEWAY_NAME", "VAS_GATEWAY_ADMIN_URL"):
        assert gone not in operator
    assert "VAS_API_GATEWAYS" not in facade
    ports = gateway["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert {p["name"]: p["containerPort"] for p in ports} == {"http": 8088, "admin": 7088}
    defaults = {
        "VAS_GATEWAY_STATEFULSET": "vas-gateway",
        "VAS_GATEWAY_MIN_REPLICAS": "1",
        "VAS_GATEWAY_MAX_REPLICAS": "4",
        "VAS_GATEWAY_TARGET_UTILISATION": "0.8",
        "VAS_SCALE_DOWN_DELAY_SECONDS": "60",
        "VAS_GATEWAY_MAX_MOUNTPOINTS": "100",
        "VAS_GATEWAY_MAX_VIEWERS": "300",
    }
    assert {name: operator.get(name) for name in defaults} == defaults
    # What the operator and the facade read at startup from that environment.
    for name, value in {**operator, **facade, "VAS_JANUS_ADMIN_SECRET": "x"}.items():
        monkeypatch.setenv(name, value)
    for name in ("VAS_JANUS_STREAMING_ADMIN_KEY", "VAS_MOUNTPOINT_KEY"):
        monkeypatch.setenv(name, "x")
    settings = OperatorSettings()
    assert (settings.gateway_namespace, settings.gateway_selector) == (NS, selector)
    assert settings.gateway_statefulset == "vas-gateway"
    assert (settings.gateway_min_replicas, settings.gateway_max_replicas) == (1, 4)
    assert settings.gateway_target_utilisation == 0.8
    assert settings.scale_down_delay_seconds == 60
    assert (settings.gateway_max_mountpoints, settings.gateway_max_viewers) == (100, 300)
    api = ApiSettings()
    assert (api.gateway_namespace, api.gateway_selector) == (NS, selector)

    # Values as a platform team sets them; --set hands the utilisation over as a string.
    docs = rendered(
        helm,
        cluster,
        *("--set", "gateway.autoscaling.minReplicas=2"),
        *("--set", "gateway.autoscaling.maxReplicas=6"),
        *("--set", "gateway.autoscaling.targetUtilisation=0.7"),
        *("--set", "gateway.autoscaling.scaleDownDelaySeconds=300"),
        *("--set", "gateway.capacity.mountpoints=40"),
        *("--set", "gateway.capacity.viewers=900"),
    )
    operator = env_of(docs, "Deployment", "vas-operator")
    assert {k: v for k, v in operator.items() if k.startswith(("VAS_GATEWAY_M", "VAS_SC"))} == {
        "VAS_GATEWAY_MIN_REPLICAS": "2",
        "VAS_GATEWAY_MAX_REPLICAS": "6",
        "VAS_SCALE_DOWN_DELAY_SECONDS": "300",
        "VAS_GATEWAY_MAX_MOUNTPOINTS": "40",
        "VAS_GATEWAY_MAX_VIEWERS": "900",
    }
    assert operator["VAS_GATEWAY_TARGET_UTILISATION"] == "0.7"


def test_without_autoscaling_gateway_replicas_is_honoured(helm: Path, cluster: Cluster) -> None:
    docs = rendered(
        helm, cluster, "--set", "gateway.autoscaling.enabled=false", "--set", "gateway.replicas=3"
    )
    gateway = next(d for d in docs if d["kind"] == "StatefulSet")
    assert gateway["spec"]["replicas"] == 3
    # The operator places cameras on the pods there are and may not scale them.
    assert env_of(docs, "Deployment", "vas-operator")["VAS_GATEWAY_STATEFULSET"] == ""
    role = next(d for d in docs if d["metadata"]["name"] == "vas-operator-gateways")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]}
    ]


def test_bad_autoscaling_values_are_refused(helm: Path) -> None:
    def template(*sets: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(helm), "template", "t", str(CHART), *sets], capture_output=True, text=True
        )

    upside_down = template(
        *("--set", "gateway.autoscaling.minReplicas=5"),
        *("--set", "gateway.autoscaling.maxReplicas=2"),
    )
    assert upside_down.returncode != 0
    assert "minReplicas (5) is above gateway.autoscaling.maxReplicas (2)" in upside_down.stderr
    for bad in ("0", "1.5", "eighty"):
        refused = template("--set", f"gateway.autoscaling.targetUtilisation={bad}")
        assert refused.returncode != 0, bad
        assert "targetUtilisation" in refused.stderr, bad
    assert template("--set", "gateway.replicas=0").returncode != 0
    assert template("--set", "gateway.capacity.mountpoints=0").returncode != 0
    assert template("--set", "gateway.eventLoops=-1").returncode != 0


def test_the_gateway_runs_janus_with_one_event_loop_per_core(
    helm: Path, cluster: Cluster, tmp_path: Path
) -> None:
    """Janus handles share one event loop per core the gateway container may use (measured
    30-50 % less CPU per viewer than Janus's default thread per handle): the chart's 0 is
    counted by the image's entrypoint and written into janus.jcfg by the image's render.py."""
    from tests.media.fixtures import render

    env = env_of(rendered(helm, cluster), "StatefulSet", "vas-gateway")
    assert env["JANUS_EVENT_LOOPS"] == "0"
    assert (
        env_of(
            rendered(helm, cluster, "--set", "gateway.eventLoops=3"), "StatefulSet", "vas-gateway"
        )["JANUS_EVENT_LOOPS"]
        == "3"
    )
    # The image's real entrypoint, with python3 and janus stubbed to say what they were given.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in ("python3", "janus"):
        (stubs / tool).write_text('#!/bin/sh\necho "$JANUS_EVENT_LOOPS"\n')
        (stubs / tool).chmod(0o755)

    def entrypoint_loops(**value: str) -> str:
        out = subprocess.run(
            ["sh", str(REPO / "janus-image" / "entrypoint.sh")],
            env={"PATH": f"{stubs}:/usr/bin:/bin", **value},
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    cores = len(os.sched_getaffinity(0))
    cpu_max = Path("/sys/fs/cgroup/cpu.max")  # a CPU limit on this test's cgroup, if any
    quota, _, period = cpu_max.read_text().partition(" ") if cpu_max.exists() else ("max", "", "")
    if quota != "max":
        cores = min(cores, math.ceil(int(quota) / int(period)))
    assert entrypoint_loops(JANUS_EVENT_LOOPS="0") == str(max(cores, 1))
    assert entrypoint_loops() == str(max(cores, 1))
    assert entrypoint_loops(JANUS_EVENT_LOOPS="3") == "3"
    keys = dict.fromkeys(("JANUS_ADMIN_SECRET", "JANUS_STREAMING_ADMIN_KEY"), "x")
    config = render(tmp_path / "conf", env | keys | {"JANUS_EVENT_LOOPS": "3"}).read_text()
    assert "\tevent_loops = 3\n" in config


def test_gateway_roles_match_the_manifests(helm: Path, cluster: Cluster) -> None:
    """The chart grants the gateway pool what manifests/deploy grants (under which the tests run
    the operator and the facade), narrowed to the chart's own StatefulSet by name."""
    docs = rendered(helm, cluster)
    for name in ("operator", "facade"):
        manifest = REPO / "manifests" / "deploy" / f"rbac-{name}.yaml"
        role = next(d for d in yaml.safe_load_all(manifest.read_text()) if d["kind"] == "Role")
        chart = next(d for d in docs if d["metadata"]["name"] == f"vas-{name}-gateways")
        names = [rule.pop("resourceNames", None) for rule in chart["rules"]]
        assert chart["rules"] == role["rules"], f"{name}: gateway Roles differ"
        scale = [r.get("resources") == ["statefulsets/scale"] for r in chart["rules"]]
        assert names == [["vas-gateway"] if s else None for s in scale]
