"""The sweep spec: every example loads; bad specs list every problem with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnsim.cli.main import main
from attnsim.sweep import SweepError, load_spec, spec_from_dict
from attnsim.sweep import quantities as q
from attnsim.sweep.objectives import OBJECTIVES, parse_constraint
from tests.attnsim.sweep_fixtures import tiny, write_spec

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_there_are_example_specs() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"sweep-small.yaml", "sweep-h100-grid.yaml", "sweep-power-optuna.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_spec_loads(path: Path) -> None:
    spec = load_spec(path)
    assert spec.objectives and spec.workloads


def test_example_sizes() -> None:
    small = load_spec(Path(__file__).parents[2] / "examples" / "sweep-small.yaml")
    assert small.grid_size <= 50
    grid = load_spec(Path(__file__).parents[2] / "examples" / "sweep-h100-grid.yaml")
    assert grid.grid_size >= 1000
    paths = {a.path for a in grid.axes}
    assert {"units.sm.count", "memory.hbm.bandwidth", "memory.l2.capacity"} <= paths
    assert any(p.endswith(".clock") for p in paths)
    opt = load_spec(Path(__file__).parents[2] / "examples" / "sweep-power-optuna.yaml")
    assert opt.strategy.kind == "optuna"
    assert any(c.objective.name == "power" for c in opt.constraints)


def test_values_with_units_are_generated_in_the_unit_of_from() -> None:
    assert q.linear_series("2 TB/s", "4 TB/s", 3) == ["2 TB/s", "3 TB/s", "4 TB/s"]
    assert q.step_series(64, 160, 32) == [64, 96, 128, 160]
    assert q.step_series("1.4 GHz", "2 GHz", "200 MHz") == [
        "1.4 GHz",
        "1.6 GHz",
        "1.8 GHz",
        "2 GHz",
    ]
    assert q.doubling_series("16 MiB", "128 MiB") == ["16 MiB", "32 MiB", "64 MiB", "128 MiB"]
    assert q.geometric_series(1, 100, 3) == [1, 10, 100]
    assert q.si_value("4.8 TB/s") == pytest.approx(4.8e12)
    assert q.si_value("fp8") == "fp8"
    with pytest.raises(ValueError, match="'to' has GHz but 'from' has TB/s"):
        q.linear_series("2 TB/s", "4 GHz", 3)
    with pytest.raises(ValueError, match="gives no values"):
        q.step_series(10, 5, 1)


def test_axes_zip_and_cross() -> None:
    spec = spec_from_dict(
        tiny(
            axes=[
                {"path": "units.sm.count", "range": {"from": 100, "to": 132, "step": 16}},
                {
                    "zip": [
                        {"path": "memory.l2.capacity", "values": ["25 MiB", "50 MiB"]},
                        {"path": "memory.l2.bandwidth", "values": ["6 TB/s", "9 TB/s"]},
                    ]
                },
            ]
        )
    )
    assert spec.grid_size == 3 * 2
    assert [a.path for a in spec.axes] == [
        "units.sm.count",
        "memory.l2.capacity",
        "memory.l2.bandwidth",
    ]


def test_unknown_keys_suggest_the_closest_one(tmp_path: Path) -> None:
    doc = tiny(objectivs=["latency"])
    doc["axes"][0] = {"path": "units.sm.count", "linspce": {"from": 1, "to": 2, "num": 2}}
    with pytest.raises(SweepError) as info:
        load_spec(write_spec(tmp_path / "s.yaml", doc))
    lines = info.value.problems
    assert any(
        "s.yaml: objectivs: unknown key" in line and "did you mean 'objectives'" in line
        for line in lines
    ), lines
    assert any(
        "axes[0].linspce: unknown key" in line and "did you mean 'linspace'" in line
        for line in lines
    ), lines


BAD = [
    (
        {"axes": [{"path": "memory.hbm.bandwdth", "values": ["4 TB/s"]}]},
        r"axes\[0\].*memory\.hbm\.bandwdth.*did you mean 'bandwidth'",
    ),
    (
        {"axes": [{"path": "engines.tensr.clock", "values": ["1 GHz"]}]},
        r"axes\[0\].*engines\.tensr\.clock: 'engines\.tensr' is not in the target.*did you mean 'tensor'",
    ),
    (
        {"axes": [{"path": "units.sm.count", "range": {"from": 10, "to": 5, "step": 1}}]},
        r"axes\[0\]\.range: from 10 to 5 with step 1 gives no values",
    ),
    ({"axes": [{"path": "units.sm.count", "values": []}]}, r"axes\[0\]\.values: is empty"),
    (
        {"axes": [{"path": "units.sm.count", "linspace": {"from": 1, "to": 2, "num": 0}}]},
        r"axes\[0\]\.linspace: 'num' is 0",
    ),
    ({"objectives": ["latency", "speed"]}, r"objectives\[1\]: unknown objective 'speed'"),
    (
        {"axes": [{"path": "memory.hbm.bandwidth", "values": ["4 GHz"]}]},
        r"axes\[0\]\.values\[0\].*memory\.hbm\.bandwidth: '4 GHz' has units of frequency; expected a bandwidth",
    ),
    ({"constraints": ["area <= 400 W"]}, r"constraints\[0\]: '400 W' has units of power for area"),
    ({"constraints": ["spead <= 4"]}, r"constraints\[0\]: unknown objective 'spead'"),
    (
        {"strategy": {"kind": "randm", "budget": 3}},
        r"strategy\.kind: unknown strategy 'randm' \(did you mean 'random'\?\)",
    ),
    ({"strategy": {"kind": "random"}}, r"strategy: budget: missing"),
    (
        {"strategy": {"kind": "optuna", "budget": 4, "sampler": "cmaes"}},
        r"strategy: sampler: unknown sampler 'cmaes'",
    ),
    ({"version": 2}, r"version: version 2 is newer than this attnsim reads"),
    ({"family": "flash-attention-9"}, r"family: unknown kernel family 'flash-attention-9'"),
    (
        {
            "workloads": [
                {
                    "attention": {"heads": 8, "head_dim": 64, "seq": 128, "mask": "causal"},
                    "axes": {"sek": [1]},
                }
            ]
        },
        r"workloads\[0\]\.axes\.sek: is not a attention parameter \(did you mean 'seq'\?\)",
    ),
    (
        {"workloads": [{"file": "missing.json"}]},
        r"workloads\[0\]\.file: missing\.json: no such file",
    ),
    (
        {"axes": [{"path": "precision", "values": ["fp9"]}]},
        r"axes\[0\]\.values\[0\]: 'fp9' is not a precision",
    ),
]


@pytest.mark.parametrize(("change", "pattern"), BAD, ids=[p for _, p in BAD])
def test_bad_specs_name_the_key_path(tmp_path: Path, change: dict, pattern: str) -> None:
    with pytest.raises(SweepError, match=pattern):
        load_spec(write_spec(tmp_path / "bad.yaml", tiny(**change)))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    doc = tiny(objectives=["latency", "speed"], constraints=["area <= 400 W"])
    doc["axes"] = [
        {"path": "memory.hbm.bandwidth", "values": ["4 GHz"]},
        {"path": "units.sm.count", "values": []},
    ]
    with pytest.raises(SweepError) as info:
        load_spec(write_spec(tmp_path / "many.yaml", doc))
    text = "\n".join(info.value.problems)
    for needle in ("objectives[1]", "constraints[0]", "axes[0].values[0]", "axes[1].values"):
        assert needle in text, text
    assert all(line.startswith(str(tmp_path / "many.yaml")) for line in info.value.problems)


def test_cli_exits_2_with_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_spec(
        tmp_path / "bad.yaml",
        tiny(
            axes=[{"path": "units.sm.count", "range": {"from": 10, "to": 5, "step": 1}}],
            objectives=["sped"],
        ),
    )
    assert main(["sweep", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert all(line.startswith("attnsim: error: ") for line in err)
    assert any("axes[0].range" in line for line in err)
    assert any("objectives[0]" in line for line in err)
    assert not (tmp_path / "out").exists()
    assert main(["sweep", "plan", str(path)]) == 2


def test_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\naxes: [\n")
    with pytest.raises(SweepError, match=r"broken\.yaml: YAML syntax error at line"):
        load_spec(path)


def test_constraints_parse_with_units() -> None:
    c = parse_constraint("area <= 400 mm2", "constraints[0]")
    assert c.target_only and c.bound == 400.0 and c.holds(399.0) and not c.holds(401.0)
    p = parse_constraint("power <= 0.7 kW", "constraints[0]")
    assert p.bound == pytest.approx(700.0) and not p.target_only
    assert p.violation(770.0) == pytest.approx(0.1)
    lat = parse_constraint("latency < 10 ms", "x")
    assert lat.bound == pytest.approx(0.01)
    assert "latency" in OBJECTIVES and OBJECTIVES["tokens_per_s"].direction == "maximize"
    with pytest.raises(SweepError, match=r"x: 'area is small' is not a constraint"):
        parse_constraint("area is small", "x")


def test_die_power_and_fom_of_a_point_weigh_its_runs_like_energy() -> None:
    from attnsim.sweep.objectives import point_metrics

    decode = {"latency_s": 0.02, "energy_j": 0.03, "flops": 1.0, "tokens": 1.0}
    prefill = {"latency_s": 0.5, "energy_j": 0.6, "flops": 1.0, "tokens": 64.0}
    decode |= {"die_power_w": 0.06, "peak_ops_per_s": 7.68e11, "area_mm2": 0.2}
    prefill |= {"die_power_w": 0.05, "peak_ops_per_s": 7.68e11, "area_mm2": 0.2}
    for run in (decode, prefill):  # as the worker writes each run: die power x its time
        run["energy_die_j"] = run["die_power_w"] * run["latency_s"]
    m = point_metrics([decode, prefill], [64.0, 1.0])
    time = 64 * 0.02 + 0.5
    die = (64 * 0.02 * 0.06 + 0.5 * 0.05) / time
    assert m["die_power_w"] == pytest.approx(die)
    assert m["fom_tops_per_mm2_w"] == pytest.approx(0.768 / 0.2 / die)
    assert m["power_w"] == pytest.approx((64 * 0.03 + 0.6) / time)  # off-chip energy included
    assert OBJECTIVES["die_power"].direction == "minimize"
    # a target that states its paper's FOM convention: the FOM counts that peak
    for run in (decode, prefill):
        run["fom_peak_ops_per_s"] = 2.56e11
    m = point_metrics([decode, prefill], [64.0, 1.0])
    assert m["fom_tops_per_mm2_w"] == pytest.approx(0.256 / 0.2 / die)
    assert OBJECTIVES["fom"].direction == "maximize"
    c = parse_constraint("die_power <= 100 mW", "constraints[0]")
    assert c.bound == pytest.approx(0.1) and not c.target_only


def test_the_edge_codesign_example_sweeps_one_number_per_axis() -> None:
    spec = load_spec(Path(__file__).parents[2] / "examples" / "sweep-vitallm.yaml")
    assert spec.grid_size <= 64
    assert {a.path for a in spec.axes} == {
        "engines.tint.params.cols",
        "engines.boothflex.params.rows",
        "memory.lpddr.bandwidth",
        "memory.sram.capacity",
    }
    assert {o.name for o, _ in spec.objectives} >= {"die_power", "fom", "area", "energy"}


def test_a_trace_recipe_can_store_weights_in_int8(tmp_path: Path) -> None:
    from attnsim.sweep.workloads import build_workloads

    spec = spec_from_dict(
        {
            "version": 1,
            "base": "vitallm-16nm",
            "axes": [{"path": "memory.lpddr.bandwidth", "values": ["51.2 GB/s"]}],
            "workloads": [
                {
                    "trace": {
                        "model": "bitnet-b1.58-3b",
                        "phase": "decode",
                        "kv_len": 7,
                        "weights": "int8",
                        "overrides": {"num_hidden_layers": 1},
                    }
                }
            ],
            "objectives": ["latency"],
        },
        display="s.yaml",
        root=tmp_path,
    )
    (case,) = build_workloads(spec.workloads, "s.yaml")
    head = [op for _b, op in case.workload.flat() if getattr(op, "weight_dtype", None) == "int8"]
    assert len(head) == 1  # the LM head; the decoder layers stay ternary
