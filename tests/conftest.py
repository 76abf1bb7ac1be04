"""Session fixtures: a real kube-apiserver (with etcd, controller-manager, scheduler and kwok)
started on loopback for the whole test session and stopped by PID at the end."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support import Cluster, install_crds, start_cluster, stop_cluster


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Cluster]:
    live = start_cluster(tmp_path_factory.mktemp("control-plane"))
    try:
        version = json.loads(live.kubectl("get", "--raw", "/version").stdout)
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(
                    f"\nlive kube-apiserver {version['gitVersion']} at {live.server} "
                    f"(binaries: {live.bin})"
                )
        yield live
    finally:
        stop_cluster(live)


@pytest.fixture(scope="session")
def crds_installed(cluster: Cluster) -> Cluster:
    install_crds(cluster)
    return cluster
