"""How the operator runs, apart from what it reconciles: where Kopf keeps its record, what is
given back after a burst, one store per watched namespace."""

from __future__ import annotations

import asyncio
import gc
import json

import kopf

from vas_core.memory import LIBC, rss_bytes, trim
from vas_core.watch import StoreGroup, WatchedStore, is_literal
from vas_operator.kopf_settings import KOPF_PREFIX, Seal, SealedDiffBase, SealedProgress

SPEC = {"source": {"url": "rtsp://192.0.2.1/s"}}


def body(
    status: dict[str, object] | None = None,
    annotations: dict[str, str] | None = None,
    uid: str = "u-1",
    generation: int = 1,
):
    raw = {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {
            "name": "c",
            "namespace": "n",
            "uid": uid,
            "generation": generation,
            "annotations": annotations or {},
        },
        "spec": SPEC,
        "status": status or {},
    }
    return kopf.Body(raw)  # type: ignore[arg-type]


def stored(storage: SealedDiffBase, essence: dict[str, object]) -> dict[str, object]:
    """What ``storage`` writes to status for ``essence``, as the API server would keep it."""
    patch = kopf.Patch()
    storage.store(body=body(), patch=patch, essence=essence)  # type: ignore[arg-type]
    return dict(patch["status"])


def test_kopf_record_is_read_from_status_then_from_an_earlier_releases_annotation() -> None:
    storage = SealedDiffBase(Seal(b"key"))
    mine = {"spec": SPEC}
    older = {"spec": {"source": {"url": "rtsp://192.0.2.9/old"}}}
    in_status = stored(storage, mine)
    legacy = {f"{KOPF_PREFIX}/last-handled-configuration": json.dumps(older)}
    assert storage.fetch(body=body(in_status, legacy)) == mine  # status wins
    assert storage.fetch(body=body(None, legacy)) == older  # an upgrade: still found
    assert storage.fetch(body=body()) is None  # really new
    # the same record after a restart (a new Seal with the same key) still reads
    assert SealedDiffBase(Seal(b"key")).fetch(body=body(in_status)) == mine


def test_a_forged_or_copied_kopf_record_reads_as_none() -> None:
    """Tenants may write status: what they put there only ever makes Kopf handle the camera."""
    storage = SealedDiffBase(Seal(b"key"))
    forged = {"kopf": {"last-handled-configuration": json.dumps({"spec": SPEC})}}
    assert storage.fetch(body=body(forged)) is None
    wrong = {"kopf": {**forged["kopf"], "configurationSeal": "0" * 64}}
    assert storage.fetch(body=body(wrong)) is None
    sealed = stored(storage, {"spec": SPEC})
    assert storage.fetch(body=body(sealed, uid="u-2")) is None  # copied onto another camera
    assert SealedDiffBase(Seal(b"other")).fetch(body=body(sealed)) is None
    edited = {"kopf": {**sealed["kopf"], "last-handled-configuration": '{"spec":{}}'}}  # type: ignore[dict-item]
    assert storage.fetch(body=body(edited)) is None


def test_kopf_progress_is_sealed_per_change_and_per_process() -> None:
    seal = Seal(b"key")
    storage = SealedProgress(seal)
    record = {"started": "2026-12-03T07:00:00.000000", "retries": 2, "delayed": "x"}
    patch = kopf.Patch()
    written = {**record, "stopped": None, "message": None}  # Kopf writes Nones ...
    storage.store(key="camera", record=written, body=body(), patch=patch)  # type: ignore[arg-type]
    status = json.loads(json.dumps(dict(patch["status"])))
    for field in ("stopped", "message"):  # ... which the API server drops
        del status["kopf"]["progress"]["camera"][field]
    assert storage.fetch(key="camera", body=body(status)) == record
    assert storage.fetch(key="other", body=body(status)) is None  # another handler's record
    assert storage.fetch(key="camera", body=body(status, generation=2)) is None  # a new spec
    rechecked = {"vas.io/recheck": "again"}
    assert storage.fetch(key="camera", body=body(status, rechecked)) is None  # a re-check
    assert SealedProgress(Seal(b"key")).fetch(key="camera", body=body(status)) is None  # restart
    forged = {"kopf": {"progress": {"camera": {**record, "success": True}}}}
    assert storage.fetch(key="camera", body=body(forged)) is None
    tampered = {
        "kopf": {
            "progress": {"camera": {**status["kopf"]["progress"]["camera"], "delayed": "2099"}}
        }
    }  # type: ignore[index]
    assert storage.fetch(key="camera", body=body(tampered)) is None


def test_kopf_record_leaves_out_its_own_and_the_earlier_storage() -> None:
    """What Kopf compares: the spec and our own annotations (a re-check stamp is a change),
    never status, nor the annotations earlier releases kept Kopf's state in."""
    legacy = {
        f"{KOPF_PREFIX}/last-handled-configuration": "{}",
        f"{KOPF_PREFIX}/kopf-managed": "yes",
        "vas.io/recheck": "now",
    }
    essence = SealedDiffBase(Seal(b"key")).build(body=body({"phase": "Ready"}, legacy))
    assert essence["spec"] == SPEC  # type: ignore[typeddict-item]
    assert essence["metadata"]["annotations"] == {"vas.io/recheck": "now"}  # type: ignore[typeddict-item]
    assert "status" not in essence


def test_trim_gives_the_heap_back_after_a_burst() -> None:
    """Half a gigabyte of medium blocks with a few survivors between them: freed, glibc keeps
    the pages; trimmed, they go back. A trim also freezes what survived."""
    if LIBC is None:
        return  # not glibc: nothing to give back this way
    trim()
    base = rss_bytes()
    blocks = [bytearray(1024) for _ in range(500_000)]
    keep = blocks[::1000]
    del blocks
    gc.collect()
    held = rss_bytes() - base
    assert held > 200 * 2**20, held  # the pages stayed with the process
    trim()
    assert rss_bytes() - base < held / 4
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    del keep


async def test_a_store_group_reads_as_one_store() -> None:
    a: WatchedStore[str] = WatchedStore(None, "/a", str, what="x")  # type: ignore[arg-type]
    b: WatchedStore[str] = WatchedStore(None, "/b", str, what="x")  # type: ignore[arg-type]
    group = StoreGroup([a, b], "cameras")
    heard: list[tuple[str, object]] = []
    group.listeners.append(lambda kind, key, old, new: heard.append((kind, key)))
    a._replace({("n1", "c"): "1"})
    a.synced.set()
    assert not group.synced.is_set()
    b._replace({("n2", "c"): "2"})
    b.synced.set()
    await asyncio.wait_for(group.synced.wait(), 1)
    assert dict(group.items) == {("n1", "c"): "1", ("n2", "c"): "2"}
    b._apply("ADDED", ("n2", "d"), "3")  # a listener of the group hears every store
    assert heard == [("ADDED", ("n2", "d"))]


def test_only_names_get_a_watch_of_their_own() -> None:
    assert is_literal("site-a")
    assert not is_literal("site-*")
    assert not is_literal("site-[ab]")
