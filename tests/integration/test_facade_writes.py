"""Writes as the viewer (issue 12, items 4-6) against the real API server, a real operator
(which turns the cameras a viewer disables Disabled) and the real facade process, which runs
as the vas-facade ServiceAccount of manifests/deploy plus the opt-in impersonation of
rbac-facade-writes.yaml: it may impersonate, but may not patch or create cameras itself, so
every write that succeeds was authorised as the viewer."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.facade_process import VIEWER_VERBS, FacadeProcess, role_binding, viewer_token
from tests.media.fixtures import JanusGateway, RedisServer
from tests.operator_process import operator_for
from tests.support import REPO, Cluster, kubeconfig_for, poll, pool_settings

pytestmark = pytest.mark.cluster
NS = "writes-a"
API = "vas.io/v1alpha1"


def camera(name: str, labels: dict[str, str], url: str = "rtsp://192.0.2.7/s") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Camera",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "source": {"url": url, "credentialsSecretRef": {"name": "creds"}},
            "description": f"camera {name}",
        },
    }


def editor_role(sa: str) -> list[dict[str, Any]]:
    """May watch, patch and create cameras and groups in NS."""
    return role_binding(NS, NS, sa, role="vas-editor", verbs=(*VIEWER_VERBS, "patch", "create"))


@pytest.fixture(scope="module")
def world(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    work = tmp_path_factory.mktemp("writes")
    kube.kubectl("apply", "-k", str(REPO / "manifests" / "deploy"))
    kube.kubectl("apply", "-f", str(REPO / "manifests" / "deploy" / "rbac-facade-writes.yaml"))
    kube.kubectl("create", "namespace", NS)
    for sa in ("editor", "viewer"):
        kube.kubectl("create", "serviceaccount", sa, "-n", NS)
    docs = role_binding(NS, NS, "viewer") + editor_role("editor")
    kube.apply({"apiVersion": "v1", "kind": "List", "items": docs})
    tokens = {sa: viewer_token(kube, sa, NS) for sa in ("editor", "viewer")}
    sa_token = kube.kubectl(
        "create", "token", "vas-facade", "-n", "vas-system", "--duration=2h"
    ).stdout.strip()
    facade_kubeconfig = kubeconfig_for(kube, sa_token, work / "facade.kubeconfig")
    with RedisServer() as redis, JanusGateway() as janus:
        operator = operator_for(
            kube, janus, NS, work / "operator.log", mountpoint_key="k", probe_timeout_seconds="2"
        )
        operator.start()
        facades = []
        try:
            for name, extra in (("facade", {}), ("off", {"VAS_API_WRITES_ENABLED": "false"})):
                facades.append(
                    FacadeProcess(
                        kube,
                        work / f"{name}.log",
                        redis.url,
                        *pool_settings("vas-system", NS).values(),
                        extra_env={"KUBECONFIG": str(facade_kubeconfig), **extra},
                    ).start()
                )
            yield {"kube": kube, "facade": facades[0], "off": facades[1], "tokens": tokens}
        finally:
            for f in facades:
                f.stop()
            operator.stop()


def post(
    facade: FacadeProcess, path: str, token: str, body: Any = None, **kwargs: Any
) -> httpx.Response:
    return httpx.post(
        f"{facade.url}{path}",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=60,
        **kwargs,
    )


def listed(facade: FacadeProcess, token: str, selector: str, count: int) -> None:
    poll(
        lambda: facade.get(
            "/api/v1/cameras", token, namespace=NS, labelSelector=selector, limit=500
        ).json(),
        lambda body: body.get("total") == count,
        30,
        f"{count} cameras matching {selector} in the facade's cache",
    )


def versions(kube: Cluster, selector: str) -> dict[str, tuple[int, Any]]:
    """Each camera's generation (the operator's status writes leave it alone) and enabled."""
    items = kube.get_json("-n", NS, "cameras", "-l", selector)["items"]
    return {
        c["metadata"]["name"]: (c["metadata"]["generation"], c["spec"].get("enabled"))
        for c in items
    }


def test_the_facade_may_impersonate_but_not_write_cameras(world: dict[str, Any]) -> None:
    kube = world["kube"]
    facade_sa = "system:serviceaccount:vas-system:vas-facade"
    for verb in ("patch", "create", "update", "delete"):
        can = kube.kubectl(
            "auth", "can-i", verb, "cameras.vas.io", "-n", NS, "--as", facade_sa, check=False
        )
        assert can.stdout.strip() == "no", verb
    can = kube.kubectl("auth", "can-i", "impersonate", "users", "--as", facade_sa, check=False)
    assert can.stdout.strip() == "yes"
    facade, tokens = world["facade"], world["tokens"]
    mine = facade.get(f"/api/v1/namespaces/{NS}/permissions", tokens["editor"]).json()
    assert mine == {
        "namespace": NS,
        "list": True,
        "patch": True,
        "create": True,
        "writes": True,
        "reason": None,
    }
    theirs = facade.get(f"/api/v1/namespaces/{NS}/permissions", tokens["viewer"]).json()
    assert (theirs["list"], theirs["patch"], theirs["writes"]) == (True, False, True)


def test_bulk_disable_by_label_selector_is_decided_by_the_users_rbac(
    world: dict[str, Any],
) -> None:
    kube, facade, tokens = world["kube"], world["facade"], world["tokens"]
    cams = [camera(f"dock-{i}", {"zone": "dock"}) for i in range(3)]
    cams.append(camera("hall-0", {"zone": "hall"}))
    kube.apply({"apiVersion": "v1", "kind": "List", "items": cams})
    listed(facade, tokens["viewer"], "zone in (dock,hall)", 4)
    before = versions(kube, "zone in (dock,hall)")
    path = f"/api/v1/namespaces/{NS}/cameras:bulk"

    refused = post(
        facade, path, tokens["viewer"], {"action": "disable", "labelSelector": "zone=dock"}
    )
    assert refused.status_code == 403, refused.text
    assert "cannot patch resource" in refused.json()["error"]["message"]  # the API server's
    assert versions(kube, "zone in (dock,hall)") == before

    done = post(facade, path, tokens["editor"], {"action": "disable", "labelSelector": "zone=dock"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["succeeded"], body["failed"]) == (3, 0)
    assert sorted(i["name"] for i in body["items"]) == ["dock-0", "dock-1", "dock-2"]
    after = versions(kube, "zone in (dock,hall)")
    assert {n: e for n, (_, e) in after.items()} == {
        "dock-0": False,
        "dock-1": False,
        "dock-2": False,
        "hall-0": True,
    }
    assert after["hall-0"] == before["hall-0"]
    poll(
        lambda: {c["metadata"]["name"]: c.get("status", {}).get("phase") for c in
                 kube.get_json("-n", NS, "cameras", "-l", "zone=dock")["items"]},
        lambda phases: set(phases.values()) == {"Disabled"},
        60,
        "the disabled cameras Disabled by the operator",
    )  # fmt: skip

    one = post(facade, f"/api/v1/namespaces/{NS}/cameras/dock-1:enable", tokens["editor"])
    assert one.json()["result"] == "enabled"
    assert kube.get_json("-n", NS, "camera", "dock-1")["spec"]["enabled"] is True
    missing = post(facade, f"/api/v1/namespaces/{NS}/cameras/nope:enable", tokens["editor"])
    assert missing.status_code == 404
    capped = post(facade, path, tokens["editor"], {"action": "disable", "names": ["a"] * 6000})
    assert capped.status_code == 422


def test_recheck_sets_the_annotation_as_the_user(world: dict[str, Any]) -> None:
    kube, facade, tokens = world["kube"], world["facade"], world["tokens"]
    kube.apply(camera("porch", {"zone": "porch"}))
    path = f"/api/v1/namespaces/{NS}/cameras/porch:recheck"
    assert post(facade, path, tokens["viewer"]).status_code == 403
    assert "vas.io/recheck" not in (
        kube.get_json("-n", NS, "camera", "porch")["metadata"].get("annotations") or {}
    )
    answer = post(facade, path, tokens["editor"])
    assert answer.status_code == 200, answer.text
    stamp = kube.get_json("-n", NS, "camera", "porch")["metadata"]["annotations"]["vas.io/recheck"]
    assert stamp.startswith("20")


def test_export_of_a_group_recreates_it_with_kubectl_apply(world: dict[str, Any]) -> None:
    kube, facade, tokens = world["kube"], world["facade"], world["tokens"]
    cams = [camera(f"yard-{i}", {"wall": "yard"}, f"rtsp://192.0.2.{i + 20}/y") for i in range(3)]
    cams[0]["metadata"]["annotations"] = {"owner": "facilities"}
    cams[1]["spec"]["enabled"] = False
    group = {
        "apiVersion": API,
        "kind": "CameraGroup",
        "metadata": {"name": "yard", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"wall": "yard"}},
            "description": "Yard",
            "layout": {"columns": 3},
        },
    }
    kube.apply({"apiVersion": "v1", "kind": "List", "items": [*cams, group]})
    # The operator (or a person) stamps things an export must not carry.
    kube.kubectl(
        "annotate", "-n", NS, "camera", "yard-2", "vas.io/recheck=x", "operator.vas.io/last=y"
    )
    listed(facade, tokens["viewer"], "wall=yard", 3)

    def specs() -> dict[str, Any]:
        out = {}
        for kind in ("cameras", "cameragroups"):
            for o in kube.get_json("-n", NS, kind)["items"]:
                if o["metadata"]["name"].startswith("yard"):
                    meta = o["metadata"]
                    out[f"{kind}/{meta['name']}"] = (
                        o["spec"],
                        meta.get("labels"),
                        {k: v for k, v in (meta.get("annotations") or {}).items() if k == "owner"},
                    )
        return out

    before = specs()
    exported = facade.get(f"/api/v1/namespaces/{NS}/export", tokens["viewer"], group="yard")
    assert exported.status_code == 200, exported.text
    text = exported.text
    for server_field in (
        "status",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "generation",
        "vas.io/recheck",
        "operator.vas.io",
        "last-applied",
    ):
        assert server_field not in text, server_field
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == ["CameraGroup", "Camera", "Camera", "Camera"]
    assert "kind: Secret" not in text
    assert "name: creds" in text

    kube.kubectl(
        "delete",
        "-n",
        NS,
        "cameragroup/yard",
        "camera/yard-0",
        "camera/yard-1",
        "camera/yard-2",
        "--wait=true",
    )
    assert specs() == {}
    kube.kubectl("apply", "-f", "-", stdin=text)
    assert specs() == before


def test_import_with_one_invalid_object_applies_nothing(world: dict[str, Any]) -> None:
    kube, facade, tokens = world["kube"], world["facade"], world["tokens"]
    good = [camera(f"gate-{i}", {"zone": "gate"}) for i in range(2)]
    bad = camera("gate-bad", {"zone": "gate"})
    bad["spec"]["source"] = {"url": "ftp://192.0.2.9/x"}  # the CRD allows rtsp(s) only
    text = yaml.safe_dump_all([good[0], bad, good[1]])
    path = f"/api/v1/namespaces/{NS}/import"
    headers = {"Authorization": f"Bearer {tokens['editor']}", "Content-Type": "application/yaml"}

    def send(body: str, dry: str, token_headers: dict[str, str] = headers) -> httpx.Response:
        return httpx.post(
            f"{facade.url}{path}",
            params={"dryRun": dry},
            content=body,
            headers=token_headers,
            timeout=60,
        )

    dry = send(text, "true")
    assert dry.status_code == 200, dry.text
    results = dry.json()["results"]
    assert [r["code"] for r in results] == [200, 422, 200]
    assert [r["result"] for r in results] == ["created", "error", "created"]
    assert 'Camera.vas.io "gate-bad" is invalid' in results[1]["message"]
    assert "spec.source.url" in results[1]["message"]
    real = send(text, "false")
    assert real.status_code == 422
    assert real.json()["applied"] is False
    assert real.json()["results"][1]["message"] == results[1]["message"]
    assert kube.get_json("-n", NS, "cameras", "-l", "zone=gate")["items"] == []

    refused = send(
        yaml.safe_dump_all(good),
        "false",
        {**headers, "Authorization": f"Bearer {tokens['viewer']}"},
    )
    assert refused.status_code == 422
    assert {r["code"] for r in refused.json()["results"]} == {403}
    secret = send("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n", "true")
    assert secret.json()["results"][0]["code"] == 400
    assert "never Secrets" in secret.json()["results"][0]["message"]

    applied = send(yaml.safe_dump_all(good), "false")
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    names = [
        c["metadata"]["name"]
        for c in kube.get_json("-n", NS, "cameras", "-l", "zone=gate")["items"]
    ]
    assert sorted(names) == ["gate-0", "gate-1"]


def test_import_body_is_bounded(world: dict[str, Any]) -> None:
    facade, tokens = world["facade"], world["tokens"]
    # 200 cameras as people write them (labels, a location, a sentence of description).
    cams = [
        camera(f"bulk-{i:03d}", {"zone": "bulk", "site": "plant-north", "floor": str(i % 5)})
        for i in range(200)
    ]
    for c in cams:
        c["spec"]["location"] = "Building 4, north loading dock, pole 12"
        c["spec"]["description"] = "Fixed dome covering the dock doors and the truck apron"
    text = yaml.safe_dump_all(cams)
    assert 64 * 1024 < len(text) < 1024 * 1024  # over the default body cap, under the import's
    headers = {"Authorization": f"Bearer {tokens['editor']}"}
    dry = httpx.post(
        f"{facade.url}/api/v1/namespaces/{NS}/import",
        params={"dryRun": "true"},
        content=text,
        headers=headers,
        timeout=120,
    )
    assert dry.status_code == 200, dry.text[:500]
    assert {r["code"] for r in dry.json()["results"]} == {200}
    huge = httpx.post(
        f"{facade.url}/api/v1/namespaces/{NS}/import",
        content="#" * (1024 * 1024 + 1),
        headers=headers,
        timeout=60,
    )
    assert huge.status_code == 413
    other = post(
        facade, f"/api/v1/namespaces/{NS}/cameras:bulk", tokens["editor"], content="x" * (65 * 1024)
    )
    assert other.status_code == 413


def test_writes_off_answer_501_and_export_still_works(world: dict[str, Any]) -> None:
    off, tokens = world["off"], world["tokens"]
    perms = off.get(f"/api/v1/namespaces/{NS}/permissions", tokens["editor"]).json()
    assert perms["writes"] is False
    assert "VAS_API_WRITES_ENABLED" in perms["reason"]
    answer = post(
        off,
        f"/api/v1/namespaces/{NS}/cameras:bulk",
        tokens["editor"],
        {"action": "disable", "names": ["porch"]},
    )
    assert answer.status_code == 501
    assert "turned off" in answer.json()["error"]["message"]
    assert off.get(f"/api/v1/namespaces/{NS}/export", tokens["viewer"]).status_code == 200


def test_manage_controls_follow_the_users_permission(world: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    facade, tokens = world["facade"], world["tokens"]
    states = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for who in ("viewer", "editor"):
                page = browser.new_page(bypass_csp=True)
                page.add_init_script(f"sessionStorage.setItem('vas-token', {tokens[who]!r})")
                page.goto(f"{facade.url}/")
                page.wait_for_function("window.vasManage && window.vasManage.ready", timeout=30000)
                page.click("#manage-open")
                page.wait_for_function("window.vasManage.ready", timeout=30000)
                page.fill("#m-selector", "zone=dock")
                page.wait_for_timeout(300)
                states[who] = page.evaluate("""() => ({
                    canPatch: document.getElementById('manage-open').dataset.canPatch,
                    disable: document.getElementById('m-disable').disabled,
                    recheck: document.getElementById('m-recheck').disabled,
                    exportDisabled: document.getElementById('m-export').disabled})""")
                page.close()
        finally:
            browser.close()
    assert states["viewer"] == {
        "canPatch": "false",
        "disable": True,
        "recheck": True,
        "exportDisabled": False,
    }
    assert states["editor"] == {
        "canPatch": "true",
        "disable": False,
        "recheck": False,
        "exportDisabled": False,
    }
