"""The timing harness, the kernel registry, the measurement CSV and ``attnsim measure``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from attnsim.kernels.measure import (
    CSV_COLUMNS,
    KERNELS,
    KernelSpec,
    MeasureError,
    Measurement,
    MeasurementFileError,
    available_kernels,
    cpu_model,
    get_kernel,
    measure,
    read_measurements,
    register_kernel,
    write_measurements,
)
from attnsim.kernels.problems import GemmShape, problem_flops, validation_problems
from attnsim.workloads.masks import CausalMask, SlidingWindowMask
from attnsim.workloads.spec import AttentionSpec

from attnsim.errors import OutputFileError

SMALL = AttentionSpec(1, 2, 1, 96, 96, 16, 16, "prefill", CausalMask())
FAST = {"min_time_s": 0.0, "min_repeats": 3, "warmup": 1}


@pytest.fixture(scope="module")
def flash_measurement() -> Measurement:
    return measure("numba-flash", SMALL, threads=1, block_q=32, block_k=32, **FAST)  # type: ignore[arg-type]


def test_measurement_fields(flash_measurement: Measurement) -> None:
    m = flash_measurement
    assert (m.kernel, m.op, m.device, m.dtype, m.threads, m.repeats) == (
        "numba-flash", "attention", "cpu", "fp32", 1, 3,
    )  # fmt: skip
    assert m.min_s <= m.p25_s <= m.median_s <= m.p75_s <= m.max_s
    assert (m.block_q, m.block_k, m.tiles_full, m.tiles_partial) == (32, 32, 3, 3)
    assert m.flops == problem_flops(SMALL) == 2 * 2 * (96 * 97 // 2) * 32
    assert m.device_name == cpu_model() and m.numba_version and m.torch_version
    assert m.date_utc.endswith("+00:00")
    assert "threads pinned to 1" in m.how
    assert m.problem() == SMALL


def test_threads_are_restored() -> None:
    import numba

    before = (numba.get_num_threads(), torch.get_num_threads())
    measure("torch-sdpa", SMALL, threads=1, **FAST)  # type: ignore[arg-type]
    assert (numba.get_num_threads(), torch.get_num_threads()) == before


def test_other_cpu_kernels() -> None:
    dec = AttentionSpec(2, 4, 2, 1, 300, 16, 16, "decode", SlidingWindowMask(99))
    m = measure("numba-decode", dec, **FAST)  # type: ignore[arg-type]
    assert m.phase == "decode" and m.block_q == 1 and m.block_k == 128
    g = measure("numba-gemm", GemmShape(64, 48, 32), **FAST)  # type: ignore[arg-type]
    assert (g.op, g.m, g.n, g.k, g.flops) == ("gemm", 64, 48, 32, 2.0 * 64 * 48 * 32)
    assert g.problem() == GemmShape(64, 48, 32)


def test_repeats_follow_min_time() -> None:
    m = measure(
        "numba-gemm", GemmShape(32, 32, 32), min_time_s=0.05, min_repeats=2, max_repeats=10**6
    )
    calls = m.repeats + m.preempted  # clean calls + those the scheduler delayed
    assert calls > 2 and calls * max(m.max_s, m.median_s) >= 0.05 or m.preempted


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel": "numba-flash", "device": "tpu"}, "--device: 'tpu'; expected cpu or cuda"),
        ({"kernel": "numba-flash", "device": "cuda"}, "runs on cpu only"),
        ({"kernel": "numba-gemm"}, "runs gemm problems, not attention"),
        ({"kernel": "numba-flash", "dtype": "fp16"}, "runs fp32, not 'fp16'"),
        ({"kernel": "numba-flash", "threads": 0}, "--threads: 0"),
        ({"kernel": "numba-flahs"}, "did you mean 'numba-flash'"),
    ],
)
def test_bad_requests(kwargs, match):  # type: ignore[no-untyped-def]
    with pytest.raises(MeasureError, match=match):
        measure(problem=SMALL, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_bad_input() -> None:
    with pytest.raises(MeasureError, match="no CUDA GPU is available") as info:
        measure("triton-flash", SMALL, device="cuda")
    assert len(info.value.problems) == 1


def test_registry() -> None:
    assert {"numba-flash", "numba-decode", "numba-gemm", "torch-sdpa", "triton-flash",
            "triton-decode"} <= set(available_kernels())  # fmt: skip
    with pytest.raises(ValueError, match="'numba-flash' is already registered"):
        register_kernel(dataclasses.replace(KERNELS["numba-flash"]))
    assert get_kernel("torch-sdpa").devices == ("cpu", "cuda")
    assert isinstance(get_kernel("numba-gemm"), KernelSpec)


def test_validation_problems_are_valid() -> None:
    for scale in ("cpu", "gpu"):
        problems = validation_problems(scale)
        kinds = {p.mask.kind for p in problems if isinstance(p, AttentionSpec)}
        assert kinds == {"full", "causal", "sliding_window", "neighborhood", "block_sparse"}
        assert any(isinstance(p, AttentionSpec) and p.phase == "decode" for p in problems)
        assert any(isinstance(p, GemmShape) for p in problems)
    with pytest.raises(ValueError, match="scale must be 'gpu' or 'cpu'"):
        validation_problems("tpu")


# ---- CSV --------------------------------------------------------------------------------


def test_csv_round_trip_and_append(tmp_path: Path, flash_measurement: Measurement) -> None:
    path = tmp_path / "m.csv"
    write_measurements(path, [flash_measurement])
    other = dataclasses.replace(
        flash_measurement, kernel="torch-sdpa", median_s=1.5e-3, preempted=4,
        unreliable="preempted in 4 of 5 calls",
    )  # fmt: skip
    write_measurements(path, [other])
    rows = read_measurements(path)
    assert rows == [flash_measurement, other]
    text = path.read_text().splitlines()
    assert text[0] == "# attnsim measurements v2"
    assert text[1].split(",") == list(CSV_COLUMNS)
    assert not rows[1].reliable and rows[0].reliable


def test_csv_never_creates_a_folder(tmp_path: Path, flash_measurement: Measurement) -> None:
    with pytest.raises(OutputFileError, match="does not exist; create it first"):
        write_measurements(tmp_path / "sub" / "m.csv", [flash_measurement])
    assert not (tmp_path / "sub").exists()


def test_version_1_files_read_and_are_upgraded_on_append(
    tmp_path: Path, flash_measurement: Measurement
) -> None:
    old_columns = [c for c in CSV_COLUMNS if c not in ("preempted", "unreliable")]
    path = tmp_path / "old.csv"
    row = [str(getattr(flash_measurement, c)) for c in old_columns]
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([old_columns, row])
    path.write_text("# attnsim measurements v1\n" + buf.getvalue())
    (read,) = read_measurements(path)
    assert (
        read.preempted == 0
        and read.unreliable == ""
        and read.median_s == flash_measurement.median_s
    )
    write_measurements(path, [flash_measurement])
    assert path.read_text().startswith("# attnsim measurements v2\n")
    assert len(read_measurements(path)) == 2


def _corrupt(tmp_path: Path, m: Measurement, edit) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    write_measurements(path, [m, m])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def _set(line: str, column: str, value: str) -> str:
    import csv
    import io

    row = next(csv.reader([line]))
    row[CSV_COLUMNS.index(column)] = value
    buf = io.StringIO()
    csv.writer(buf).writerow(row)
    return buf.getvalue().strip()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda ls: ls[1:], r"bad\.csv: row 1: missing the version line"),
        (lambda ls: ["# attnsim measurements v9"] + ls[1:], r"row 1: version '9' is not supported"),
        (
            lambda ls: ls[:1] + [ls[1].replace("median_s", "median")] + ls[2:],
            r"row 2: header does not match version 2; missing median_s; unknown median",
        ),
        (
            lambda ls: ls[:2] + [ls[2] + ",x"] + ls[3:],
            rf"row 3: {len(CSV_COLUMNS) + 1} values; expected {len(CSV_COLUMNS)}",
        ),
        (
            lambda ls: ls[:3] + [_set(ls[3], "repeats", "many")],
            r"row 4: column repeats: 'many' is not an integer",
        ),
        (
            lambda ls: ls[:2] + [_set(ls[2], "median_s", "-1.0")] + ls[3:],
            r"row 3: column median_s: -1.0 is negative",
        ),
        (
            lambda ls: ls[:2] + [_set(ls[2], "mask", json.dumps({"kind": "nope"}))] + ls[3:],
            r"row 3: column mask: not a mask",
        ),
        (lambda ls: ls[:2] + [_set(ls[2], "op", "conv")] + ls[3:], r"row 3: column op: 'conv'"),
        (
            lambda ls: ls[:2] + [_set(ls[2], "median_s", "0.0")] + ls[3:],
            r"row 3: column median_s: 0 is not a time; expected a positive number of seconds",
        ),
        (
            lambda ls: ls[:2] + [_set(ls[2], "median_s", "nan")] + ls[3:],
            r"row 3: column median_s: nan is not a finite number",
        ),
        (
            lambda ls: ls[:2] + [_set(ls[2], "flops", "inf")] + ls[3:],
            r"row 3: column flops: inf is not a finite number",
        ),
    ],
)
def test_corrupt_csv_names_file_row_column(tmp_path, flash_measurement, edit, match):  # type: ignore[no-untyped-def]
    path = _corrupt(tmp_path, flash_measurement, edit)
    with pytest.raises(MeasurementFileError, match=match) as info:
        read_measurements(path)
    assert isinstance(info.value, ValueError)
    assert all(str(path) in line for line in info.value.problems)
    with pytest.raises(MeasurementFileError):  # never append to a corrupt file
        write_measurements(path, [flash_measurement])


def test_every_bad_row_is_reported(tmp_path: Path, flash_measurement: Measurement) -> None:
    path = _corrupt(
        tmp_path,
        flash_measurement,
        lambda ls: ls[:2] + [_set(ls[2], "threads", "x"), _set(ls[3], "min_s", "y")],
    )
    with pytest.raises(MeasurementFileError) as info:
        read_measurements(path)
    assert len(info.value.problems) == 2
    assert "row 3: column threads" in info.value.problems[0]
    assert "row 4: column min_s" in info.value.problems[1]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(MeasurementFileError, match="missing.csv: no such file"):
        read_measurements(tmp_path / "missing.csv")
    with pytest.raises(MeasurementFileError, match="is a folder"):
        read_measurements(tmp_path)
    with pytest.raises(MeasurementFileError, match="not a regular file"):
        read_measurements("/dev/zero")


def test_bundled_measurements_load() -> None:
    from attnsim.kernels.measure import measurements_dir

    for path in sorted(measurements_dir().glob("*.csv")):
        assert read_measurements(path), path


# ---- command line ---------------------------------------------------------------------


@pytest.fixture()
def cli(monkeypatch):  # type: ignore[no-untyped-def]
    from attnsim.cli import main as cli_main

    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("workload", "measure"))
    return cli_main.main


def test_cli_measure_prints_and_appends(cli, tmp_path, capsys):  # type: ignore[no-untyped-def]
    out = tmp_path / "m.csv"
    argv = ["measure", "--kernel", "numba-flash", "--heads", "2", "--kv-heads", "1", "--seq",
            "64", "--head-dim", "16", "--mask", "window", "--window", "17", "--threads", "1",
            "--repeats", "2", "--min-time", "0", "--warmup", "1", "-o", str(out)]  # fmt: skip
    assert cli(argv) == 0
    text = capsys.readouterr().out
    assert "numba-flash" in text and "sliding_window" in text and "GFLOP/s" in text
    (row,) = read_measurements(out)
    assert (row.kernel, row.threads, row.repeats, row.q_heads, row.kv_heads) == (
        "numba-flash",
        1,
        2,
        2,
        1,
    )
    assert json.loads(row.mask) == {"kind": "sliding_window", "left": 16, "right": 0}


def test_cli_measure_gemm_and_decode(cli, capsys):  # type: ignore[no-untyped-def]
    fast = ["--repeats", "1", "--min-time", "0", "--warmup", "1"]
    assert (
        cli(["measure", "--kernel", "numba-gemm", "--m", "32", "--n", "16", "--k", "8", *fast]) == 0
    )
    assert cli(["measure", "--kernel", "numba-decode", "--heads", "4", "--kv-heads", "2",
                "--kv-seq", "200", "--head-dim", "16", "--mask", "causal", "--phase", "decode", *fast]) == 0  # fmt: skip
    assert "q=1 kv=200" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "--kernel",
                "triton-flash",
                "--device",
                "cuda",
                "--heads",
                "2",
                "--seq",
                "64",
                "--head-dim",
                "16",
            ],
            "--device cuda: ",
        ),
        (
            ["--kernel", "nope", "--heads", "2", "--seq", "64", "--head-dim", "16"],
            "unknown kernel 'nope'",
        ),
        (["--kernel", "numba-gemm", "--m", "4"], "--n, --k: missing"),
        (
            ["--kernel", "numba-gemm", "--m", "4", "--n", "4", "--k", "4", "-o", "/nope/x.csv"],
            "-o: /nope/x.csv: folder /nope does not exist",
        ),
        (["--kernel", "numba-flash", "--seq", "64", "--head-dim", "16"], "--heads: missing"),
        (
            ["--kernel", "numba-flash", "--heads", "0", "--seq", "64", "--head-dim", "16"],
            "--heads: 0; expected an integer >= 1",
        ),
        (
            [
                "--kernel",
                "numba-flash",
                "--heads",
                "2",
                "--seq",
                "60",
                "--head-dim",
                "16",
                "--mask",
                "neighborhood",
                "--spatial",
                "8x8",
                "--window",
                "3",
            ],
            "--seq: 60 does not match",
        ),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(cli, capsys, argv, message):  # type: ignore[no-untyped-def]
    if argv[:4] == ["--kernel", "triton-flash", "--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert cli(["measure", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("attnsim: error: ")


def test_cli_measure_json_is_plain_numbers(cli, capsys):  # type: ignore[no-untyped-def]
    argv = ["measure", "--kernel", "numba-flash", "--heads", "2", "--seq", "64", "--head-dim",
            "16", "--mask", "causal", "--threads", "1", "--repeats", "3", "--min-time", "0",
            "--warmup", "1", "--json"]  # fmt: skip
    assert cli(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "attnsim-measurement" and doc["mask"] == {"kind": "causal"}
    assert set(CSV_COLUMNS) <= set(doc)
    assert isinstance(doc["median_s"], float) and doc["median_s"] > 0
    assert doc["reliable"] == (doc["unreliable"] == "")
    assert doc["gflops"] == pytest.approx(doc["flops"] / doc["median_s"] / 1e9)


def test_cli_measure_output_in_proc_is_one_line(cli, capsys):  # type: ignore[no-untyped-def]
    argv = ["measure", "--kernel", "numba-gemm", "--m", "8", "--n", "8", "--k", "8",
            "--repeats", "1", "--min-time", "0", "--warmup", "1", "-o", "/proc/x.csv"]  # fmt: skip
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attnsim: error: -o") and "/proc/x.csv" in err[0]


def test_interleaved_rounds_time_every_problem_in_alternating_order() -> None:
    from attnsim.kernels.measure import measure_interleaved

    other = dataclasses.replace(SMALL, q_len=64, kv_len=64)
    order: list[tuple[int, int]] = []
    steps: list[tuple[int, int]] = []
    rows = measure_interleaved(
        [("numba-flash", SMALL), ("numba-flash", other)],
        threads=1,
        rounds=3,
        burst_s=0.0,
        min_calls=2,
        extra_rounds=0,
        before_burst=lambda r, i: order.append((r, i)),
        progress=lambda done, total, _label: steps.append((done, total)),
    )
    assert order == [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1)]
    assert steps[-1] == (6, 6)
    assert [r.problem() for r in rows] == [SMALL, other]
    for r in rows:
        assert r.repeats + r.preempted >= 6 and "interleaved: 3 rounds" in r.how
        assert r.min_s <= r.median_s <= r.max_s


def test_preempted_pairs_get_extra_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    import attnsim.kernels.measure as harness
    from attnsim.kernels.timing import Sample

    other = dataclasses.replace(SMALL, q_len=64, kv_len=64)
    current = {"i": 0}
    monkeypatch.setattr(harness, "EXTRA_ROUND_PAUSE_S", 0.0)
    # pair 0 is preempted in every call until the extra rounds, pair 1 never
    monkeypatch.setattr(
        harness,
        "time_call",
        lambda call: Sample(1e-3, 1e-3 if current["i"] == 0 and current.get("r", 0) < 3 else 0.0),
    )

    def before(r: int, i: int) -> None:
        current.update(i=i, r=r)

    order: list[tuple[int, int]] = []
    rows = harness.measure_interleaved(
        [("numba-flash", SMALL), ("numba-flash", other)],
        threads=1,
        rounds=3,
        burst_s=0.0,
        min_calls=2,
        before_burst=lambda r, i: (before(r, i), order.append((r, i))),
    )
    assert order[-1] == (3, 0) and (3, 1) not in order  # one extra round, pair 0 only
    assert rows[0].reliable and rows[0].preempted > 0 and rows[1].preempted == 0


def test_interleaved_refuses_bad_plans() -> None:
    from attnsim.kernels.measure import measure_interleaved

    with pytest.raises(MeasureError, match="expected rounds >= 1"):
        measure_interleaved([("numba-flash", SMALL)], rounds=0)
    with pytest.raises(MeasureError, match="interleaved timing runs on the CPU only"):
        measure_interleaved([("numba-flash", SMALL)], device="cuda")


# ---- recording ------------------------------------------------------------------------


def test_record_cpu_pairs_kernels_with_problems(tmp_path: Path) -> None:
    import io

    from attnsim.kernels.record import record, runs

    dec = AttentionSpec(1, 4, 2, 1, 256, 16, 16, "decode", CausalMask())
    gemm = GemmShape(32, 32, 32)
    log = io.StringIO()
    out = tmp_path / "cpu.csv"
    failures = record("cpu", out, problems=[SMALL, dec, gemm], min_time_s=0.0, threads=1, log=log)
    assert failures == 0
    rows = read_measurements(out)
    pairs = sorted((r.kernel, r.op, r.phase) for r in rows)
    assert pairs == [
        ("numba-decode", "attention", "decode"),
        ("numba-flash", "attention", "prefill"),
        ("numba-gemm", "gemm", ""),
        ("torch-sdpa", "attention", "decode"),
        ("torch-sdpa", "attention", "prefill"),
    ]
    assert all("load average before" in r.how for r in rows)
    assert len(log.getvalue().splitlines()) == 5
    assert runs("triton-decode", dec) and not runs("triton-flash", dec)
    assert not runs("torch-sdpa", gemm)
