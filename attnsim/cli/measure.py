"""``attnsim measure``: time a bundled kernel on one problem (a thin layer over
``kernels.measure.measure``).

The problem is given with the options of ``attnsim workload attention`` (``--heads``,
``--seq``, ``--mask``, ``--window``, ...) or, for ``numba-gemm``, ``--m --n --k``. The
result is printed as a table and, with ``-o``, appended to a measurement CSV.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from attnsim.cli.workload import MASK_CHOICES
from attnsim.cli.workload import _build_mask as build_workload_mask
from attnsim.fileio import check_output_path
from attnsim.kernels.measure import (
    CSV_COLUMNS,
    MeasureError,
    Measurement,
    MeasurementFileError,
    available_kernels,
    get_kernel,
    measure,
    write_measurements,
)
from attnsim.kernels.problems import GemmShape, Problem
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.spec import AttentionSpec

ERRORS: tuple[type[BaseException], ...] = (MeasureError, MeasurementFileError, WorkloadError)


def _positive(args: argparse.Namespace, *names: str) -> None:
    problems = [
        f"--{name.replace('_', '-')}: {getattr(args, name)}; expected an integer >= 1"
        for name in names
        if getattr(args, name, None) is not None and getattr(args, name) < 1
    ]
    if problems:
        raise MeasureError(problems)


def _problem(args: argparse.Namespace) -> Problem:
    spec = get_kernel(args.kernel)
    if spec.ops == ("gemm",):
        missing = [f"--{x}" for x in ("m", "n", "k") if getattr(args, x) is None]
        if missing:
            raise MeasureError(
                f"{', '.join(missing)}: missing; expected --m M --n N --k K for {args.kernel}"
            )
        _positive(args, "m", "n", "k")
        return GemmShape(args.m, args.n, args.k)
    if args.heads is None or args.head_dim is None:
        option = "--heads" if args.heads is None else "--head-dim"
        raise MeasureError(f"{option}: missing; expected it for attention kernels")
    _positive(
        args, "batch", "heads", "kv_heads", "seq", "kv_seq", "head_dim", "head_dim_v", "block"
    )
    if args.phase == "decode" and args.seq is None and args.kv_seq is not None:
        args.seq = 1  # one new token against a cache of --kv-seq tokens
    mask, q_len, kv_len = build_workload_mask(args)
    return AttentionSpec(
        batch=args.batch,
        q_heads=args.heads,
        kv_heads=args.heads if args.kv_heads is None else args.kv_heads,
        q_len=q_len,
        kv_len=kv_len,
        head_dim_qk=args.head_dim,
        head_dim_v=args.head_dim if args.head_dim_v is None else args.head_dim_v,
        phase=args.phase,
        mask=mask,
    )


def _describe(problem: Problem) -> str:
    if isinstance(problem, GemmShape):
        return f"gemm {problem.m}x{problem.n}x{problem.k}"
    p = problem
    heads = f"{p.q_heads}" if p.q_heads == p.kv_heads else f"{p.q_heads}/{p.kv_heads}"
    return (
        f"{p.phase} {p.mask.kind} B={p.batch} H={heads} q={p.q_len} kv={p.kv_len} "
        f"d={p.head_dim_qk} density={p.density:.3g}"
    )


def _ms(seconds: float) -> str:
    """Milliseconds as people write them (4 significant digits)."""
    return f"{seconds * 1e3:.4g} ms"


def measurement_json(m: Measurement) -> dict[str, Any]:
    """The ``attnsim measure --json`` document of one measurement: every CSV column
    (plain Python numbers), the problem decoded, and the derived rate."""
    doc: dict[str, Any] = {"format": "attnsim-measurement", "version": 1}
    for name in CSV_COLUMNS:
        value = getattr(m, name)
        doc[name] = float(value) if isinstance(value, float) else value
    if m.op == "attention":
        doc["mask"] = json.loads(m.mask)
    doc["gflops"] = float(m.gflops)
    doc["reliable"] = m.reliable
    return doc


def _cmd_measure(args: argparse.Namespace) -> int:
    problem = _problem(args)
    if args.output:  # refuse an unwritable output before timing anything
        check_output_path(args.output, option="-o")
    dtype = args.dtype or ("fp16" if args.device == "cuda" else "fp32")
    m = measure(
        args.kernel,
        problem,
        device=args.device,
        dtype=dtype,
        threads=args.threads,
        min_repeats=args.repeats,
        max_repeats=max(args.repeats, args.max_repeats),
        min_time_s=args.min_time,
        warmup=args.warmup,
        block_q=args.block_q,
        block_k=args.block_k,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(measurement_json(m), indent=2))
    else:
        table = Table(title=f"{m.kernel} on {m.device_name}")
        for column in (
            "problem",
            "median",
            "IQR",
            "min..max",
            "GFLOP/s",
            "repeats",
            "threads",
            "tiles",
        ):
            table.add_column(column)
        tiles = (
            f"{m.block_q}x{m.block_k}: {m.tiles_full} full, {m.tiles_partial} partial"
            if m.block_q
            else "-"
        )
        table.add_row(
            _describe(problem),
            _ms(m.median_s),
            f"{m.p25_s * 1e3:.4g}..{m.p75_s * 1e3:.4g} ms",
            f"{m.min_s * 1e3:.4g}..{m.max_s * 1e3:.4g} ms",
            f"{m.gflops:.4g}",
            f"{m.repeats}" + (f" (+{m.preempted} preempted)" if m.preempted else ""),
            str(m.threads) if m.threads else "-",
            tiles,
        )
        console = Console(width=180, soft_wrap=False, highlight=False)
        console.print(table)
        if not m.reliable:
            console.print(f"unreliable: {m.unreliable}")
    if args.output:
        path = write_measurements(args.output, [m])
        print(f"appended to {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def register(subparsers: Any) -> None:
    """Add ``attnsim measure``."""
    p = subparsers.add_parser(
        "measure",
        help="time a bundled kernel (numba CPU / Triton GPU / torch SDPA) on one problem",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kernel", required=True, help=f"kernel name: {', '.join(available_kernels())}")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--dtype", choices=("fp32", "fp16", "bf16"), help="default fp32 on cpu, fp16 on cuda"
    )
    p.add_argument("--batch", type=int, default=1, help="sequences per batch (default 1)")
    p.add_argument("--heads", type=int, help="query heads")
    p.add_argument("--kv-heads", type=int, help="K/V heads (default --heads; fewer = GQA)")
    p.add_argument("--seq", type=int, help="query length in tokens (1 for --phase decode)")
    p.add_argument("--kv-seq", type=int, help="key/value length (default --seq; the KV cache)")
    p.add_argument("--head-dim", type=int, help="elements per head (Q/K)")
    p.add_argument("--head-dim-v", type=int, help="elements per head of V (default --head-dim)")
    p.add_argument(
        "--mask", choices=MASK_CHOICES, default="full", help="mask pattern (default full)"
    )
    p.add_argument("--window", help="window in tokens (window), or per axis WxW (neighborhood)")
    p.add_argument("--spatial", help="token grid X[xY[xZ]] for neighborhood")
    p.add_argument("--dilation", help="per-axis dilation for neighborhood (default 1)")
    p.add_argument("--stride", help="per-axis stride for neighborhood (default 1)")
    p.add_argument("--causal-axes", help="per-axis causal flags 0/1 for neighborhood")
    p.add_argument(
        "--density", type=float, help="live block fraction for block-sparse (default 0.1)"
    )
    p.add_argument("--block", type=int, help="layout block for block-sparse (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the layout and inputs (default 0)")
    p.add_argument("--prefix", type=int, help="shared prefix tokens for shared-prefix")
    p.add_argument("--continuations", type=int, help="continuations for shared-prefix")
    p.add_argument("--continuation-len", type=int, help="tokens per continuation")
    p.add_argument("--bidirectional-prefix", action="store_true", help="prefix attends fully")
    p.add_argument("--phase", choices=("prefill", "decode"), default="prefill")
    p.add_argument("--m", type=int, help="GEMM rows (numba-gemm)")
    p.add_argument("--n", type=int, help="GEMM columns (numba-gemm)")
    p.add_argument("--k", type=int, help="GEMM inner size (numba-gemm)")
    p.add_argument("--block-q", type=int, help="kernel query tile (default: the kernel's)")
    p.add_argument("--block-k", type=int, help="kernel key tile (default: the kernel's)")
    p.add_argument("--threads", type=int, help="CPU threads (numba and torch; default all)")
    p.add_argument("--repeats", type=int, default=5, help="minimum timed calls (default 5)")
    p.add_argument("--max-repeats", type=int, default=1000, help="maximum timed calls")
    p.add_argument(
        "--min-time", type=float, default=0.5, help="minimum timed seconds (default 0.5)"
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    p.add_argument("-o", "--output", help="measurement CSV to append to")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_measure)
