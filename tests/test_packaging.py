"""The package installs with its data: a wheel (a non-editable install) carries every
bundled target, the published micro-benchmarks and the recorded measurements."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_carries_the_data_files(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("attnsim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    targets = {p.name for p in (ROOT / "hwconfigs" / "targets").glob("*.yaml")}
    assert targets and {f"hwconfigs/targets/{t}" for t in targets} <= names
    assert "sim/calibration/published_microbenchmarks.yaml" in names
    assert {
        f"kernels/measurements/{p.name}" for p in (ROOT / "kernels" / "measurements").glob("*.csv")
    } <= names
    for package in ("attnsim", "sim", "hwconfigs", "workloads", "kernels", "reports", "rtl_models"):
        assert f"{package}/__init__.py" in names and f"{package}/py.typed" in names
