"""The ternary column in Verilog against the Python model, cycle by cycle (Icarus Verilog
and Verilator, each skipped with a reason when not installed), and its yosys synthesis."""

from __future__ import annotations

import shutil

import pytest
from attnsim.rtl_models import RtlModelError
from attnsim.rtl_models.ternary_mac import pipeline_depth
from attnsim.rtl_models.verilog import cosim, synth
from attnsim.rtl_models.verilog.cosim import (
    available_simulators,
    column_stimulus,
    model_trace,
    verilog_trace,
)
from attnsim.rtl_models.verilog.synth import synthesize_column

needs_iverilog = pytest.mark.skipif(
    "iverilog" not in available_simulators(),
    reason="Icarus Verilog (iverilog, vvp) is not installed; apt-get install iverilog",
)
needs_verilator = pytest.mark.skipif(
    "verilator" not in available_simulators(),
    reason="Verilator is not installed; apt-get install verilator",
)
needs_yosys = pytest.mark.skipif(
    shutil.which("yosys") is None, reason="yosys is not installed; apt-get install yosys"
)


def test_the_stimulus_exercises_the_column():
    stim = column_stimulus(8, 300, 5)
    trace = model_trace(8, stim)
    assert len(trace) == len(stim)
    valid = [acc for v, acc in trace if v]
    assert len(valid) > 150 and len(set(valid)) > 50  # many distinct results
    assert any(s.first for s in stim) and any(not s.valid for s in stim)


@needs_iverilog
@pytest.mark.parametrize("rows", [1, 2, 3, 8, 32])
def test_icarus_matches_the_model_cycle_by_cycle(rows):
    stim = column_stimulus(rows, 400, 100 + rows)
    expected = model_trace(rows, stim)
    got = verilog_trace(rows, stim, "iverilog")
    assert got == expected
    # the comparison is sharp: a model one stage shorter or longer does not match
    assert got[1:] != expected[:-1] and got[:-1] != expected[1:]
    # first valid output appears pipeline_depth - 1 edges after the first valid input
    first_in = next(i for i, s in enumerate(stim) if s.valid)
    first_out = next(i for i, (v, _) in enumerate(got) if v)
    assert first_out - first_in == pipeline_depth(rows) - 1


@pytest.mark.slow
@needs_verilator
def test_verilator_matches_the_model_cycle_by_cycle():
    stim = column_stimulus(8, 300, 7)
    assert verilog_trace(8, stim, "verilator") == model_trace(8, stim)


@needs_yosys
def test_yosys_synthesis_counts_cells():
    r = synthesize_column(8)
    assert r.total_cells == sum(r.cells.values()) > 0
    levels = 3
    rtl_register_bits = (2 * 8 - 1) * (8 + 1 + levels) + 2 * (levels + 1) + 32 + 1
    assert 32 < r.flip_flops <= rtl_register_bits
    assert r.logic_transistors > 0 and r.yosys_version.startswith("Yosys")
    assert synthesize_column(16).total_cells > r.total_cells  # more lanes, more logic


def test_missing_tools_and_unknown_simulator(monkeypatch):
    with pytest.raises(
        RtlModelError, match=r"unknown simulator 'modelsim'; expected one of iverilog, verilator"
    ):
        verilog_trace(2, [], "modelsim")
    monkeypatch.setattr(cosim.shutil, "which", lambda name: None)
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    with pytest.raises(
        RtlModelError, match=r"iverilog is not installed; expected iverilog and vvp on PATH"
    ):
        verilog_trace(2, [], "iverilog")
    with pytest.raises(RtlModelError, match=r"verilog.synth: yosys is not installed"):
        synthesize_column(8)
