"""Running sweeps: the results tables, reuse and resume, failures as rows, constraints,
the Python API."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from attnsim.hwconfigs import load_hardware
from attnsim.sim import simulate

import attnsim
from attnsim.sweep import ResultsStore, SweepError, read_results, run_sweep, spec_from_dict
from attnsim.sweep.worker import PointTimeout, deadline
from attnsim.sweep.workloads import build_workloads
from tests.attnsim.sweep_fixtures import comparable, tiny, write_spec


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("tiny") / "results"
    return run_sweep(spec_from_dict(tiny()), out, executor="serial")


def test_one_row_per_point_and_workload_with_units_and_provenance(tiny_run) -> None:
    r = tiny_run.results
    assert len(r) == (8 + 1) * 2  # 8 grid points + the base design, 2 workloads
    assert not r.duplicated(["point", "workload"]).any()
    assert set(r["status"]) == {"ok"}
    for col in (
        "latency_s",
        "energy_j",
        "power_w",
        "area_mm2",
        "tokens_per_s",
        "edp_j_s",
        "bytes_hbm_b",
    ):
        assert col in r and r[col].notna().all(), col
    for col in (
        "run_key",
        "hw_digest",
        "workload_digest",
        "model_digest",
        "attnsim_version",
        "family",
        "seed",
        "strategy",
    ):
        assert col in r and (r[col].astype(str) != "").all(), col
    assert r["attnsim_version"].iloc[0] == attnsim.__version__
    assert {"param.units.sm.count", "param.memory.hbm.bandwidth"} <= set(r.columns)
    assert sorted(r["param.memory.hbm.bandwidth"].unique()) == [2e12, 3.35e12, 4e12]
    base = r[r["is_base"]]
    assert (base["param.units.sm.count"] == 132).all() and (base["point"] == -1).all()


def test_rows_are_what_simulate_predicts(tiny_run) -> None:
    r = tiny_run.results
    row = r[
        (r["param.units.sm.count"] == 66)
        & (r["param.memory.hbm.bandwidth"] == 2e12)
        & (r["workload"] == "decode")
    ].iloc[0]
    hw = load_hardware(
        "h100-sxm5-80gb",
        {
            "units.sm.count": 66,
            "memory.hbm.bandwidth": "2 TB/s",
            "interconnect.bandwidth": "900 GB/s",
        },
    )
    cases = build_workloads(spec_from_dict(tiny()).workloads, "tiny")
    res = simulate(hw, cases[1].workload)
    assert row["latency_s"] == res.latency_s
    assert row["energy_j"] == res.energy.total_j
    assert row["power_w"] == pytest.approx(res.energy.total_j / res.latency_s)
    assert row["area_mm2"] == pytest.approx(hw.area_mm2)
    assert row["hw_digest"] == hw.digest
    assert row["die_power_w"] == pytest.approx(res.die_power_w)
    assert row["energy_die_j"] == pytest.approx(res.die_power_w * res.latency_s)


def test_points_table_weights_the_workloads(tiny_run) -> None:
    pts, r = tiny_run.points, tiny_run.results
    p = pts[pts["point"] == 3].iloc[0]
    rows = r[r["point"] == 3].set_index("workload")
    assert p["latency_s"] == pytest.approx(
        rows["latency_s"].iloc[0] * 1 + rows.loc["decode", "latency_s"] * 2
    )
    assert p["energy_j"] == pytest.approx((rows["energy_j"] * rows["workload_weight"]).sum())
    assert p["power_w"] == pytest.approx(p["energy_j"] / p["latency_s"])
    die = (rows["energy_die_j"] * rows["workload_weight"]).sum()
    assert p["die_power_w"] == pytest.approx(die / p["latency_s"])
    assert len(tiny_run.ops) and set(tiny_run.ops["run_key"]) == set(r["run_key"])


def test_rerun_reuses_every_run_and_gives_the_same_table(tiny_run, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(tiny_run.path, out)
    again = run_sweep(spec_from_dict(tiny()), out, executor="serial")
    assert again.summary["simulated_runs"] == 0
    assert again.summary["reused_runs"] == len(tiny_run.results)
    pd.testing.assert_frame_equal(comparable(again.results), comparable(tiny_run.results))
    pd.testing.assert_frame_equal(comparable(again.ops), comparable(tiny_run.ops))


def test_a_changed_input_is_recomputed_not_reused(tmp_path: Path) -> None:
    target = tmp_path / "my-h100.yaml"
    target.write_text("version: 1\nbase: h100-sxm5-80gb\nname: my-h100\n")
    doc = tiny(base=str(target), axes=[{"path": "units.sm.count", "values": [66, 132]}])
    out = tmp_path / "results"
    first = run_sweep(spec_from_dict(doc), out, executor="serial")
    # the base design is the 132-SM point: one content key, simulated once for both
    assert first.summary["simulated_runs"] == 4 and len(first.results) == 6
    # the same file name, a different HBM: every run has a new key
    target.write_text(
        "version: 1\nbase: h100-sxm5-80gb\nname: my-h100\nmemory:\n  hbm:\n    bandwidth: {value: 1 TB/s, source: test}\n"
    )
    second = run_sweep(spec_from_dict(doc), out, executor="serial")
    assert second.summary["simulated_runs"] == 4 and second.summary["reused_runs"] == 0
    assert set(second.results["run_key"]).isdisjoint(first.results["run_key"])
    dec1 = first.results[first.results["workload"] == "decode"]["latency_s"].to_numpy()
    dec2 = second.results[second.results["workload"] == "decode"]["latency_s"].to_numpy()
    assert (dec2 > dec1).all()  # less bandwidth: slower decode, never the stale figure
    # a changed workload weight changes the point metrics but re-uses every run
    doc2 = dict(doc, workloads=[dict(doc["workloads"][0]), dict(doc["workloads"][1], weight=5)])
    third = run_sweep(spec_from_dict(doc2), out, executor="serial")
    assert third.summary["simulated_runs"] == 0


def test_failures_and_infeasible_points_are_rows_and_the_sweep_goes_on(tmp_path: Path) -> None:
    doc = tiny(
        axes=[
            # 1 GiB of HBM cannot hold a 16 GiB KV cache: does not fit -> infeasible
            {"path": "memory.hbm.capacity", "values": ["1 GiB", "80 GiB"]},
            # a zero SM count is refused by the target loader for that point -> invalid
            {"path": "units.sm.count", "values": [0, 132]},
        ],
        workloads=[
            {
                "attention": {
                    "batch": 16,
                    "heads": 8,
                    "seq": 1,
                    "kv_seq": 65536,
                    "head_dim": 128,
                    "phase": "decode",
                    "dtype": "bf16",
                }
            }
        ],
    )
    with pytest.raises(SweepError, match=r"axes\[1\]\.values\[0\].*units\.sm\.count"):
        spec_from_dict(doc)  # every value is checked on the base target first
    doc["axes"][1] = {"path": "engines.tensor.clock", "values": ["1 GHz", "1.83 GHz"]}
    run = run_sweep(spec_from_dict(doc), tmp_path / "r", executor="serial")
    status = dict(zip(run.points["point"], run.points["status"], strict=True))
    assert status[0] == status[1] == "infeasible"  # 1 GiB of HBM
    assert status[2] == status[3] == "ok"
    reason = run.results[run.results["point"] == 0]["reason"].iloc[0]
    assert "GiB" in reason and "hbm" in reason


def test_a_run_that_raises_or_hangs_is_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attnsim.sim as sim_pkg

    real = sim_pkg.simulate

    def flaky(hw, workload, **kw):
        if hw.units["sm"] == 66:
            raise RuntimeError("boom in the simulator")
        if hw.units["sm"] == 100:
            end = time.monotonic() + 30
            while time.monotonic() < end:  # a Python loop: the deadline interrupts it
                pass
        return real(hw, workload, **kw)

    monkeypatch.setattr(sim_pkg, "simulate", flaky)
    doc = tiny(
        axes=[{"path": "units.sm.count", "values": [66, 100, 132]}], options={"timeout": "0.5 s"}
    )
    doc["workloads"] = doc["workloads"][:1]
    started = time.monotonic()
    run = run_sweep(spec_from_dict(doc), tmp_path / "r", executor="serial")
    assert time.monotonic() - started < 20
    by = dict(zip(run.points["point"], run.points["status"], strict=True))
    assert by == {-1: "ok", 0: "failed", 1: "timeout", 2: "ok"}
    reasons = dict(zip(run.results["point"], run.results["reason"], strict=True))
    assert "RuntimeError: boom in the simulator" in reasons[0]
    assert "0.5 s limit" in reasons[1]
    # failures are kept; --retry-failed simulates them again
    monkeypatch.setattr(sim_pkg, "simulate", real)
    again = run_sweep(spec_from_dict(doc), tmp_path / "r", executor="serial", retry_failed=True)
    assert set(again.points["status"]) == {"ok"} and again.summary["simulated_runs"] == 2


def test_constraints_prune_before_and_mark_infeasible_after_simulation(tmp_path: Path) -> None:
    doc = tiny(constraints=["area <= 700 mm2", "power <= 150 W"])
    run = run_sweep(spec_from_dict(doc), tmp_path / "r", executor="serial")
    pts = run.points
    big = pts[pts["param.units.sm.count"] == 132]
    assert set(big["status"]) == {"pruned"}  # 814 mm2 > 700 mm2: never simulated
    pruned_rows = run.results[run.results["status"] == "pruned"]
    assert (pruned_rows["run_key"] == "").all() and pruned_rows["latency_s"].isna().all()
    assert "breaks 'area <= 700 mm2'" in pruned_rows["reason"].iloc[0]
    small = run.results[run.results["param.units.sm.count"] == 66]
    for _, row in small.iterrows():
        assert (row["status"] == "infeasible") == (row["power_w"] > 150), row
    assert run.summary["simulated_runs"] == 4 * 2  # only the 66-SM points ran


def test_deadline_interrupts_python_code_and_never_leaks() -> None:
    with pytest.raises(PointTimeout), deadline(0.05):
        while True:
            pass
    with deadline(5.0):
        x = sum(range(1000))
    time.sleep(0.1)
    assert x == 499500


def test_api_sweep_returns_a_dataframe_and_report_writes_html(tmp_path: Path) -> None:
    spec_path = write_spec(
        tmp_path / "tiny.yaml", tiny(axes=[{"path": "units.sm.count", "values": [66, 132]}])
    )
    table = attnsim.sweep(spec_path, tmp_path / "res", executor="serial")
    assert isinstance(table, pd.DataFrame) and len(table) == 3 * 2
    assert {"points", "ops", "summary", "path"} <= set(table.attrs)
    index = attnsim.report(tmp_path / "res", tmp_path / "rep")
    assert (
        index.name == "index.html" and index.is_file() and (tmp_path / "rep" / "index.md").is_file()
    )
    manifest, results, points, ops = read_results(tmp_path / "res")
    assert manifest["state"] == "complete" and len(points) == 3
    with pytest.raises(SweepError, match="not an attnsim results folder"):
        attnsim.report(tmp_path, tmp_path / "rep2")


def test_results_folder_refuses_a_folder_of_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="holds other files"):
        ResultsStore.create(tmp_path)
    with pytest.raises(SweepError, match="does not exist"):
        ResultsStore.create(tmp_path / "no" / "such")


def test_precision_axis_retypes_compute_ops(tmp_path: Path) -> None:
    doc = tiny(axes=[{"path": "precision", "values": ["bf16", "fp8"]}])
    doc["workloads"] = doc["workloads"][:1]
    # head dim 128: at 64 an fp8 FlashAttention-3 is bound by the XU pipe (the exps and
    # the FP32 -> FP8 packs of P share it), not by its doubled matmul rate
    doc["workloads"][0]["attention"]["head_dim"] = 128
    run = run_sweep(spec_from_dict(doc), tmp_path / "r", executor="serial")
    r = run.results.set_index("precision")
    assert r.loc["fp8", "workload_digest"] != r.loc["bf16", "workload_digest"]
    assert r.loc["fp8", "latency_s"] < r.loc["bf16", "latency_s"]  # H100 fp8 matmul: twice the rate
    assert not math.isnan(r.loc["fp8", "energy_j"])


def test_an_edge_sweep_reports_the_papers_fom_and_die_power(tmp_path: Path) -> None:
    """A sweep of the ternary edge target: each point's FOM counts the peak as the
    target's ``figure_of_merit`` says ([V1]: the TINT cores' MACs, one op each), as
    ``attnsim simulate`` does, and a larger SRAM is seen in the prefill's DRAM bytes."""
    from attnsim.workloads import Block, GemmOp, Workload
    from attnsim.workloads.serialize import save_workload

    proj = GemmOp("proj", "int8", 64, 1024, 3200, weight_operand="b", weight_dtype="ternary")
    save_workload(Workload("proj", (Block("l", (proj,), 2),), tokens=64), tmp_path / "w.json")
    spec = spec_from_dict(
        {
            "version": 1,
            "base": "vitallm-16nm",
            "axes": [{"path": "memory.sram.capacity", "values": ["88 KiB", "1 MiB"]}],
            "workloads": [{"file": str(tmp_path / "w.json")}],
            "objectives": ["fom", "die_power", "area"],
        }
    )
    run = run_sweep(spec, tmp_path / "out", executor="serial")
    pts = run.points.set_index("point")
    for point, sram in ((0, "88 KiB"), (1, "1 MiB")):
        hw = load_hardware("vitallm-16nm", {"memory.sram.capacity": sram})
        res = simulate(hw, build_workloads(spec.workloads, "t")[0].workload)
        assert res.fom_convention  # the target states one
        assert pts.loc[point, "fom_tops_per_mm2_w"] == pytest.approx(res.fom_tops_per_mm2_w)
        assert pts.loc[point, "die_power_w"] == pytest.approx(res.die_power_w)
    r = run.results.set_index("point")
    assert r.loc[1, "bytes_lpddr_b"] < r.loc[0, "bytes_lpddr_b"]  # activations stay on chip
