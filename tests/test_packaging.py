"""The package installs with its data and under one name: a wheel (a non-editable install)
carries every bundled target, the published micro-benchmarks and the recorded
measurements, all under `attnsim/`, and puts no other top-level package on sys.path."""

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
    assert targets and {f"attnsim/hwconfigs/targets/{t}" for t in targets} <= names
    assert "attnsim/sim/calibration/published_microbenchmarks.yaml" in names
    assert {
        f"attnsim/kernels/measurements/{p.name}"
        for p in (ROOT / "kernels" / "measurements").glob("*.csv")
    } <= names
    assert "attnsim/__init__.py" in names and "attnsim/py.typed" in names
    for folder in ("sim", "hwconfigs", "workloads", "kernels", "reports", "rtl_models"):
        assert f"attnsim/{folder}/__init__.py" in names and f"attnsim/{folder}/py.typed" in names
        # every subpackage of the folder is in the wheel too (found, not listed)
        for init in (ROOT / folder).rglob("__init__.py"):
            assert f"attnsim/{init.relative_to(ROOT).as_posix()}" in names
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"attnsim"}, f"the wheel installs more than attnsim: {top_level}"


def test_the_installed_namespace_is_attnsim_only():
    """In a fresh interpreter outside the repository, the folders import as attnsim.*,
    and the bare names (which belong to other PyPI packages) are not ours."""
    code = (
        "import importlib.util, attnsim.sim, attnsim.kernels, attnsim.reports, "
        "attnsim.workloads, attnsim.hwconfigs, attnsim.rtl_models\n"
        "for bare in ('sim', 'kernels', 'reports', 'workloads', 'hwconfigs', 'rtl_models'):\n"
        "    spec = importlib.util.find_spec(bare)\n"
        "    assert spec is None or 'attnsim' not in str(spec.origin), bare\n"
        "print(attnsim.sim.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "attnsim.sim"
