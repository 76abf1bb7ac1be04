"""The images `make images` builds (hack/build-images.sh), run for real with podman and runc the
way the chart runs them: as their non-root user, with a read-only root filesystem and only the
writable mounts the chart gives them, all capabilities dropped. The first run on a machine
builds them (minutes); later runs reuse them while their inputs are unchanged."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import REPO, free_port, poll

# A fresh machine makes the Debian base and builds three images once.
pytestmark = pytest.mark.timeout(3600)

PODMAN = REPO / "hack" / "images" / "podman.sh"
IMAGES = {
    "vas": "localhost/vas:dev",
    "gateway": "localhost/vas-gateway:dev",
    "redis": "localhost/vas-redis:dev",
}
# The uid each runs as in the chart (podSecurityContext.runAsUser; Redis: 999).
CHART_UID = {"vas": 65534, "gateway": 65534, "redis": 999}
BUILD_TOOLS = ("gcc", "cc", "c++", "g++", "cpp", "clang", "make", "ld", "as")
# What the chart's securityContext asks for (readOnlyRootFilesystem, drop ALL, no escalation);
# podman's own tmpfs on /tmp, /run and /var/tmp are off: only the chart's mounts are writable.
RESTRICTED = (
    "--read-only",
    "--read-only-tmpfs=false",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
)


@pytest.fixture(scope="module")
def images_dir() -> Path:
    proc = subprocess.run(
        [str(REPO / "hack" / "build-images.sh")],
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(PODMAN), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr[-3000:]}"
    return proc


@contextmanager
def container(image: str, *run_args: str, command: tuple[str, ...] = ()) -> Iterator[str]:
    """A detached container, removed by its ID afterwards."""
    cid = podman("run", "-d", *RESTRICTED, *run_args, image, *command).stdout.strip()
    try:
        yield cid
    finally:
        podman("rm", "-f", "-t", "2", cid, check=False)


def logs(cid: str) -> str:
    out = podman("logs", cid, check=False)
    return (out.stdout + out.stderr)[-4000:]


def chart_container(component: str, **values: Any) -> dict[str, Any]:
    """The chart's container spec for a component, rendered by helm template."""
    helm = subprocess.run(
        [str(REPO / "hack" / "build-helm.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    sets = [f"--set={k}={v}" for k, v in values.items()]
    out = subprocess.run(
        [helm, "template", "vas", str(REPO / "charts" / "vas"), *sets],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for doc in yaml.safe_load_all(out):
        if doc and doc["kind"] in ("Deployment", "StatefulSet"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            if labels.get("app.kubernetes.io/component") == component:
                spec: dict[str, Any] = doc["spec"]["template"]["spec"]
                return {"pod": spec, **spec["containers"][0]}
    raise AssertionError(f"no {component} workload in the chart")


def empty_dirs(spec: dict[str, Any], where: Path) -> list[str]:
    """podman --volume options for the container's emptyDir mounts: host directories of mode
    0777, as the kubelet makes them. Nothing else is writable."""
    volumes = {v["name"]: v for v in spec["pod"].get("volumes", [])}
    out = []
    for mount in spec.get("volumeMounts", []):
        if "emptyDir" in volumes.get(mount["name"], {}):
            host = where / mount["name"]
            host.mkdir(parents=True)
            host.chmod(0o777)
            out.append(f"--volume={host}:{mount['mountPath']}:rw")
    return out


def test_archives_are_docker_archives_named_after_the_images(images_dir: Path) -> None:
    for name, ref in IMAGES.items():
        tar = images_dir / f"{name}.tar"
        assert tar.is_file(), tar
        assert (images_dir / f"{name}.tar.inputs").read_text().strip()
        with tarfile.open(tar) as archive:
            member = archive.extractfile("manifest.json")
            assert member is not None
            manifest = json.load(member)
        assert manifest[0]["RepoTags"] == [ref]


@pytest.mark.skipif(
    not (shutil.which("containerd") and shutil.which("ctr")), reason="needs containerd and ctr"
)
def test_containerd_imports_the_archives_under_their_names(images_dir: Path) -> None:
    """What the node does with them: `ctr -n k8s.io images import` (a private containerd here,
    with its own root, state and socket)."""
    state = Path(tempfile.mkdtemp(prefix="vas-ctr-", dir="/tmp"))  # short: socket path limit
    sock = state / "ctr.sock"
    (state / "config.toml").write_text(
        "version = 2\n"
        f'root = "{state}/root"\nstate = "{state}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n'
        f'[ttrpc]\n  address = "{sock}.ttrpc"\n'
    )
    log = (state / "containerd.log").open("wb")
    proc = subprocess.Popen(
        ["containerd", "--config", str(state / "config.toml")], stdout=log, stderr=log
    )
    try:
        ctr = ["ctr", "-a", str(sock), "-n", "k8s.io"]
        poll(sock.exists, bool, 30, "containerd socket")
        for name in IMAGES:
            subprocess.run(
                [*ctr, "images", "import", str(images_dir / f"{name}.tar")],
                check=True,
                capture_output=True,
                timeout=600,
            )
        listed = subprocess.run(
            [*ctr, "images", "ls", "-q"], check=True, capture_output=True, text=True
        ).stdout.split()
        assert sorted(listed) == sorted(IMAGES.values())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(state, ignore_errors=True)


def test_a_second_build_reuses_everything(images_dir: Path) -> None:
    before = {n: (images_dir / f"{n}.tar").stat().st_mtime_ns for n in IMAGES}
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / "hack" / "build-images.sh")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "building" not in proc.stderr, proc.stderr
    assert {n: (images_dir / f"{n}.tar").stat().st_mtime_ns for n in IMAGES} == before
    assert time.monotonic() - started < 120


@pytest.mark.parametrize("name", list(IMAGES))
def test_non_root_and_no_build_tools(images_dir: Path, name: str) -> None:
    ref = IMAGES[name]
    user = podman("image", "inspect", "--format", "{{.Config.User}}", ref).stdout.strip()
    uid = user.partition(":")[0]
    assert uid.isdigit(), user  # numeric, so runAsNonRoot can check it
    assert int(uid) == CHART_UID[name], user
    script = f"id -u; for t in {' '.join(BUILD_TOOLS)}; do command -v $t; done; exit 0"
    out = podman("run", "--rm", *RESTRICTED, "--entrypoint", "sh", ref, "-c", script).stdout
    lines = out.split()
    assert lines[0] == uid != "0"
    assert lines[1:] == [], f"build tools in {ref}: {lines[1:]}"


def test_vas_image_runs_operator_and_facade_help(images_dir: Path, tmp_path: Path) -> None:
    for component, module in (("operator", "vas_operator"), ("facade", "vas_api")):
        mounts = empty_dirs(chart_container(component), tmp_path / component)
        out = podman(
            "run", "--rm", *RESTRICTED, *mounts, IMAGES["vas"], "python", "-m", module, "--help"
        )
        assert f"python -m {module}" in out.stdout, out.stdout


def test_facade_serves_healthz_and_the_viewer_scripts(images_dir: Path, tmp_path: Path) -> None:
    spec = chart_container("facade")
    # It needs a kubeconfig to start; its watches retry in the background meanwhile.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "unused"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    kubeconfig.chmod(0o644)
    port = free_port()
    with container(
        IMAGES["vas"],
        f"--publish=127.0.0.1:{port}:8000",
        f"--volume={kubeconfig}:/etc/vas/kubeconfig:ro",
        "--env=KUBECONFIG=/etc/vas/kubeconfig",
        *empty_dirs(spec, tmp_path),
        command=tuple(spec["command"]),
    ) as cid:
        base = f"http://127.0.0.1:{port}"

        def get(path: str) -> int:
            try:
                return httpx.get(base + path, timeout=2).status_code
            except httpx.HTTPError:
                return 0

        try:
            poll(lambda: get("/healthz"), lambda code: code == 200, 60, "facade /healthz")
            for script in ("janus", "adapter"):
                assert get(f"/vendor/{script}.js") == 200, script
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs(cid)}") from exc


def test_gateway_renders_its_config_and_janus_answers(images_dir: Path, tmp_path: Path) -> None:
    spec = chart_container("gateway")
    config_dir = next(m["mountPath"] for m in spec["volumeMounts"] if m["name"] == "config")
    port = free_port()
    env = {
        "JANUS_ADMIN_SECRET": "admin-secret",
        "JANUS_STREAMING_ADMIN_KEY": "streaming-key",
        "JANUS_RTP_PORT_RANGE": "20000-20099",
        "JANUS_STREAMING_RTP_PORT_RANGE": "30000-30099",
    }
    with container(
        IMAGES["gateway"],
        f"--publish=127.0.0.1:{port}:8088",
        *empty_dirs(spec, tmp_path),
        *(f"--env={k}={v}" for k, v in env.items()),
    ) as cid:

        def info() -> dict[str, Any]:
            try:
                body: dict[str, Any] = httpx.get(
                    f"http://127.0.0.1:{port}/janus/info", timeout=2
                ).json()
            except (httpx.HTTPError, ValueError):
                return {}
            return body

        try:
            body = poll(info, lambda b: b.get("janus") == "server_info", 60, "Janus /janus/info")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs(cid)}") from exc
        assert body["version_string"].startswith("1.1"), body["version_string"]
        assert "janus.plugin.streaming" in body["plugins"]
        # the config it runs is the one render.py wrote into the emptyDir
        listing = podman("exec", cid, "ls", config_dir).stdout.split()
        assert "janus.jcfg" in listing


def test_redis_answers_ping_with_the_password_only(images_dir: Path, tmp_path: Path) -> None:
    import redis

    spec = chart_container("redis", **{"redis.image": IMAGES["redis"]})
    assert "command" not in spec  # the chart gives args only: the image's entrypoint runs
    password = secrets.token_hex(16)
    args = [a.replace("$(REDIS_PASSWORD)", password) for a in spec["args"]]
    port = free_port()
    with container(
        IMAGES["redis"],
        f"--publish=127.0.0.1:{port}:6379",
        *empty_dirs(spec, tmp_path),
        command=tuple(args),
    ) as cid:
        good = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2)
        bad = redis.Redis(host="127.0.0.1", port=port, password=password + "x", socket_timeout=2)

        def ping() -> bool:
            try:
                return bool(good.ping())
            except redis.exceptions.ConnectionError:
                return False

        try:
            poll(ping, bool, 30, "redis PING")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs(cid)}") from exc
        with pytest.raises(redis.exceptions.AuthenticationError):
            bad.ping()
        with pytest.raises(redis.exceptions.ResponseError):
            good.execute_command("CONFIG", "GET", "dir")  # renamed away by the chart
        good.close()
        bad.close()
