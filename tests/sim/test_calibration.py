"""The GPU targets' sustained-rate constants are exactly what `attnsim fit-constants`
produces from the published micro-benchmarks: nobody tuned them by hand, and a model
change that moves the fit shows up here (re-run the command and update the YAML)."""

from __future__ import annotations

import pytest
from attnsim.hwconfigs import load_hardware
from attnsim.sim.calibration import fit_target, published_measurements
from attnsim.sim.calibration.fit import FRACTION_TOL

from attnsim.cli.main import main

TARGETS = sorted({e["target"] for e in published_measurements()})


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_yaml_constants_are_the_fitted_ones(target):
    hw = load_hardware(target)
    for constant in fit_target(hw):
        assert hw.calibration[constant.name] == pytest.approx(
            constant.value, abs=2 * FRACTION_TOL
        ), f"{target}: re-run `attnsim fit-constants {target}` and update its calibration section"
        assert hw.sources[f"calibration.{constant.name}"].startswith(
            "fitted by `attnsim fit-constants"
        )


def test_published_entries_name_their_source():
    for entry in published_measurements():
        assert entry["source"] and entry["kind"] in {"gemm", "stream", "mma_sync", "sgemm"}
        assert entry["value"] > 0


def test_fit_constants_cli(capsys):
    assert main(["fit-constants", "rtx-4090"]) == 0
    out = capsys.readouterr().out
    assert "tensor_sustained_fraction" in out and "memory_sustained_fraction" in out


def test_fit_constants_without_measurements_exits_2(capsys):
    assert main(["fit-constants", "vitallm-16nm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no micro-benchmark measurements" in err[0]
