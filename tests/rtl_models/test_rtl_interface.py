"""The one interface: four registered unit models, cached tile costs, UnitCost
arithmetic and energy, the import rule, and the error messages."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from attnsim.rtl_models import (
    UNIT_MODELS,
    RtlModelError,
    TileShape,
    UnitCost,
    UnitModel,
)
from hypothesis import given, settings
from hypothesis import strategies as st

TILES = [TileShape(1, 128, 1024), TileShape(64, 3200, 3200), TileShape(3, 7, 5)]


def test_the_four_units_are_registered_and_follow_the_protocol():
    assert sorted(UNIT_MODELS) == ["booth_array", "lop_pruner", "softmax_unit", "ternary_mac_array"]
    for name in UNIT_MODELS:
        model = UNIT_MODELS.lookup(name)
        assert isinstance(model, UnitModel) and model.name == name and model.modes
        params = model.default_params()
        for mode in model.modes:
            for tile in TILES:
                cost = model.tile_cost(params, tile, mode)
                assert cost is model.tile_cost(params, tile, mode)  # cached
                assert cost.cycles >= 0
                assert all(k[0] in ("matmul", "vector", "exp") for k in cost.ops)
                assert all(e.split(".")[0] in ("tint", "booth", "nlu", "lop") for e in cost.events)


def test_unknown_unit_suggests_the_closest():
    with pytest.raises(
        RtlModelError, match=r"unknown unit model 'booth_aray' \(did you mean 'booth_array'\?\)"
    ):
        UNIT_MODELS.lookup("booth_aray")


def test_energy_scaled_serial_and_to_dict():
    c = UnitCost(10, {("matmul", "int8"): 4}, {"a.x": 3, "a.y": 0}, {"act_in": 8})
    assert c.energy_j({"a.x": 2e-12, "other": 1.0}) == pytest.approx(
        6e-12
    )  # zero counts need no entry
    twice = c.scaled(2)
    assert (twice.cycles, twice.events["a.x"], twice.port_bytes["act_in"]) == (20, 6, 16)
    both = UnitCost.serial([c, UnitCost(5, {}, {"b.z": 1}, {"out": 4})])
    assert both.cycles == 15 and both.events == {"a.x": 3, "a.y": 0, "b.z": 1}
    assert both.port_bytes == {"act_in": 8, "out": 4}
    assert c.to_dict()["ops"] == {"matmul/int8": 4.0}
    assert c.total_ops() == 4 and c.total_bytes() == 8
    with pytest.raises(TypeError):
        c.events["a.x"] = 1  # read-only


def test_error_messages():
    c = UnitCost(1, {}, {"tint.add": 2, "tint.acc": 1})
    with pytest.raises(
        RtlModelError,
        match=r"per_event_j: no energy for event\(s\) tint.acc, tint.add; expected joules",
    ):
        c.energy_j({})
    with pytest.raises(RtlModelError, match=r"per_event_j: negative or NaN energy for tint.add"):
        c.energy_j({"tint.add": -1.0, "tint.acc": 0.0})
    with pytest.raises(RtlModelError, match=r"cost.cycles: got -1; expected an integer >= 0"):
        UnitCost(-1)
    with pytest.raises(RtlModelError, match=r"cost.events.x: got -2; expected a count >= 0"):
        UnitCost(0, {}, {"x": -2})
    with pytest.raises(RtlModelError, match=r"scaled.times: got 1.5"):
        c.scaled(1.5)  # type: ignore[arg-type]


def test_rtl_models_imports_no_other_project_layer():
    code = (
        "import sys, attnsim.rtl_models\n"
        "bad = [m for m in sys.modules if m.split('.')[:2] in (['attnsim', s] for s in "
        "('sim', 'hwconfigs', 'workloads', 'kernels', 'reports'))]\n"
        "assert not bad, bad\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docstring_examples_run():
    import doctest

    import attnsim.rtl_models as pkg

    result = doctest.testmod(pkg, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


# ------------------------------------------------------------------ peaks
_SIZES = {
    "ternary_mac_array": {"rows": st.integers(1, 64), "cols": st.integers(1, 16)},
    "booth_array": {
        "rows": st.integers(1, 16),
        "cols": st.integers(1, 8),
        "ternary_per_multiplier": st.integers(1, 4),
    },
    "softmax_unit": {"lanes": st.integers(1, 16)},
    "lop_pruner": {"est_lanes": st.integers(1, 128), "keep": st.integers(1, 256)},
}


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(_SIZES)),
    data=st.data(),
    m=st.integers(1, 200),
    k=st.integers(1, 4000),
    n=st.integers(1, 2048),
)
def test_no_tile_runs_above_its_units_peak(name, data, m, k, n):
    """Every tile's ops / cycles, per (op class, precision), is at most the unit's
    ``peak_ops_per_cycle``: the peak a target derives its rate from is a true bound."""
    model = UNIT_MODELS.lookup(name)
    sizes = {key: data.draw(strategy, label=key) for key, strategy in _SIZES[name].items()}
    params = dataclasses.replace(model.default_params(), **sizes)
    peak = model.peak_ops_per_cycle(params)
    tile = TileShape(m, min(k, 512) if name == "lop_pruner" else k, n)
    if name == "softmax_unit":
        tile = TileShape(m, 1, min(n, 1024))
    for mode in model.modes:
        cost = model.tile_cost(params, tile, mode)
        for key, ops in cost.ops.items():
            assert key in peak, (name, key)
            if cost.cycles:
                assert ops / cost.cycles <= peak[key] * (1 + 1e-9), (name, mode, key)


def test_peaks_scale_with_the_array():
    tint = UNIT_MODELS.lookup("ternary_mac_array")
    base = tint.default_params()
    wide = dataclasses.replace(base, cols=2 * base.cols)
    key = ("matmul", "ternary")
    assert tint.peak_ops_per_cycle(wide)[key] == 2 * tint.peak_ops_per_cycle(base)[key]
    booth = UNIT_MODELS.lookup("booth_array")
    p = booth.default_params()
    peaks = booth.peak_ops_per_cycle(p)
    assert peaks[("matmul", "int8")] == 2 * p.rows * p.cols
    assert peaks[("matmul", "ternary")] == 2 * p.rows * p.cols * p.ternary_per_multiplier
