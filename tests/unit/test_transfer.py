"""Export cleaning and import parsing (api/vas_api/transfer.py), and the impersonation
headers (api/vas_api/writes.py): pure parts, no server."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from vas_api import transfer
from vas_api.auth import DEV_VIEWER, Viewer
from vas_api.summaries import summarize_camera
from vas_api.writes import NotImplementedYet, impersonation

FULL: dict[str, Any] = {
    "apiVersion": "vas.io/v1alpha1",
    "kind": "Camera",
    "metadata": {
        "name": "lobby",
        "namespace": "site",
        "uid": "1234",
        "resourceVersion": "99",
        "generation": 3,
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
        "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
        "labels": {"site": "hq"},
        "annotations": {
            "note": "kept",
            "vas.io/recheck": "2024-01-01T00:00:00Z",
            "vas.io/credentials-revision": "7",
            "operator.vas.io/last-handled": "{}",
            "kopf.zalando.org/last-handled-configuration": "{}",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
    },
    "spec": {
        "source": {"url": "rtsp://192.0.2.1/s", "credentialsSecretRef": {"name": "cam-creds"}},
        "enabled": False,
    },
    "status": {"phase": "Ready"},
}


def test_export_keeps_what_a_person_wrote_and_nothing_the_server_set() -> None:
    out = transfer.clean(FULL)
    assert out == {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {
            "name": "lobby",
            "namespace": "site",
            "labels": {"site": "hq"},
            "annotations": {"note": "kept"},
        },
        "spec": FULL["spec"],  # the Secret only by name
    }
    from_cache = transfer.camera_object(summarize_camera(FULL))
    assert from_cache["metadata"] == transfer.clean(FULL)["metadata"]
    assert from_cache["spec"] == FULL["spec"]
    assert "status" not in from_cache
    text = transfer.dump([from_cache])
    assert list(yaml.safe_load_all(text)) == [from_cache]


def test_group_export_is_its_spec() -> None:
    summary = {
        "namespace": "site",
        "name": "wall",
        "description": "Lobby wall",
        "selector": {"matchLabels": {"site": "hq"}},
        "layout": {"columns": 3},
        "members": 4,
    }
    assert transfer.group_object(summary) == {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "CameraGroup",
        "metadata": {"name": "wall", "namespace": "site"},
        "spec": {
            "selector": {"matchLabels": {"site": "hq"}},
            "description": "Lobby wall",
            "layout": {"columns": 3},
        },
    }


def test_import_takes_cameras_and_groups_into_the_url_namespace_cleaned() -> None:
    text = yaml.safe_dump_all(
        [FULL, {**transfer.group_object({"namespace": "site", "name": "w", "selector": {}})}]
    )
    docs = transfer.parse("---\n" + text + "\n---\n", "site", 10)
    assert [d.errors for d in docs] == [[], []]
    assert docs[0].obj == transfer.clean(FULL)
    assert docs[1].plural == "cameragroups"
    unnamed = transfer.parse("kind: Camera\napiVersion: vas.io/v1alpha1\nspec: {}\n", "x", 10)
    assert unnamed[0].obj is None
    assert "metadata.name" in unnamed[0].errors[0]
    elsewhere = transfer.parse(yaml.safe_dump(FULL), "other", 10)
    assert "metadata.namespace must be other" in elsewhere[0].errors[0]
    no_ns = transfer.parse(yaml.safe_dump({**FULL, "metadata": {"name": "a"}}), "x", 10)
    assert no_ns[0].obj is not None
    assert no_ns[0].obj["metadata"]["namespace"] == "x"


@pytest.mark.parametrize(
    "doc",
    [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {}},
        {"apiVersion": "vas.io/v1", "kind": "Camera", "metadata": {"name": "a"}, "spec": {}},
        {"apiVersion": "vas.io/v1alpha1", "kind": "DiscoveryScan", "metadata": {"name": "a"}},
        ["a", "list"],
        "text",
    ],
)
def test_import_refuses_other_kinds_per_document(doc: Any) -> None:
    (parsed,) = transfer.parse(yaml.safe_dump(doc), "x", 10)
    assert parsed.obj is None
    assert parsed.errors


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: &x [1]\nb: *x\n", "anchors and aliases"),
        ("[" * 40 + "]" * 40, "nested deeper"),
        ("---\na: 1\n" * 11, "more than 10 documents"),
        ("a: [1, 2\n", "not valid YAML"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
        ("", "no documents"),
    ],
)
def test_import_refuses_hostile_bodies_as_a_whole(text: str, why: str) -> None:
    with pytest.raises(transfer.Refused, match=why):
        transfer.parse(text, "x", 10)


def test_billion_laughs_is_refused_before_it_is_built() -> None:
    lol = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        lol += f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    with pytest.raises(transfer.Refused, match="aliases"):
        transfer.parse(lol, "x", 10)


def test_impersonation_headers_carry_the_token_review_user_info() -> None:
    viewer = Viewer(
        username="system:serviceaccount:ns:viewer",
        uid="u-1",
        groups=("system:serviceaccounts", "system:authenticated"),
        extra=(
            ("authentication.kubernetes.io/credential-id", ("JTI=abc",)),
            ("Scopes", ("a", "b")),
        ),
    )
    assert impersonation(viewer) == [
        ("Impersonate-User", b"system:serviceaccount:ns:viewer"),
        ("Impersonate-Uid", b"u-1"),
        ("Impersonate-Group", b"system:serviceaccounts"),
        ("Impersonate-Group", b"system:authenticated"),
        ("Impersonate-Extra-authentication.kubernetes.io%2Fcredential-id", b"JTI=abc"),
        ("Impersonate-Extra-scopes", b"a"),
        ("Impersonate-Extra-scopes", b"b"),
    ]
    with pytest.raises(NotImplementedYet):
        impersonation(DEV_VIEWER)
    with pytest.raises(Exception, match="control characters"):
        impersonation(Viewer(username="a\r\nImpersonate-Group: system:masters"))
