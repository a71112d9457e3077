"""``attnsim workload``: make synthetic workload files and show what a workload file holds.

A thin layer over :mod:`workloads.synthetic` and :mod:`workloads.serialize`:

* ``attnsim workload attention ... -o FILE`` -- one attention op with any mask;
* ``attnsim workload gemm --m M --n N --k K ... -o FILE`` -- one (batched) GEMM;
* ``attnsim workload show FILE [--json]`` -- per-op FLOPs and compulsory bytes, totals;
* ``attnsim workload VARIANT [--seq N ...] -o FILE`` -- one attention variant by name
  (linformer, csat, power, moh, ...; options from the variant's parameters);
* ``attnsim workload --list [--json]`` -- the variants table: paper, IR op/mask, generator
  command, lowering families and predicted speedup over the baseline on H100 and on the
  ternary edge target.

Bad input (impossible shapes, options that do not fit the mask) exits 2 with one line per
problem naming the option, e.g. ``attnsim: error: --window: 300 exceeds --kv-seq 256; ...``.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from rich.console import Console
from rich.table import Table

from attnsim.cli.progress import step_bar
from attnsim.fileio import check_output_path
from attnsim.reports.numbers import format_si
from attnsim.workloads.dtypes import DTYPES
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SharedPrefixMask,
    SlidingWindowMask,
)
from attnsim.workloads.ops import (
    AttentionOp,
    ElementwiseOp,
    EmbeddingOp,
    FftOp,
    GemmOp,
    LinearAttentionOp,
    NormOp,
    Op,
    SoftmaxOp,
    UnknownOp,
)
from attnsim.workloads.serialize import load_workload, save_workload
from attnsim.workloads.synthetic import attention_workload, gemm_workload, random_block_layout
from attnsim.workloads.variants import VARIANTS, Variant, build_variant, list_variants
from attnsim.workloads.workload import Workload

ERRORS: tuple[type[BaseException], ...] = (WorkloadError,)

MASK_CHOICES = ("full", "causal", "window", "neighborhood", "block-sparse", "shared-prefix")


# --------------------------------------------------------------------------------------
# argument parsing helpers
# --------------------------------------------------------------------------------------


def _dims(text: str | None, option: str) -> tuple[int, ...] | None:
    """``"16x16"`` -> ``(16, 16)``; refuses anything but 1-3 positive integers."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise WorkloadError(
            [f"{option}: {text!r} is not a size list; expected integers joined by x, e.g. 7x7"]
        ) from None
    if not 1 <= len(values) <= 3:
        raise WorkloadError([f"{option}: {text!r} has {len(values)} values; expected 1 to 3"])
    for v in values:
        if v < 1:
            raise WorkloadError([f"{option}: {text!r} contains {v}; expected sizes >= 1"])
    return values


def _bools(text: str | None, option: str) -> tuple[bool, ...] | None:
    if text is None:
        return None
    table = {"1": True, "0": False, "true": True, "false": False, "t": True, "f": False}
    parts = text.lower().split("x")
    if any(p not in table for p in parts):
        raise WorkloadError(
            [f"{option}: {text!r} is not a flag list; expected 0/1 joined by x, e.g. 1x0"]
        )
    return tuple(table[p] for p in parts)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise WorkloadError([f"{flag}: {value} is not positive; expected an integer >= 1"])


def _per_axis(values: tuple[int, ...] | None, n: int, option: str, default: int) -> tuple[int, ...]:
    if values is None:
        return (default,) * n
    if len(values) == 1 and n > 1:
        return values * n
    if len(values) != n:
        raise WorkloadError(
            [
                f"{option}: {'x'.join(map(str, values))} has {len(values)} values; expected {n}, one per axis of --spatial"
            ]
        )
    return values


def _only_with(args: argparse.Namespace, masks: dict[str, tuple[str, ...]]) -> None:
    for option, allowed in masks.items():
        if (
            getattr(args, option.lstrip("-").replace("-", "_")) is not None
            and args.mask not in allowed
        ):
            raise WorkloadError(
                [
                    f"{option}: not used by --mask {args.mask}; expected it only with --mask {' or '.join(allowed)}"
                ]
            )


def _build_mask(args: argparse.Namespace) -> tuple[MaskPattern, int, int]:
    """The mask and the (q_len, kv_len) it implies, checking every option against the others."""
    _only_with(
        args,
        {
            "--window": ("window", "neighborhood"),
            "--spatial": ("neighborhood",),
            "--dilation": ("neighborhood",),
            "--stride": ("neighborhood",),
            "--causal-axes": ("neighborhood",),
            "--density": ("block-sparse",),
            "--block": ("block-sparse",),
            "--prefix": ("shared-prefix",),
            "--continuations": ("shared-prefix",),
            "--continuation-len": ("shared-prefix",),
        },
    )
    seq, kv_seq = args.seq, args.kv_seq
    mask_name = args.mask
    if mask_name == "neighborhood":
        spatial = _dims(args.spatial, "--spatial")
        if spatial is None:
            raise WorkloadError(
                ["--spatial: missing; expected the token grid, e.g. --spatial 64x64"]
            )
        n = len(spatial)
        tokens = math.prod(spatial)
        for option, value in (("--seq", seq), ("--kv-seq", kv_seq)):
            if value is not None and value != tokens:
                raise WorkloadError(
                    [
                        f"{option}: {value} does not match --spatial {args.spatial} ({tokens} tokens); "
                        f"expected {tokens} or leave it out"
                    ]
                )
        window = _per_axis(_dims(args.window, "--window"), n, "--window", 0)
        if 0 in window:
            raise WorkloadError(
                ["--window: missing; expected the neighborhood size per axis, e.g. 7x7"]
            )
        dilation = _per_axis(_dims(args.dilation, "--dilation"), n, "--dilation", 1)
        stride = _per_axis(_dims(args.stride, "--stride"), n, "--stride", 1)
        causal_flags = _bools(args.causal_axes, "--causal-axes")
        if causal_flags is not None and len(causal_flags) == 1:
            causal_flags = causal_flags * n
        causal = causal_flags if causal_flags is not None else (False,) * n
        if len(causal) != n:
            raise WorkloadError(
                [f"--causal-axes: {args.causal_axes} has {len(causal)} values; expected {n}"]
            )
        for a in range(n):
            if window[a] * dilation[a] > spatial[a]:
                raise WorkloadError(
                    [
                        f"--window: {window[a]} x dilation {dilation[a]} exceeds axis {a} of --spatial "
                        f"({spatial[a]}); expected window * dilation <= {spatial[a]}"
                    ]
                )
            if stride[a] > window[a]:
                raise WorkloadError(
                    [
                        f"--stride: {stride[a]} exceeds the window {window[a]} on axis {a}; expected 1 <= stride <= window"
                    ]
                )
        mask: MaskPattern = NeighborhoodMask(spatial, window, dilation, stride, causal)
        return mask, tokens, tokens
    if mask_name == "shared-prefix":
        if args.prefix is None or args.continuations is None:
            missing = "--prefix" if args.prefix is None else "--continuations"
            raise WorkloadError(
                [
                    f"{missing}: missing; expected --prefix P --continuations N with --mask shared-prefix"
                ]
            )
        if args.prefix < 0:
            raise WorkloadError([f"--prefix: {args.prefix} is negative; expected an integer >= 0"])
        cont = args.continuation_len
        if cont is None:
            if seq is None:
                raise WorkloadError(
                    [
                        "--seq: missing; expected --seq (or --continuation-len) with --mask shared-prefix"
                    ]
                )
            rest = seq - args.prefix
            if rest < args.continuations or rest % args.continuations:
                raise WorkloadError(
                    [
                        f"--seq: {seq} - --prefix {args.prefix} = {rest} tokens do not split into "
                        f"{args.continuations} equal continuations; expected prefix + N * length"
                    ]
                )
            cont = rest // args.continuations
        total = args.prefix + args.continuations * cont
        for option, value in (("--seq", seq), ("--kv-seq", kv_seq)):
            if value is not None and value != total:
                raise WorkloadError(
                    [
                        f"{option}: {value} does not match --prefix {args.prefix} + {args.continuations} x "
                        f"{cont} = {total}; expected {total}"
                    ]
                )
        mask = SharedPrefixMask(
            args.prefix, args.continuations, cont, not args.bidirectional_prefix
        )
        return mask, total, total
    if seq is None:
        raise WorkloadError(["--seq: missing; expected the query length in tokens"])
    kv = seq if kv_seq is None else kv_seq
    if mask_name == "full":
        return FullMask(), seq, kv
    if mask_name == "causal":
        return CausalMask(), seq, kv
    if mask_name == "window":
        w = _dims(args.window, "--window")
        if w is None or len(w) != 1:
            raise WorkloadError(
                [
                    "--window: missing or not one number; expected the window in tokens, e.g. --window 4096"
                ]
            )
        if w[0] > kv:
            raise WorkloadError(
                [f"--window: {w[0]} exceeds the key length {kv}; expected 1 <= window <= {kv}"]
            )
        return SlidingWindowMask(left=w[0] - 1, right=0), seq, kv
    # block-sparse
    density = 0.1 if args.density is None else args.density
    if not 0.0 < density <= 1.0:
        raise WorkloadError([f"--density: {density} is outside (0, 1]; expected 0 < density <= 1"])
    block = 64 if args.block is None else args.block
    layout = random_block_layout(seq, kv, block, density, args.seed)
    return BlockSparseMask(block, block, layout), seq, kv


# --------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------


def _cmd_attention(args: argparse.Namespace) -> int:
    check_output_path(args.output, option="-o")
    _positive(
        args,
        "batch",
        "heads",
        "kv_heads",
        "seq",
        "kv_seq",
        "head_dim",
        "head_dim_v",
        "continuations",
        "continuation_len",
        "block",
    )
    if args.seed < 0:
        raise WorkloadError([f"--seed: {args.seed} is negative; expected an integer >= 0"])
    heads = args.heads
    kv_heads = heads if args.kv_heads is None else args.kv_heads
    if kv_heads <= heads and heads % kv_heads:
        raise WorkloadError(
            [
                f"--kv-heads: {kv_heads} does not divide --heads {heads}; expected a divisor (GQA groups of equal size)"
            ]
        )
    if kv_heads > heads and kv_heads % heads:
        raise WorkloadError(
            [
                f"--heads: {heads} does not divide --kv-heads {kv_heads}; expected a divisor "
                f"(query-head reduction averages equal groups of KV heads)"
            ]
        )
    mask, q_len, kv_len = _build_mask(args)
    meta: dict[str, str | int | float] = {"command": "attnsim workload attention"}
    if args.mask == "block-sparse":
        meta["seed"] = args.seed
        meta["density_requested"] = 0.1 if args.density is None else args.density
    w = attention_workload(
        args.batch,
        heads,
        q_len,
        args.head_dim,
        kv_heads=kv_heads,
        kv_len=kv_len,
        head_dim_v=args.head_dim_v,
        mask=mask,
        phase=args.phase,
        dtype=args.dtype,
        name=args.name or f"attention-{args.mask}",
        meta=meta,
    )
    return _write(w, args.output)


def _cmd_gemm(args: argparse.Namespace) -> int:
    check_output_path(args.output, option="-o")
    _positive(args, "m", "n", "k", "batch")
    if args.weight_dtype is not None and args.weight_operand is None:
        raise WorkloadError(
            ["--weight-dtype: given without --weight-operand; expected --weight-operand a|b too"]
        )
    w = gemm_workload(
        args.m,
        args.n,
        args.k,
        batch=args.batch,
        dtype=args.dtype,
        weight_operand=args.weight_operand,
        weight_dtype=args.weight_dtype,
    )
    return _write(w, args.output)


def _cmd_variant(args: argparse.Namespace) -> int:
    v: Variant = VARIANTS[args.variant]
    check_output_path(args.output, option="-o")
    kwargs = {p.name: getattr(args, p.name) for p in v.params}
    return _write(build_variant(v.name, **kwargs), args.output)


def _int_list(text: str | None, option: str, default: tuple[int, ...]) -> tuple[int, ...]:
    if text is None:
        return default
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise WorkloadError(
            [f"{option}: {text!r} is not a list of integers; expected e.g. 4096,16384"]
        ) from None
    if not values or min(values) < 1:
        raise WorkloadError([f"{option}: {text!r} has a length < 1; expected lengths >= 1"])
    return values


def _fmt_speedup(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _cmd_list(args: argparse.Namespace) -> int:
    if not args.list:
        raise WorkloadError(
            ["workload: no SUBCOMMAND given; expected one of attention, gemm, show, a variant "
             "name, or --list (see attnsim workload --help)"]
        )  # fmt: skip
    from attnsim.variant_table import DEFAULT_TARGETS, target_lengths, variant_rows

    seqs = _int_list(args.seqs, "--seqs", (4096, 16384))
    targets = tuple(args.targets.split(",")) if args.targets else DEFAULT_TARGETS
    err = Console(stderr=True)
    # a bar for people, not for pipes
    with step_bar(err, disable=args.no_speedups or not err.is_terminal) as bar:
        task = bar.add_task("simulating speedups", total=len(VARIANTS))

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"simulating speedups: {name}")

        rows = variant_rows(
            targets=targets, seqs=seqs, speedups=not args.no_speedups, progress=step
        )
    if args.list_json:
        print(json.dumps({"variants": [r.to_dict() for r in rows]}, indent=2))
        return 0
    table = Table(title="attention variants (speedup = baseline latency / variant latency)")
    for col in ("variant", "paper", "IR op / mask", "families (GPU; CPU)", "baseline"):
        table.add_column(col, overflow="fold")
    lengths = target_lengths(targets, seqs)
    speed_cols = [(t, s) for t in lengths for s in lengths[t]] if not args.no_speedups else []
    for t, s in speed_cols:
        table.add_column(f"{t.split('-')[0]} {s / 1024:g}k", justify="right")
    for r in rows:
        fams = ", ".join(r.families) + ("; " + ", ".join(r.cpu_families) if r.cpu_families else "")
        cells = [r.name, r.paper, r.ir, fams, r.baseline]
        cells += [_fmt_speedup(r.speedup[t][s]) for t, s in speed_cols]
        table.add_row(*cells)
    Console(width=220, soft_wrap=False, highlight=False).print(table)
    for r in rows:
        for t, why in r.not_run.items():
            print(f"{r.name} on {t}: n/a ({why})")
            break
    print(
        "generate one: attnsim workload VARIANT [options] -o FILE (see attnsim workload VARIANT --help)"
    )
    return 0


def _write(w: Workload, path: str) -> int:
    save_workload(w, path, option="-o")
    n_ops = sum(1 for _ in w.flat())
    print(
        f"wrote {path}: {n_ops} op(s), {_si(w.total_flops(), 'FLOP')}, {_si(w.total_bytes(), 'B')}"
    )
    return 0


# --------------------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------------------


def _si(value: float, unit: str) -> str:
    return format_si(value, unit)


def _shape(op: Op) -> str:
    """A short human description of an op's sizes."""
    if isinstance(op, AttentionOp):
        return op.describe()
    if isinstance(op, GemmOp):
        w = f" w={op.weight_operand}:{op.weight_dtype or op.dtype}" if op.weight_operand else ""
        return f"{op.batch}x[{op.m}x{op.k}]@[{op.k}x{op.n}]{w}"
    if isinstance(op, SoftmaxOp):
        return f"{op.rows}x{op.cols}"
    if isinstance(op, NormOp):
        return f"{op.norm} {op.rows}x{op.cols}"
    if isinstance(op, ElementwiseOp):
        return f"{op.function} {op.numel} x{op.n_inputs} in"
    if isinstance(op, FftOp):
        return f"{op.batch}x{op.channels} {'i' if op.inverse else ''}fft {'x'.join(map(str, op.lengths))}"
    if isinstance(op, LinearAttentionOp):
        return (
            f"B{op.batch} H{op.heads} T{op.seq_len} d{op.head_dim} chunk{op.chunk}"
            f"{' decay' if op.decay else ''} {op.phase}"
        )
    if isinstance(op, EmbeddingOp):
        return f"{op.num_tokens} of {op.vocab}x{op.dim}"
    if isinstance(op, UnknownOp):
        return op.aten
    return op.describe()


def show_dict(w: Workload) -> dict[str, Any]:
    """The ``show --json`` document: per-op rows and totals (FLOPs and bytes per instance)."""
    ops: list[dict[str, Any]] = []
    for block, op in w.flat():
        b = op.io_bytes()
        row: dict[str, Any] = {
            "block": block.name,
            "name": op.name,
            "kind": op.kind,
            "dtype": op.dtype,
            "count": block.count,
            "flops": op.flops(),
            "bytes": b.total,
            "bytes_inputs": b.inputs,
            "bytes_outputs": b.outputs,
            "bytes_weights": b.weights,
            "shape": _shape(op),
        }
        if isinstance(op, AttentionOp):
            row.update(op.spec.to_dict())
            row["live_pairs"] = op.spec.live_pairs
            row["density"] = op.spec.density
        ops.append(row)
    totals = {
        "flops": w.total_flops(),
        "bytes": w.total_bytes(),
        "ops": len(ops),
        "op_instances": sum(r["count"] for r in ops),
        "tokens": w.tokens,
    }
    return {"name": w.name, "meta": dict(w.meta), "ops": ops, "totals": totals}


def _cmd_show(args: argparse.Namespace) -> int:
    w = load_workload(args.file)
    doc = show_dict(w)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    table = Table(title=f"workload {w.name}" + (f" ({w.tokens} tokens)" if w.tokens else ""))
    for col in ("block", "op", "kind", "shape", "dtype", "FLOPs", "bytes", "count"):
        table.add_column(col, justify="right" if col in ("FLOPs", "bytes", "count") else "left")
    for row in doc["ops"]:
        table.add_row(
            row["block"],
            row["name"],
            row["kind"],
            row["shape"],
            row["dtype"],
            _si(row["flops"], "FLOP"),
            _si(row["bytes"], "B"),
            str(row["count"]),
        )
    t = doc["totals"]
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        f"{t['op_instances']} op instances",
        "",
        _si(t["flops"], "FLOP"),
        _si(t["bytes"], "B"),
        "",
    )
    Console(width=160, soft_wrap=False, highlight=False).print(table)
    return 0


# --------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``attnsim workload {attention,gemm,show}``."""
    p = subparsers.add_parser(
        "workload",
        help="make synthetic workloads and show workload files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--list", action="store_true", help="list the attention variants (table; --json for JSON)"
    )
    p.add_argument("--json", dest="list_json", action="store_true", help="with --list: JSON")
    p.add_argument(
        "--seqs", help="with --list: sequence lengths of the speedup columns (default 4096,16384)"
    )
    p.add_argument(
        "--targets",
        help="with --list: targets of the speedup columns, NAME or NAME@LENGTH+LENGTH for "
        "lengths of its own (default h100-sxm5-80gb,vitallm-16nm@1024+2304+4096)",
    )
    p.add_argument(
        "--no-speedups", action="store_true", help="with --list: skip the simulated speedups"
    )
    p.set_defaults(func=_cmd_list)
    sub = p.add_subparsers(dest="workload_command", metavar="SUBCOMMAND")
    sub.required = False

    a = sub.add_parser("attention", help="one attention op with a mask pattern")
    a.add_argument("--batch", type=int, default=1, help="sequences per batch (default 1)")
    a.add_argument("--heads", type=int, required=True, help="query heads")
    a.add_argument(
        "--kv-heads",
        type=int,
        help="K/V heads (default --heads; fewer = GQA/MQA, more = query-head reduction)",
    )
    a.add_argument(
        "--seq", type=int, help="query length in tokens (derived for neighborhood/shared-prefix)"
    )
    a.add_argument(
        "--kv-seq",
        type=int,
        help="key/value length in tokens (default --seq; the KV cache for decode)",
    )
    a.add_argument("--head-dim", type=int, required=True, help="elements per head (Q/K)")
    a.add_argument("--head-dim-v", type=int, help="elements per head of V (default --head-dim)")
    a.add_argument(
        "--mask", choices=MASK_CHOICES, default="full", help="mask pattern (default full)"
    )
    a.add_argument("--window", help="window in tokens (window), or per axis WxW[xW] (neighborhood)")
    a.add_argument("--spatial", help="token grid X[xY[xZ]] for neighborhood; tokens = product")
    a.add_argument("--dilation", help="per-axis dilation for neighborhood (default 1)")
    a.add_argument("--stride", help="per-axis stride for neighborhood (default 1)")
    a.add_argument("--causal-axes", help="per-axis causal flags 0/1 for neighborhood, e.g. 1x0x0")
    a.add_argument(
        "--density",
        type=float,
        help="fraction of live blocks for block-sparse, in (0, 1] (default 0.1)",
    )
    a.add_argument("--block", type=int, help="block size in tokens for block-sparse (default 64)")
    a.add_argument(
        "--seed", type=int, default=0, help="seed of the block-sparse layout (default 0)"
    )
    a.add_argument("--prefix", type=int, help="shared prefix tokens for shared-prefix")
    a.add_argument("--continuations", type=int, help="number of continuations for shared-prefix")
    a.add_argument(
        "--continuation-len", type=int, help="tokens per continuation (default from --seq)"
    )
    a.add_argument(
        "--bidirectional-prefix", action="store_true", help="prefix tokens attend each other fully"
    )
    a.add_argument("--phase", choices=("prefill", "decode"), default="prefill")
    a.add_argument("--dtype", choices=DTYPES, default="fp16")
    a.add_argument("--name", help="workload name (default attention-MASK)")
    a.add_argument("-o", "--output", required=True, help="workload JSON file to write")
    a.set_defaults(func=_cmd_attention)

    g = sub.add_parser("gemm", help="one (batched) GEMM C[m,n] = A[m,k] @ B[k,n]")
    g.add_argument("--m", type=int, required=True)
    g.add_argument("--n", type=int, required=True)
    g.add_argument("--k", type=int, required=True)
    g.add_argument("--batch", type=int, default=1)
    g.add_argument("--dtype", choices=DTYPES, default="fp16")
    g.add_argument(
        "--weight-operand", choices=("a", "b"), help="which operand is a weight (read once)"
    )
    g.add_argument(
        "--weight-dtype", choices=DTYPES, help="dtype of the weight operand (e.g. ternary)"
    )
    g.add_argument("-o", "--output", required=True, help="workload JSON file to write")
    g.set_defaults(func=_cmd_gemm)

    s = sub.add_parser("show", help="per-op FLOPs and bytes of a workload file")
    s.add_argument("file", help="workload JSON file")
    s.add_argument("--json", action="store_true", help="print {ops: [...], totals: {...}} as JSON")
    s.set_defaults(func=_cmd_show)

    for v in list_variants():
        _add_variant(sub, v)


def _add_variant(sub: Any, v: Variant) -> None:
    """``attnsim workload NAME``: options from the variant's parameters."""
    vp = sub.add_parser(
        v.name,
        help=f"variant: {v.title}",
        description=f"{v.title}. Paper: {v.paper}. IR: {v.ir}. Lowering: {', '.join(v.families)}. "
        f"Speedups are against {v.baseline_label}.",
    )
    for param in v.params:
        kwargs: dict[str, Any] = {
            "type": param.type,
            "default": param.default,
            "help": f"{param.help} (default {param.default})",
        }
        if param.choices:
            kwargs["choices"] = param.choices
        vp.add_argument("--" + param.name.replace("_", "-"), dest=param.name, **kwargs)
    vp.add_argument("-o", "--output", required=True, help="workload JSON file to write")
    vp.set_defaults(func=_cmd_variant, variant=v.name)
