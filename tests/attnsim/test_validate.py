"""``attnsim validate``: recorded and live comparisons, the JSON contract, speedups, the
outputs of -o, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attnsim.hwconfigs import load_hardware
from attnsim.kernels.measure import Measurement, measurements_dir, read_measurements
from attnsim.workloads import AttentionSpec, CausalMask, FullMask

from attnsim.cli.main import main
from attnsim.validation import (
    Case,
    Report,
    block_shape,
    case_name,
    predict,
    speedups,
    suite,
    validate_recorded,
    with_block_timing,
)

RECORDED = sorted(measurements_dir().glob("cpu-*.csv"))


def test_suite_is_at_least_24_documented_problems():
    specs = suite("cpu")
    assert len(specs) >= 24
    names = [case_name(s) for s in specs]
    kinds = {s.mask.to_dict()["kind"] for s in specs}
    assert {"full", "causal", "sliding_window", "neighborhood", "block_sparse"} <= kinds
    assert {s.head_dim_qk for s in specs} == {64, 128}
    assert any(s.phase == "decode" for s in specs) and any(s.kv_heads < s.q_heads for s in specs)
    assert len(set(zip(names, specs, strict=True))) == len(specs)


def test_quick_suite_covers_each_variant_once():
    quick = suite("cpu", quick=True)
    assert 4 <= len(quick) <= 8
    assert len({(s.phase, s.mask.to_dict()["kind"]) for s in quick}) == len(quick)


def _case(name: str, spec: AttentionSpec, measured: float, predicted: float) -> Case:
    return Case(
        name,
        "numba-flash",
        "cpu",
        "host-cpu",
        "numba-flash-cpu",
        spec,
        measured,
        measured,
        measured,
        predicted,
        "test",
    )


def test_speedups_pair_each_variant_with_its_dense_twin():
    dense = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", FullMask())
    causal = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", CausalMask())
    other = AttentionSpec(1, 4, 4, 2048, 2048, 64, 64, "prefill", CausalMask())  # no dense twin
    cases = [_case("d", dense, 2.0, 1.0), _case("c", causal, 1.0, 0.4), _case("o", other, 1.0, 1.0)]
    (sp,) = speedups(cases)
    assert sp.variant == "c" and sp.dense == "d"
    assert sp.measured == pytest.approx(2.0) and sp.predicted == pytest.approx(2.5)
    report = Report(tuple(cases), (sp,))
    summary = report.summary()
    assert summary["speedups_median_abs_rel_error"] == pytest.approx(0.25)
    assert summary["median_abs_rel_error"] == pytest.approx(0.5)


@pytest.mark.skipif(not RECORDED, reason="no recorded CPU measurements in kernels/measurements")
def test_recorded_json_contract(capsys):
    assert main(["validate", "--recorded", *map(str, RECORDED), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["cases"]) >= 24
    for case in doc["cases"]:
        assert {"name", "measured_s", "predicted_s", "rel_error"} <= set(case)
        assert case["measured_s"] > 0 and case["predicted_s"] > 0
        assert case["rel_error"] == pytest.approx(
            (case["predicted_s"] - case["measured_s"]) / case["measured_s"]
        )
    s = doc["summary"]
    assert {"median_abs_rel_error", "p90_abs_rel_error", "speedups"} <= set(s)
    assert s["speedups"] and all(
        {"variant", "measured_speedup", "predicted_speedup", "rel_error"} <= set(x)
        for x in s["speedups"]
    )
    assert any("torch-sdpa" in note for note in doc["notes"])


@pytest.mark.skipif(not RECORDED, reason="no recorded CPU measurements in kernels/measurements")
def test_out_dir_gets_csv_and_plot(tmp_path, capsys):
    out = tmp_path / "val"
    assert main(["validate", "--recorded", str(RECORDED[0]), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "median |error|" in printed
    assert (out / "cases.csv").read_text().startswith("name,")
    assert (out / "pred_vs_meas.png").stat().st_size > 10_000


def test_recorded_rows_of_unmodelled_kernels_only_is_an_error():
    row = Measurement(kernel="torch-sdpa", op="attention", dtype="fp32", median_s=1.0)
    with pytest.raises(ValueError, match="no attention measurements of a modelled kernel"):
        validate_recorded([("x.csv", row)])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recorded", "/nonexistent.csv"], "/nonexistent.csv: no such measurement file"),
        (["--threads", "0"], "--threads: 0; expected an integer >= 1"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--hw", "no-such-target", "--recorded", "RECORDED"], "no-such-target"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    argv = [str(RECORDED[0]) if a == "RECORDED" and RECORDED else a for a in argv]
    with pytest.raises(SystemExit) if "--device" in argv else _no_raise():
        assert main(["validate", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_corrupt_recorded_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("# attnsim measurements v1\nkernel,op\nnumba-flash,attention,extra\n")
    assert main(["validate", "--recorded", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err


class _no_raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


@pytest.mark.slow
def test_live_quick_validation_measures_and_predicts(capsys):
    assert main(["validate", "--quick", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["cases"]) == len(suite("cpu", quick=True))
    assert all(c["source"] == "live" and c["measured_s"] > 0 for c in doc["cases"])
    # the target is this machine's cached one (in the tests: the labelled example)
    assert {c["target"] for c in doc["cases"]} == {"host-cpu-example"}
    # the sparse variants are predicted faster than dense (measured too, when reliable)
    for sp in doc["summary"]["speedups"]:
        assert sp["predicted_speedup"] > 1.0
        assert sp["measured_speedup"] > 1.0 or not sp["reliable"]


def test_recorded_csv_round_trips_through_the_reader():
    for path in RECORDED:
        rows = read_measurements(path)
        assert rows and all(isinstance(r, Measurement) for r in rows)
        assert all(Path(path).name.startswith("cpu-") for _ in rows[:1])


def test_block_shape_follows_the_kernel():
    prefill = AttentionSpec(1, 8, 2, 512, 512, 128, 128, "prefill", CausalMask())
    decode = AttentionSpec(1, 32, 8, 1, 4096, 64, 64, "decode", CausalMask())
    assert block_shape(prefill) == (64, 128, 64)
    assert block_shape(decode) == (4, 64, 128)  # GQA group of 4 stacked, 128-key blocks


def test_with_block_timing_replaces_only_that_shape():
    from attnsim.kernels.microbench import ShapeTiming, Stat
    from attnsim.sim.lowering.attention_cpu import BlockTable

    hw = load_hardware("host-cpu-example")
    stat = lambda v: Stat(v, v, v, 1, "s")  # noqa: E731
    timing = ShapeTiming(64, 64, 64, 2, stat(1e-3), stat(2e-4))
    new = with_block_timing(hw, timing, "test")
    table = BlockTable(new.calibration)
    assert table.seconds("pair", (64, 64, 64), 2) == pytest.approx(1e-3)
    assert table.seconds("softmax", (64, 64, 64), 2) == pytest.approx(2e-4)
    old = BlockTable(hw.calibration)
    assert table.seconds("pair", (64, 128, 64), 2) == old.seconds("pair", (64, 128, 64), 2)
    assert new.memory == hw.memory and new.engines == hw.engines
    spec = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", FullMask())
    # a slower block predicts a slower kernel
    assert predict(spec, new, "numba-flash-cpu", "fp32") > predict(
        spec, hw, "numba-flash-cpu", "fp32"
    )


def test_threads_change_the_prediction_as_they_change_the_kernel():
    from attnsim.hosttarget import with_threads

    hw = load_hardware("host-cpu-example")
    spec = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", FullMask())
    two = predict(spec, hw, "numba-flash-cpu", "fp32")
    one = predict(spec, with_threads(hw, 1), "numba-flash-cpu", "fp32")
    assert 1.3 < one / two < 2.6  # half the cores, each a little faster alone


def _unreliable_cases():
    dense = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", FullMask())
    causal = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", CausalMask())
    bad = Case(
        "c", "numba-flash", "cpu", "host-cpu", "numba-flash-cpu", causal,
        1.0, 1.0, 1.0, 60.0, "test", "preempted in 9 of 9 calls",
    )  # fmt: skip
    return [_case("d", dense, 2.0, 2.2), bad]


def test_unreliable_cases_are_shown_but_never_counted():
    cases = _unreliable_cases()
    report = Report(tuple(cases), tuple(speedups(cases)))
    s = report.summary()
    assert (s["cases"], s["cases_counted"], s["unreliable_cases"]) == (2, 1, 1)
    assert s["median_abs_rel_error"] == pytest.approx(0.1)  # not the +5,900% of the bad one
    assert s["speedups_counted"] == 0 and s["speedups_median_abs_rel_error"] is None
    (sp,) = s["speedups"]
    assert not sp["reliable"] and "variant preempted in 9 of 9 calls" in sp["unreliable"]
    doc = report.to_dict()
    assert [c["reliable"] for c in doc["cases"]] == [True, False]
    assert doc["cases"][1]["unreliable"] == "preempted in 9 of 9 calls"
    json.dumps(doc)  # plain Python numbers only


def test_unreliable_cases_are_marked_in_the_table(capsys):
    from rich.console import Console

    from attnsim.cli.validate import print_report

    cases = _unreliable_cases()
    print_report(Report(tuple(cases), tuple(speedups(cases))), Console(width=200))
    out = capsys.readouterr().out
    assert "unreliable" in out and "1 of 2 cases (1 unreliable left out)" in out
    assert "unreliable: c: preempted in 9 of 9 calls" in out


def test_recorded_unreliable_rows_stay_unreliable():
    assert RECORDED, "kernels/measurements/ ships a recorded CPU CSV"
    path = RECORDED[0]
    rows = read_measurements(path)[:3]
    import dataclasses

    rows = [dataclasses.replace(rows[0], unreliable="bimodal: test"), *rows[1:]]
    report = validate_recorded([(str(path), m) for m in rows])
    flagged = [c for c in report.cases if not c.reliable]
    assert flagged and flagged[0].unreliable == "bimodal: test"


@pytest.mark.slow
def test_live_quick_validation_with_per_case_rates(capsys):
    assert main(["validate", "--quick", "--calibrate", "--threads", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert all("block shape" in c["source"] for c in doc["cases"])
    assert all(c["predicted_s"] > 0 for c in doc["cases"])
    assert any(n.startswith("drift probe:") for n in doc["notes"])


def test_calibrate_flag_refuses_recorded_or_gpu(capsys):
    assert main(["validate", "--calibrate", "--device", "cuda"]) == 2
    assert "--calibrate: only with live CPU validation" in capsys.readouterr().err


def test_a_prediction_from_a_disturbed_block_timing_is_unreliable():
    from attnsim.hwconfigs import hardware_from_dict
    from attnsim.sim.lowering.attention_cpu import block_constant

    from attnsim.validation import _disturbed_blocks

    doc = load_hardware("host-cpu-example").to_dict()
    for kind in ("pair", "softmax"):
        doc["calibration"][block_constant(kind, 64, 64, 64, 2)] = {
            "value": "20 us",
            "source": "measured by attnsim calibrate: ...; DISTURBED: 9 of 9 runs were preempted",
        }
        doc["calibration"][block_constant(kind, 64, 128, 64, 2)] = {
            "value": "30 us",
            "source": "measured by attnsim calibrate: ...; median of 9 clean runs",
        }
    hw = hardware_from_dict(doc, "disturbed.yaml")
    d64 = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", FullMask())
    d128 = AttentionSpec(1, 4, 4, 1024, 1024, 128, 128, "prefill", FullMask())
    why = _disturbed_blocks(hw, d64, 2)
    assert why.startswith("its prediction uses values the target timed while preempted")
    assert "block_pair_r64_d64_k64_t2" in why
    assert _disturbed_blocks(hw, d128, 2) == ""
    assert _disturbed_blocks(hw, d64, 1) == ""  # not the block the 1-thread run uses
    # a memory bandwidth every case uses makes every case unreliable
    doc["memory"]["dram"]["bandwidth"]["source"] += "; DISTURBED: 9 of 9 runs were preempted"
    hw = hardware_from_dict(doc, "disturbed.yaml")
    assert "memory.dram.bandwidth" in _disturbed_blocks(hw, d128, 1)
