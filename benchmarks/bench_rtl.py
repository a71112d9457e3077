"""Benchmark: how fast the rtl_models unit models run, and what LOP pruning keeps.

Speed (wall time of attnsim itself, not of the hardware): each bit-exact ``*_run``
function on realistic tiles -- BitNet b1.58 3B projections (hidden 3200, FFN 8640;
decode GEMV m = 1 and a 64-token prefill tile), decode attention scores 1 x 128 x M,
softmax rows, the LOP pruner over M cached keys, ``lop_fetch_stats`` -- and the cost of
``tile_cost`` with and without its cache. Each figure is the median (and the minimum) of
``--repeats`` timed calls after one warm-up call, with one BLAS thread; the simulated
cycles of the same tile are printed beside it.

Accuracy: the softmax unit's largest error against float64 softmax on attention-like
rows, and LOP's fetched K/V fraction, recall of the exact top-K and kept softmax mass
for each stated synthetic distribution, M, K and estimate (seeded, deterministic).

With ``--synth`` (needs yosys, and iverilog for the co-simulation check) it also
synthesises the ternary column ``rtl_models/verilog/tint_column.v`` for several R,
checks each against the Python column model cycle by cycle, and reports cells,
flip-flops and yosys's transistor estimate (``bench_rtl_synth.csv``).

    .venv/bin/python benchmarks/bench_rtl.py [--repeats 5] [--quick] [--synth]

Writes ``benchmarks/results/bench_rtl.csv`` (speed) and
``benchmarks/results/bench_rtl_lop.csv`` (LOP accuracy).
"""

from __future__ import annotations

import os

# One BLAS thread: on a shared 2-core host a 2-thread BLAS call waits whole scheduler
# time slices (8/16 ms steps, docs TOOLCHAIN), which would swamp these millisecond calls.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from attnsim.rtl_models import (  # noqa: E402
    UNIT_MODELS,
    BoothArrayParams,
    LopParams,
    QKDistribution,
    SoftmaxParams,
    TernaryMacParams,
    TileShape,
    booth_array_run,
    lop_fetch_stats,
    lop_run,
    softmax_run,
    ternary_mac_run,
)
from attnsim.rtl_models.booth import BOOTH_ARRAY  # noqa: E402
from attnsim.rtl_models.lop import LOP_PRUNER  # noqa: E402
from attnsim.rtl_models.softmax_unit import SOFTMAX_UNIT  # noqa: E402
from attnsim.rtl_models.ternary_mac import TERNARY_MAC_ARRAY  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, min) wall seconds of ``repeats`` calls after a warm-up call."""
    fn()  # warm-up
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), min(walls)


def _secs(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-4 else f"{s * 1e6:.2f} us"


def speed_rows(repeats: int, quick: bool) -> list[dict]:
    rng = np.random.default_rng(0)
    rows: list[dict] = []

    def add(unit: str, case: str, tile: TileShape, mode: str, fn, cycles: int) -> None:
        wall, fastest = timed(fn, repeats)
        rows.append(
            {
                "unit": unit,
                "case": case,
                "m": tile.m,
                "k": tile.k,
                "n": tile.n,
                "mode": mode,
                "wall_s": wall,
                "min_wall_s": fastest,
                "macs_or_elements_per_s": (tile.m * tile.k * tile.n) / wall,
                "simulated_cycles": cycles,
            }
        )

    tp = TernaryMacParams()
    ternary = [("decode q/k/v/o proj", 1, 3200, 3200), ("decode ffn up", 1, 3200, 8640)]
    ternary += [("prefill 64 tok proj", 64, 3200, 3200)]
    if not quick:
        ternary += [("prefill 64 tok ffn up", 64, 3200, 8640)]
    for case, m, k, n in ternary:
        a = rng.integers(-127, 128, (m, k)).astype(np.int8)
        w = rng.integers(-1, 2, (k, n)).astype(np.int8)
        tile = TileShape(m, k, n)
        cyc = TERNARY_MAC_ARRAY.tile_cost(tp, tile).cycles
        add(
            "ternary_mac_run",
            case,
            tile,
            "ternary_int8",
            lambda a=a, w=w: ternary_mac_run(a, w, tp),
            cyc,
        )

    bp = BoothArrayParams()
    for n_keys in (1024, 4096) if quick else (1024, 4096, 16384):
        q = rng.integers(-127, 128, (1, 128)).astype(np.int8)
        kt = rng.integers(-127, 128, (128, n_keys)).astype(np.int8)
        tile = TileShape(1, 128, n_keys)
        for mode in ("int8", "bitserial_int8"):
            cyc = booth_array_run(q, kt, bp, mode)[1].cycles
            add(
                "booth_array_run",
                f"decode scores q.K^T M={n_keys}",
                tile,
                mode,
                lambda q=q, kt=kt, mode=mode: booth_array_run(q, kt, bp, mode),
                cyc,
            )
    a = rng.integers(-127, 128, (1, 3200)).astype(np.int8)
    w = rng.integers(-1, 2, (3200, 3200)).astype(np.int8)
    tile = TileShape(1, 3200, 3200)
    add(
        "booth_array_run",
        "decode proj on BoothFlex",
        tile,
        "ternary_int8",
        lambda: booth_array_run(a, w, bp, "ternary_int8"),
        BOOTH_ARRAY.tile_cost(bp, tile, "ternary_int8").cycles,
    )

    sp = SoftmaxParams()
    for m, n in ((1, 4096), (32, 1024), (64, 64)):
        s = rng.integers(-(2**20), 2**20, (m, n)).astype(np.int32)
        tile = TileShape(m, 1, n)
        add(
            "softmax_run",
            f"{m} rows x {n}",
            tile,
            "softmax",
            lambda s=s: softmax_run(s, 1e-4, sp),
            SOFTMAX_UNIT.tile_cost(sp, tile).cycles,
        )

    lp = LopParams(keep=64)
    for n_keys in (1024, 4096) if quick else (1024, 4096, 16384):
        q = rng.integers(-127, 128, (1, 128)).astype(np.int8)
        k = rng.integers(-127, 128, (n_keys, 128)).astype(np.int8)
        tile = TileShape(1, 128, n_keys)
        add(
            "lop_run",
            f"K=64 of M={n_keys}",
            tile,
            "topk",
            lambda q=q, k=k: lop_run(q, k, lp),
            LOP_PRUNER.tile_cost(lp, tile).cycles,
        )
    tile = TileShape(1, 128, 4096)
    add(
        "lop_fetch_stats",
        "M=4096 K=64 d=128, 8 trials",
        tile,
        "topk",
        lambda: lop_fetch_stats(4096, 64, 128, QKDistribution(), 0, trials=8),
        LOP_PRUNER.tile_cost(lp, tile).cycles,
    )

    # tile_cost: a fresh shape each call (uncached) and the same shape again (cached)
    for name in sorted(UNIT_MODELS):
        model = UNIT_MODELS.lookup(name)
        params = model.default_params()
        counter = iter(range(10**9))
        for label, make in (
            ("uncached", lambda counter=counter: TileShape(1, 128, 1000 + next(counter))),
            ("cached", lambda: TileShape(1, 128, 999)),
        ):
            calls = 2000
            for mode in model.modes:

                def run(make=make, mode=mode, model=model, params=params, calls=calls):
                    for _ in range(calls):
                        model.tile_cost(params, make(), mode)

                wall, fastest = timed(run, repeats)
                rows.append(
                    {
                        "unit": f"{name}.tile_cost",
                        "case": label,
                        "m": 1,
                        "k": 128,
                        "n": 0,
                        "mode": mode,
                        "wall_s": wall / calls,
                        "min_wall_s": fastest / calls,
                        "macs_or_elements_per_s": math.nan,
                        "simulated_cycles": -1,
                    }
                )
    return rows


def softmax_error_row() -> dict:
    rng = np.random.default_rng(1)
    q = rng.normal(size=(16, 128))
    k = rng.normal(size=(4096, 128))
    sq = np.abs(q).max(axis=1) / 127
    sk = np.abs(k).max(axis=1) / 127
    qi = np.round(q / sq[:, None]).astype(np.int64)
    ki = np.round(k / sk[:, None]).astype(np.int64)
    scores = qi @ ki.T
    scale = float(sq.mean() * sk.mean() / math.sqrt(128))
    out, _ = softmax_run(scores.astype(np.int32), scale)
    logits = scores * scale
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    err = np.abs(out.probabilities - p)
    return {
        "max_abs_error": float(err.max()),
        "max_rel_error_p_gt_1e-3": float((err / p)[p > 1e-3].max()),
    }


def lop_rows(quick: bool) -> list[dict]:
    rows = []
    dists = [
        QKDistribution("iid_gaussian"),
        QKDistribution("iid_laplace"),
        QKDistribution("correlated", 0.3),
        QKDistribution("correlated", 0.6),
    ]
    sizes = [(1024, 64), (4096, 64), (4096, 256)] if not quick else [(1024, 64)]
    for dist in dists:
        for n_keys, keep in sizes:
            for estimate in ("lo_both", "lo_key"):
                for queries in (1, 4):
                    s = lop_fetch_stats(
                        n_keys,
                        keep,
                        128,
                        dist,
                        seed=2026,
                        queries=queries,
                        trials=8,
                        params=LopParams(estimate=estimate),
                    )
                    rows.append(
                        {
                            "distribution": dist.label(),
                            "M": n_keys,
                            "K": keep,
                            "head_dim": 128,
                            "estimate": estimate,
                            "queries": queries,
                            "payload_fraction": s.payload_fraction,
                            "fetched_fraction": s.fetched_fraction,
                            "recall": s.recall,
                            "min_recall": s.min_recall,
                            "mass_recall": s.mass_recall,
                            "exact_topk_mass": s.exact_mass,
                            "seed": s.seed,
                            "trials": s.trials,
                        }
                    )
    return rows


def synth_rows() -> list[dict]:
    from attnsim.rtl_models.verilog.cosim import (
        available_simulators,
        column_stimulus,
        model_trace,
        verilog_trace,
    )
    from attnsim.rtl_models.verilog.synth import synthesize_column

    rows = []
    for r in (8, 16, 32):
        rep = synthesize_column(r)
        stim = column_stimulus(r, 500, r)
        cosim = "not run (no iverilog)"
        if "iverilog" in available_simulators():
            same = verilog_trace(r, stim, "iverilog") == model_trace(r, stim)
            cosim = f"{len(stim)} cycles {'identical' if same else 'DIFFERENT'}"
        rows.append(
            {
                "rows_R": r,
                "acc_bits": rep.acc_bits,
                "total_cells": rep.total_cells,
                "nand": rep.cells.get("$_NAND_", 0),
                "nor": rep.cells.get("$_NOR_", 0),
                "not": rep.cells.get("$_NOT_", 0),
                "flip_flops": rep.flip_flops,
                "logic_transistors": rep.logic_transistors,
                "cosim_vs_python": cosim,
                "yosys": rep.yosys_version,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer and smaller cases")
    ap.add_argument("--synth", action="store_true", help="also synthesise the Verilog column")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    console = Console(width=160)
    console.print(
        f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.2f}, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}"
    )

    speed = pd.DataFrame(speed_rows(args.repeats, args.quick))
    table = Table(title="rtl_models speed (median wall time per call)")
    for col in ("unit", "case", "mode", "tile", "median", "min", "rate", "simulated cycles"):
        table.add_column(col)
    for r in speed.itertuples():
        tile = f"{r.m}x{r.k}x{r.n}" if r.n else "-"
        rate = "" if math.isnan(r.macs_or_elements_per_s) else f"{r.macs_or_elements_per_s:.3g}/s"
        cyc = "" if r.simulated_cycles < 0 else f"{r.simulated_cycles:,}"
        table.add_row(r.unit, r.case, r.mode, tile, _secs(r.wall_s), _secs(r.min_wall_s), rate, cyc)
    console.print(table)

    err = softmax_error_row()
    console.print(
        f"softmax unit (default format) on 16 x 4096 attention-like rows: max |p - p_ref| = "
        f"{err['max_abs_error']:.3g}, max relative error where p > 1e-3 = "
        f"{err['max_rel_error_p_gt_1e-3']:.3g}"
    )

    lop = pd.DataFrame(lop_rows(args.quick))
    t2 = Table(title="LOP: fetched K/V fraction and recall (head dim 128, 8 trials, seed 2026)")
    for col in (
        "distribution",
        "M",
        "K",
        "estimate",
        "queries",
        "fetched",
        "payload",
        "recall",
        "min",
        "mass",
        "exact mass",
    ):
        t2.add_column(col)
    for r in lop.itertuples():
        t2.add_row(
            r.distribution,
            str(r.M),
            str(r.K),
            r.estimate,
            str(r.queries),
            f"{r.fetched_fraction:.3f}",
            f"{r.payload_fraction:.3f}",
            f"{r.recall:.3f}",
            f"{r.min_recall:.3f}",
            f"{r.mass_recall:.3f}",
            f"{r.exact_topk_mass:.3f}",
        )
    console.print(t2)

    if args.synth:
        syn = pd.DataFrame(synth_rows())
        t3 = Table(title="tint_column.v: yosys generic synthesis (abc -g cmos2) and co-simulation")
        cols = [
            "rows_R",
            "total_cells",
            "nand",
            "nor",
            "not",
            "flip_flops",
            "logic_transistors",
            "cosim_vs_python",
        ]
        for col in cols:
            t3.add_column(col)
        for rec in syn.to_dict("records"):
            t3.add_row(*(str(rec[c]) for c in cols))
        console.print(t3)
        syn.to_csv(RESULTS / "bench_rtl_synth.csv", index=False)

    speed.to_csv(RESULTS / "bench_rtl.csv", index=False)
    lop.to_csv(RESULTS / "bench_rtl_lop.csv", index=False)
    console.print(f"wrote {RESULTS / 'bench_rtl.csv'} and {RESULTS / 'bench_rtl_lop.csv'}")


if __name__ == "__main__":
    main()
