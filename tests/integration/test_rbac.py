"""The operator and the facade run under the ServiceAccounts and ClusterRoles of
manifests/deploy/, not as cluster admin: if a rule is missing, something here breaks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.facade_process import FacadeProcess, viewer_token
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import operator_for
from tests.support import (
    REPO,
    Cluster,
    credentials_secret,
    kubeconfig_for,
    poll,
    pool_settings,
    refusals,
)

pytestmark = pytest.mark.cluster
NS = "rbac-tests"
PASSWORD = f"pw-{secrets.token_hex(6)}"


@pytest.fixture(scope="module")
def deployed(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    work = tmp_path_factory.mktemp("rbac")
    kube.kubectl("apply", "-k", str(REPO / "manifests" / "deploy"))
    kube.kubectl("create", "namespace", NS)
    kube.kubectl("create", "serviceaccount", "guard", "-n", NS)
    kube.kubectl(
        "create",
        "rolebinding",
        "guard-watch",
        "--clusterrole=vas-camera-viewer",
        f"--serviceaccount={NS}:guard",
        "-n",
        NS,
    )
    token = {
        sa: kube.kubectl("create", "token", sa, "-n", ns, "--duration=2h").stdout.strip()
        for sa, ns in (("vas-operator", "vas-system"), ("vas-facade", "vas-system"))
    }
    token["guard"] = viewer_token(kube, "guard", NS)  # a viewer: the facade's audience
    with (
        RtspCamera(mounts=[], secure_mounts=[("/secure", "admin", PASSWORD)]) as camera,
        JanusGateway() as janus,
        RedisServer() as redis,
    ):
        operator = operator_for(
            kube,
            janus,
            NS,
            work / "operator.log",
            gateway_namespace="vas-system",  # where manifests/deploy lets it see pods
            mountpoint_key=secrets.token_hex(8),
            redis_url=redis.url,
            health_interval_seconds="2",
        )
        operator.env_extra["KUBECONFIG"] = str(
            kubeconfig_for(kube, token["vas-operator"], work / "operator.kubeconfig")
        )
        operator.start()
        facade = FacadeProcess(
            kube,
            work / "facade.log",
            redis.url,
            *pool_settings("vas-system", NS).values(),
            janus_api_secret=janus.api_secret,
        )
        facade.extra_env = {
            "KUBECONFIG": str(kubeconfig_for(kube, token["vas-facade"], work / "facade.kubeconfig"))
        }
        try:
            yield {
                "kube": kube,
                "camera": camera,
                "operator": operator,
                "facade": facade,
                "guard": token["guard"],
            }
        finally:
            facade.stop()
            operator.stop()


def test_operator_reconciles_with_its_own_role(deployed: dict[str, Any]) -> None:
    kube, camera, operator = deployed["kube"], deployed["camera"], deployed["operator"]
    kube.apply(credentials_secret(NS, "gate-creds", "admin", "wrong"))
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": "gate", "namespace": NS, "labels": {"site": "north"}},
            "spec": {
                "source": {
                    "url": camera.url("/secure"),
                    "credentialsSecretRef": {"name": "gate-creds"},
                }
            },
        }
    )
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "CameraGroup",
            "metadata": {"name": "north", "namespace": NS},
            "spec": {"selector": {"matchLabels": {"site": "north"}}},
        }
    )

    def cam() -> dict[str, Any]:
        return kube.get_json("-n", NS, "cam", "gate")

    def reason(c: dict[str, Any]) -> str | None:
        ready = [x for x in c.get("status", {}).get("conditions", []) if x["type"] == "Ready"]
        return ready[0]["reason"] if ready else None

    poll(cam, lambda c: reason(c) == "Unauthorized", 60, "camera gate")
    kube.apply(credentials_secret(NS, "gate-creds", "admin", PASSWORD))  # watch + annotate
    poll(cam, lambda c: reason(c) == "Mounted", 60, "camera gate")
    poll(
        lambda: kube.get_json("-n", NS, "camgrp", "north").get("status", {}),
        lambda s: s.get("readyMembers") == 1,
        30,
        "group north",
    )
    events = kube.kubectl("get", "-n", NS, "events").stdout
    assert "Mounted" in events
    assert "AllReady" in events
    log = operator.log()
    assert refusals(log) == []
    assert PASSWORD not in log


def test_facade_serves_with_its_own_role(deployed: dict[str, Any]) -> None:
    kube, facade, guard = deployed["kube"], deployed["facade"], deployed["guard"]
    facade.start()
    listing = poll(
        lambda: facade.get("/api/v1/cameras", guard).json(),
        lambda body: body.get("total") == 1,
        30,
        "facade listing",
    )
    assert listing["items"][0]["name"] == "gate"
    detail = facade.get(f"/api/v1/namespaces/{NS}/cameras/gate", guard)
    assert detail.status_code == 200
    assert facade.get(f"/api/v1/namespaces/{NS}/cameras/gate", "bogus").status_code == 401
    assert "Forbidden" not in facade.log()
    del kube
