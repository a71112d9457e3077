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
    with_shape_rates,
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
    # the sparse variants are measured faster than dense, and predicted so too
    for sp in doc["summary"]["speedups"]:
        assert sp["measured_speedup"] > 1.0 and sp["predicted_speedup"] > 1.0


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


def test_with_shape_rates_replaces_only_the_measured_rates():
    from attnsim.kernels.microbench import ShapeRates, Stat

    hw = load_hardware("host-cpu")
    stat = lambda v, u: Stat(v, v, v, 1, u)  # noqa: E731
    rates = ShapeRates(64, 64, 64, stat(1e9, "op/s"), stat(2e8, "score/s"), stat(3e-6, "s"))
    new = with_shape_rates(hw, rates)
    core = new.engines["core"]
    assert core.throughput["matmul"]["fp32"] == pytest.approx(1e9, rel=1e-12)
    assert core.throughput["exp"]["fp32"] == pytest.approx(2e8, rel=1e-12)
    assert core.throughput["vector"] == hw.engines["core"].throughput["vector"]
    assert new.calibration["blas_call_overhead"] == 3e-6
    assert new.memory == hw.memory
    spec = AttentionSpec(1, 4, 4, 1024, 1024, 64, 64, "prefill", FullMask())
    # a slower matmul predicts a slower kernel
    assert predict(spec, new, "numba-flash-cpu", "fp32") > predict(
        spec, hw, "numba-flash-cpu", "fp32"
    )


@pytest.mark.slow
def test_live_quick_validation_with_per_case_rates(capsys):
    assert main(["validate", "--quick", "--calibrate", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert all("block shape" in c["source"] for c in doc["cases"])
    assert all(c["predicted_s"] > 0 for c in doc["cases"])


def test_calibrate_flag_refuses_recorded_or_gpu(capsys):
    assert main(["validate", "--calibrate", "--device", "cuda"]) == 2
    assert "--calibrate: only with live CPU validation" in capsys.readouterr().err
