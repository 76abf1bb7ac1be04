"""Both processes start far enough to explain themselves."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import CRDS


@pytest.mark.parametrize(
    ("module", "says"), [("vas_operator", "--namespace"), ("vas_api", "--port")]
)
def test_help_runs(module: str, says: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True
    )
    assert says in out.stdout


def test_crdgen_check_passes_on_the_committed_crds() -> None:
    subprocess.run(
        [sys.executable, "-m", "vas_operator.crdgen", "--check", "--output-dir", str(CRDS)],
        check=True,
    )
