"""The attention variants this project models, by name: paper, IR, generator, baseline.

:data:`VARIANTS` maps a CLI name (``attnsim workload NAME ...``) to a :class:`Variant`:
where it comes from, which IR op or mask carries it, which lowering families run it,
its parameters (with defaults and help, from which the CLI builds its options) and a
generator that returns a one-block :class:`~workloads.workload.Workload` — the variant's
token mixer for ``batch`` sequences of ``seq`` tokens, plus the routing/search ops it
needs. ``baseline`` gives the op it replaces at the same sizes (dense attention, causal
when the variant is causal; the GELU MLP for KAT), which is what speedups are against.

Adding a variant is one :func:`register_variant` call. Hardware-free: which family a
target actually picks is ``sim``'s business; ``families`` lists those designed for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnsim.registry import Registry

from .errors import WorkloadError
from .masks import CausalMask, FullMask, MaskPattern
from .masks_sparse import BlockTopKMask, ClusterMask, PowerMask, VerticalSlashMask
from .ops import AttentionOp, ElementwiseOp, FftOp, GemmOp, LinearAttentionOp, Op
from .ops_variants import (
    CompressedSensingAttentionOp,
    DifferentialAttentionOp,
    GatheredAttentionOp,
    GraphWaveletOp,
    GroupRationalOp,
    HaarWaveletMixerOp,
    LowRankAttentionOp,
    MixtureOfHeadsAttentionOp,
    SpectralDictionaryMixerOp,
)
from .spec import AttentionSpec
from .synthetic import (
    block_sparse_attention,
    neighborhood_attention,
    shared_prefix_attention,
)
from .workload import Block, Workload

__all__ = [
    "VARIANTS",
    "Param",
    "Variant",
    "build_variant",
    "list_variants",
    "register_variant",
]

Kw = Mapping[str, Any]

#: Families that run a plain fused-attention op on GPUs (the target picks the best).
FUSED_GPU = ("flash-attention-3", "flash-attention-2", "triton-bundled")
#: The bundled CPU kernel, which runs every mask (partial tiles by bitmap).
FUSED_CPU = ("numba-flash-cpu",)


@dataclass(frozen=True)
class Param:
    """One generator parameter: CLI option ``--name`` (underscores become dashes)."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None


#: Parameters every attention variant takes.
COMMON: tuple[Param, ...] = (
    Param("batch", int, 1, "sequences per batch"),
    Param("seq", int, 4096, "tokens per sequence"),
    Param("heads", int, 32, "query heads"),
    Param("head_dim", int, 128, "elements per head"),
    Param("dtype", str, "bf16", "element type of activations", ("fp32", "bf16", "fp16", "fp8")),
)
#: Parameters of token mixers that work on the model width instead of heads.
MIXER: tuple[Param, ...] = (
    Param("batch", int, 1, "sequences per batch"),
    Param("seq", int, 4096, "tokens per sequence"),
    Param("dim", int, 4096, "model width (channels)"),
    Param("dtype", str, "bf16", "element type of activations", ("fp32", "bf16", "fp16", "fp8")),
)


@dataclass(frozen=True)
class Variant:
    """One attention variant (see module docstring).

    Attributes:
        name: CLI name. title: one line. paper: citation (authors, year, arXiv id).
        ir: the IR op kind and/or mask kind that carries it.
        families: lowering families designed for it (GPU targets).
        cpu_families: families on the host CPU target ("" when only the generic model).
        params: generator parameters after the common ones.
        build: ``build(**params) -> Workload``.
        baseline: ``baseline(**params) -> Workload`` — what the speedup is against.
        baseline_label: what the baseline is.
        zoo: zoo models built on it.
    """

    name: str
    title: str
    paper: str
    ir: str
    families: tuple[str, ...]
    params: tuple[Param, ...]
    build: Callable[..., Workload]
    baseline: Callable[..., Workload]
    baseline_label: str = "dense attention"
    cpu_families: tuple[str, ...] = ()
    zoo: tuple[str, ...] = ()
    causal: bool = False

    def defaults(self) -> dict[str, Any]:
        """Every parameter at its default."""
        return {p.name: p.default for p in self.params}

    def command(self) -> str:
        """The generator command with the default sizes."""
        return f"attnsim workload {self.name} -o {self.name}.json"


VARIANTS: Registry[Variant] = Registry("attention variant", WorkloadError)


def register_variant(v: Variant) -> Variant:
    """Add ``v`` to :data:`VARIANTS`; a duplicate name is refused."""
    return VARIANTS.register(v.name, v)


def list_variants() -> list[Variant]:
    """Every variant in registration order (baselines first, then by group)."""
    return [VARIANTS[k] for k in VARIANTS]


def build_variant(name: str, **overrides: Any) -> Workload:
    """The workload of variant ``name`` with ``overrides`` of its defaults."""
    v = VARIANTS.lookup(name, where="variant")
    args = v.defaults()
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise WorkloadError(
            [
                f"variant {name}: unknown parameter {unknown[0]!r}; expected one of "
                f"{', '.join(sorted(args))}"
            ]
        )
    args.update(overrides)
    return v.build(**args)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _workload(name: str, ops: list[Op], tokens: int, kw: Kw) -> Workload:
    meta: dict[str, str | int | float] = {"generator": f"variant {name}"}
    for k, v in kw.items():
        meta[k] = v if isinstance(v, int | float | str) else str(v)
    return Workload(name=name, blocks=(Block(name=name, ops=tuple(ops)),), tokens=tokens, meta=meta)


def _spec(kw: Kw, mask: MaskPattern, **over: Any) -> AttentionSpec:
    args: dict[str, Any] = {
        "batch": kw["batch"],
        "q_heads": kw["heads"],
        "kv_heads": kw.get("kv_heads", kw["heads"]),
        "q_len": kw["seq"],
        "kv_len": kw["seq"],
        "head_dim_qk": kw["head_dim"],
        "head_dim_v": kw["head_dim"],
        "mask": mask,
    }
    args.update(over)
    return AttentionSpec(**args)


def _attention(
    name: str, kw: Kw, mask: MaskPattern, extra: list[Op] | None = None, **over: Any
) -> Workload:
    op = AttentionOp(name=name, dtype=kw["dtype"], spec=_spec(kw, mask, **over))
    ops = [*(extra or []), op]
    return _workload(name, ops, kw["batch"] * kw["seq"], kw)


def dense_baseline(**kw: Any) -> Workload:
    """Bidirectional multi-head attention (as many K/V heads as query heads) at the sizes."""
    return _attention("dense", kw, FullMask(), kv_heads=kw["heads"])


def causal_baseline(**kw: Any) -> Workload:
    """Causal multi-head attention (as many K/V heads as query heads) at the sizes."""
    return _attention("causal", kw, CausalMask(), kv_heads=kw["heads"])


def mixer_baseline(**kw: Any) -> Workload:
    """Dense attention over ``dim`` channels as ``dim/128`` heads of 128 (the replaced layer)."""
    heads = max(1, kw["dim"] // 128)
    args = {
        "batch": kw["batch"],
        "seq": kw["seq"],
        "heads": heads,
        "head_dim": 128,
        "dtype": kw["dtype"],
    }
    return dense_baseline(**args)


def _need(cond: bool, line: str) -> None:
    if not cond:
        raise WorkloadError([line])


def _positive(kw: Kw, *names: str) -> None:
    for n in names:
        v = kw[n]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise WorkloadError(
                [f"--{n.replace('_', '-')}: {v!r} is not positive; expected an integer >= 1"]
            )


def _dims(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in str(text).lower().split("x"))
    except ValueError:
        raise WorkloadError(
            [f"{option}: {text!r} is not a size list; expected integers joined by x, e.g. 64x64"]
        ) from None
    _need(all(v >= 1 for v in values), f"{option}: {text!r} has a size < 1; expected sizes >= 1")
    return values


# --------------------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------------------


def _dense(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim")
    return dense_baseline(**kw)


def _causal(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim")
    return causal_baseline(**kw)


def _gqa(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "kv_heads")
    _need(
        kw["kv_heads"] <= kw["heads"] and kw["heads"] % kw["kv_heads"] == 0,
        f"--kv-heads: {kw['kv_heads']} does not divide --heads {kw['heads']}; expected a divisor",
    )
    return _attention("gqa", kw, CausalMask())


def _sqa(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "query_heads", "kv_heads")
    hq, hkv = kw["query_heads"], kw["kv_heads"]
    _need(
        hq < kw["heads"],
        f"--query-heads: {hq} is not fewer than --heads {kw['heads']}; expected query-head reduction",
    )
    _need(
        max(hq, hkv) % min(hq, hkv) == 0,
        f"--kv-heads: {hkv} and --query-heads {hq} do not divide one another; expected equal groups",
    )
    return _attention("sqa", {**kw, "heads": hq}, CausalMask(), kv_heads=hkv)


def _window(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "window")
    from .masks import SlidingWindowMask

    _need(
        kw["window"] <= kw["seq"],
        f"--window: {kw['window']} exceeds --seq {kw['seq']}; expected <= seq",
    )
    return _attention("sliding_window", kw, SlidingWindowMask(left=kw["window"] - 1))


def _neighborhood(**kw: Any) -> Workload:
    _positive(kw, "batch", "heads", "head_dim")
    spatial = _dims(kw["spatial"], "--spatial")
    window = _dims(kw["window"], "--window")
    if len(window) == 1:
        window = window * len(spatial)
    _need(
        len(window) == len(spatial),
        f"--window: {kw['window']} has {len(window)} values; expected {len(spatial)}",
    )
    for a, (w, s) in enumerate(zip(window, spatial, strict=True)):
        _need(w <= s, f"--window: {w} exceeds axis {a} of --spatial ({s}); expected window <= {s}")
    wl = neighborhood_attention(
        kw["batch"], kw["heads"], spatial, window, kw["head_dim"], dtype=kw["dtype"]
    )
    return _workload("neighborhood", [op for _, op in wl.flat()], wl.tokens or 0, kw)


def _block_sparse(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "block")
    _need(
        0 < kw["density"] <= 1,
        f"--density: {kw['density']} is outside (0, 1]; expected 0 < density <= 1",
    )
    wl = block_sparse_attention(
        kw["batch"], kw["heads"], kw["seq"], kw["head_dim"], kw["density"],
        block=kw["block"], seed=kw["seed"], dtype=kw["dtype"],
    )  # fmt: skip
    return _workload("block_sparse", [op for _, op in wl.flat()], wl.tokens or 0, kw)


def _shared_prefix(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "continuations")
    frac, n, c = kw["prefix_fraction"], kw["seq"], kw["continuations"]
    _need(0 <= frac < 1, f"--prefix-fraction: {frac} is outside [0, 1); expected a fraction")
    length = int((n - round(frac * n)) // c)
    _need(
        length >= 1,
        f"--continuations: {c} do not fit the {n - round(frac * n)} tokens after the prefix; expected fewer",
    )
    prefix = n - c * length  # the prefix takes the remainder so the total is --seq
    wl = shared_prefix_attention(
        kw["batch"], kw["heads"], prefix, c, length, kw["head_dim"], dtype=kw["dtype"]
    )
    return _workload("shared_prefix", [op for _, op in wl.flat()], wl.tokens or 0, kw)


def _lightning(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "chunk")
    op = LinearAttentionOp(
        name="lightning", dtype=kw["dtype"], batch=kw["batch"], heads=kw["heads"], seq_len=kw["seq"],
        head_dim=kw["head_dim"], chunk=kw["chunk"], decay=bool(kw["decay"]),
    )  # fmt: skip
    return _workload("lightning", [op], kw["batch"] * kw["seq"], kw)


def _fnet(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "dim")
    op = FftOp(
        name="fnet_fft", dtype=kw["dtype"], batch=kw["batch"], lengths=(kw["seq"], kw["dim"])
    )
    return _workload("fnet", [op], kw["batch"] * kw["seq"], kw)


def _linformer(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "proj")
    _need(
        kw["proj"] <= kw["seq"],
        f"--proj: {kw['proj']} exceeds --seq {kw['seq']}; expected proj <= seq",
    )
    op = LowRankAttentionOp(
        name="linformer", dtype=kw["dtype"], batch=kw["batch"], heads=kw["heads"], q_len=kw["seq"],
        kv_len=kw["seq"], proj=kw["proj"], head_dim=kw["head_dim"], head_dim_v=kw["head_dim"],
        share=kw["share"],
    )  # fmt: skip
    return _workload("linformer", [op], kw["batch"] * kw["seq"], kw)


def _csat(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "measurements")
    _need(
        kw["measurements"] <= kw["seq"],
        f"--measurements: {kw['measurements']} exceeds --seq {kw['seq']}; expected measurements <= seq",
    )
    _need(kw["iters"] >= 0, f"--iters: {kw['iters']} is negative; expected an integer >= 0")
    op = CompressedSensingAttentionOp(
        name="csat", dtype=kw["dtype"], batch=kw["batch"], heads=kw["heads"], seq=kw["seq"],
        measurements=kw["measurements"], head_dim=kw["head_dim"], iters=kw["iters"],
    )  # fmt: skip
    return _workload("csat", [op], kw["batch"] * kw["seq"], kw)


def _sdict(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "dim", "atoms", "active")
    _need(
        kw["active"] <= kw["atoms"],
        f"--active: {kw['active']} exceeds --atoms {kw['atoms']}; expected active <= atoms",
    )
    op = SpectralDictionaryMixerOp(
        name="sdict", dtype=kw["dtype"], batch=kw["batch"], seq=kw["seq"], dim=kw["dim"],
        atoms=kw["atoms"], active=kw["active"],
    )  # fmt: skip
    return _workload("sdict", [op], kw["batch"] * kw["seq"], kw)


def _lmwt(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "dim", "levels")
    _need(
        (1 << kw["levels"]) <= 2 * kw["seq"],
        f"--levels: {kw['levels']} halves --seq {kw['seq']} below one token; expected fewer levels",
    )
    op = HaarWaveletMixerOp(
        name="lmwt",
        dtype=kw["dtype"],
        batch=kw["batch"],
        seq=kw["seq"],
        dim=kw["dim"],
        levels=kw["levels"],
    )
    return _workload("lmwt", [op], kw["batch"] * kw["seq"], kw)


def _gwt(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "dim", "scales", "order")
    _need(
        kw["degree"] > 0,
        f"--degree: {kw['degree']} is not positive; expected the mean neighbours per token",
    )
    nnz = min(kw["seq"] * kw["seq"], kw["seq"] + int(round(kw["degree"] * kw["seq"])))
    op = GraphWaveletOp(
        name="gwt", dtype=kw["dtype"], batch=kw["batch"], nodes=kw["seq"], dim=kw["dim"], nnz=nnz,
        scales=kw["scales"], order=kw["order"],
    )  # fmt: skip
    return _workload("gwt", [op], kw["batch"] * kw["seq"], kw)


def _kat(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "dim", "mlp_ratio", "groups")
    _need(
        kw["dim"] % kw["groups"] == 0,
        f"--groups: {kw['groups']} does not divide --dim {kw['dim']}; expected a divisor",
    )
    t, d, h = kw["batch"] * kw["seq"], kw["dim"], kw["dim"] * kw["mlp_ratio"]
    dt = kw["dtype"]
    ops: list[Op] = [
        GroupRationalOp(name="rational1", dtype=dt, rows=t, cols=d, groups=kw["groups"]),
        GemmOp(name="fc1", dtype=dt, m=t, n=h, k=d, weight_operand="b"),
        GroupRationalOp(name="rational2", dtype=dt, rows=t, cols=h, groups=kw["groups"]),
        GemmOp(name="fc2", dtype=dt, m=t, n=d, k=h, weight_operand="b"),
    ]
    return _workload("kat", ops, t, kw)


def kat_baseline(**kw: Any) -> Workload:
    """The GELU MLP KAT replaces: fc1, GELU, fc2."""
    t, d, h = kw["batch"] * kw["seq"], kw["dim"], kw["dim"] * kw["mlp_ratio"]
    dt = kw["dtype"]
    ops: list[Op] = [
        GemmOp(name="fc1", dtype=dt, m=t, n=h, k=d, weight_operand="b"),
        ElementwiseOp(name="gelu", dtype=dt, numel=t * h, flops_per_element=8.0, function="gelu"),
        GemmOp(name="fc2", dtype=dt, m=t, n=d, k=h, weight_operand="b"),
    ]
    return _workload("mlp", ops, t, kw)


def _routing(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "cluster")
    _need(
        kw["cluster"] <= kw["seq"],
        f"--cluster: {kw['cluster']} exceeds --seq {kw['seq']}; expected cluster <= seq",
    )
    b, h, n, d, dt = kw["batch"], kw["heads"], kw["seq"], kw["head_dim"], kw["dtype"]
    k = -(-n // kw["cluster"])
    qkv = b * h * n * d
    extra: list[Op] = [
        # scores of every query and key against its head's k centroids
        GemmOp(name="centroid_scores", dtype=dt, m=2 * n * b, n=k, k=d, batch=h),
        ElementwiseOp(name="cluster_topk", dtype=dt, numel=b * h * 2 * n * k, function="compare"),
        ElementwiseOp(
            name="gather_qkv", dtype=dt, numel=3 * qkv, flops_per_element=0.0, function="gather"
        ),
    ]
    wl = _attention(
        "routing", kw, ClusterMask(cluster=kw["cluster"], causal=bool(kw["causal"])), extra
    )
    scatter = ElementwiseOp(
        name="scatter_out", dtype=dt, numel=qkv, flops_per_element=0.0, function="scatter"
    )
    return _workload("routing", [*(op for _, op in wl.flat()), scatter], b * n, kw)


def _power(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "block")
    mask = PowerMask(
        block=kw["block"], sink_blocks=kw["sink_blocks"], local_blocks=kw["local_blocks"]
    )
    return _attention("power", kw, mask)


def _vertical_slash(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "verticals", "slashes")
    n = kw["seq"]
    rng = np.random.default_rng(kw["seed"])
    sink, local = min(kw["sink"], n), min(kw["local"], n)
    nv, ns = min(kw["verticals"], n), min(kw["slashes"], n)
    verts = set(range(sink))
    while len(verts) < nv:  # columns: uniform over the sequence
        verts |= {int(v) for v in rng.choice(n, size=nv - len(verts), replace=False)}
    # diagonals: log-uniform offsets, most near the main diagonal (as the top-k diagonals
    # of MInference's estimate are); the local window always kept
    slashes = set(range(local))
    for _ in range(256):  # rounds; sampling cannot fill nearly every offset of a short sequence
        if len(slashes) >= ns:
            break
        offsets = np.exp(rng.uniform(0.0, np.log(n), size=ns - len(slashes))).astype(np.int64) - 1
        slashes |= {int(s) for s in np.clip(offsets, 0, n - 1)}
    # what sampling left unfilled: the free offsets nearest the diagonal
    slashes |= set(itertools.islice((s for s in range(n) if s not in slashes), ns - len(slashes)))
    mask = VerticalSlashMask(
        verticals=tuple(sorted(verts))[:nv] if nv >= sink else tuple(sorted(verts)),
        slashes=tuple(sorted(slashes)),
    )
    op = GatheredAttentionOp(name="vertical_slash", dtype=kw["dtype"], spec=_spec(kw, mask))
    return _workload("vertical_slash", [op], kw["batch"] * n, kw)


def _block_topk(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "block")
    mask = BlockTopKMask(
        block=kw["block"], k=kw["k"], seed=kw["seed"], sink_blocks=1, local_blocks=1
    )
    b, h, n, d, dt = kw["batch"], kw["heads"], kw["seq"], kw["head_dim"], kw["dtype"]
    nb = -(-n // kw["block"])
    extra: list[Op] = [  # block-to-block estimation: pooled queries x pooled keys, top-k per row
        ElementwiseOp(
            name="pool_qk",
            dtype=dt,
            numel=2 * b * h * nb * d,
            n_inputs=kw["block"],
            function="mean",
        ),
        GemmOp(name="block_scores", dtype=dt, m=nb, n=nb, k=d, batch=b * h),
        ElementwiseOp(name="block_topk", dtype=dt, numel=b * h * nb * nb, function="compare"),
    ]
    return _attention("block_topk", kw, mask, extra)


def _superlinear(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "span", "k")
    b, h, n, d, dt = kw["batch"], kw["heads"], kw["seq"], kw["head_dim"], kw["dtype"]
    spans = -(-n // kw["span"])
    extra: list[Op] = [  # span search: every query scores every span representative
        GemmOp(name="span_search", dtype=dt, m=n, n=spans, k=d, batch=b * h),
        ElementwiseOp(name="span_topk", dtype=dt, numel=b * h * n * spans, function="compare"),
    ]
    mask = BlockTopKMask(
        block=kw["span"], k=kw["k"], seed=kw["seed"], sink_blocks=0, local_blocks=1
    )
    return _attention("superlinear", kw, mask, extra)


def _moh(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "active_heads")
    _need(
        kw["active_heads"] <= kw["heads"],
        f"--active-heads: {kw['active_heads']} exceeds --heads {kw['heads']}; expected active <= heads",
    )
    b, h, n, d, dt = kw["batch"], kw["heads"], kw["seq"], kw["head_dim"], kw["dtype"]
    mask: MaskPattern = CausalMask() if kw["causal"] else FullMask()
    ops: list[Op] = [
        GemmOp(name="head_router", dtype=dt, m=b * n, n=h, k=h * d, weight_operand="b"),
        ElementwiseOp(name="head_topk", dtype=dt, numel=b * n * h, function="compare"),
        MixtureOfHeadsAttentionOp(
            name="moh", dtype=dt, spec=_spec(kw, mask), active_heads=kw["active_heads"]
        ),
    ]
    return _workload("moh", ops, b * n, kw)


def _gda(**kw: Any) -> Workload:
    _positive(kw, "batch", "seq", "heads", "head_dim", "noise_heads")
    _need(
        kw["noise_heads"] <= kw["heads"] and kw["heads"] % kw["noise_heads"] == 0,
        f"--noise-heads: {kw['noise_heads']} does not divide --heads {kw['heads']}; expected a divisor",
    )
    op = DifferentialAttentionOp(
        name="gda", dtype=kw["dtype"], spec=_spec(kw, CausalMask()), noise_heads=kw["noise_heads"]
    )
    return _workload("gda", [op], kw["batch"] * kw["seq"], kw)


# --------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------

_P = Param
_VARIANTS: tuple[Variant, ...] = (
    Variant("dense", "dense bidirectional attention (the baseline)", "Vaswani et al. 2017",
            "attention + mask full", FUSED_GPU, COMMON, _dense, dense_baseline, cpu_families=FUSED_CPU,
            zoo=("vit-b16",)),
    Variant("causal", "causal attention (decoder prefill)", "Vaswani et al. 2017",
            "attention + mask causal", FUSED_GPU, COMMON, _causal, causal_baseline,
            "causal dense attention", FUSED_CPU, ("llama3-8b",), causal=True),
    Variant("gqa", "grouped-query attention (kv_heads = 1: MQA)", "Ainslie et al. 2023, arXiv 2305.13245",
            "attention (kv_heads < q_heads)", FUSED_GPU,
            (*COMMON, _P("kv_heads", int, 8, "K/V heads (1 = multi-query)")), _gqa, causal_baseline,
            "causal dense attention", FUSED_CPU, ("llama3-8b", "bitnet-b1.58-2b"), causal=True),
    Variant("sqa", "Sparse Query Attention: fewer query heads (sSQA: H/2 query and K/V heads)",
            "Filipek 2025, arXiv 2510.01817", "attention (q_heads < heads of the MHA it replaces)",
            FUSED_GPU,
            (*COMMON, _P("query_heads", int, 16, "query heads (fewer than --heads)"),
             _P("kv_heads", int, 16, "K/V heads")), _sqa, causal_baseline,
            "causal multi-head attention with --heads heads", FUSED_CPU, zoo=("sqat-m",),
            causal=True),
    Variant("sliding-window", "causal sliding window", "Beltagy et al. 2020; Jiang et al. 2023 (Mistral)",
            "attention + mask sliding_window", FUSED_GPU,
            (*COMMON, _P("window", int, 1024, "window in tokens (query included)")), _window,
            causal_baseline, "causal dense attention", FUSED_CPU, ("mistral-7b",), causal=True),
    Variant("neighborhood", "2-D/3-D neighborhood attention", "Hassani et al. 2023 (NAT); 2025 (GNA)",
            "attention + mask neighborhood", FUSED_GPU,
            (_P("batch", int, 1, "images per batch"), _P("spatial", str, "64x64", "token grid, e.g. 64x64"),
             _P("window", str, "7x7", "neighborhood per axis, e.g. 7x7"), *COMMON[2:]),
            _neighborhood, lambda **kw: dense_baseline(**{**kw, "seq": int(np.prod(_dims(kw["spatial"], "--spatial")))}),
            cpu_families=FUSED_CPU, zoo=("nat-tiny",)),
    Variant("block-sparse", "random block-sparse layout (BigBird-like)", "Zaheer et al. 2020",
            "attention + mask block_sparse", FUSED_GPU,
            (*COMMON, _P("density", float, 0.1, "fraction of live blocks"), _P("block", int, 64, "block size in tokens"),
             _P("seed", int, 0, "seed of the layout")), _block_sparse, dense_baseline, cpu_families=FUSED_CPU,
            zoo=("bigbird-roberta-base",)),
    Variant("shared-prefix", "one prompt shared by N continuations", "Juravsky et al. 2024 (Hydragen)",
            "attention + mask shared_prefix", FUSED_GPU,
            (*COMMON, _P("prefix_fraction", float, 0.5, "share of --seq in the shared prompt"),
             _P("continuations", int, 8, "continuations")),
            _shared_prefix, causal_baseline, "causal dense attention", FUSED_CPU, causal=True),
    Variant("lightning", "lightning / linear attention: intra-block softmax-free attention + inter-block state",
            "Qin et al. 2024, arXiv 2401.04658 (Lightning Attention-2)", "linear_attention",
            ("linear-attention-chunked",),
            (*COMMON, _P("chunk", int, 64, "tokens per block"), _P("decay", int, 1, "1 = per-head decay (TransNormerLLM)")),
            _lightning, causal_baseline, "causal dense attention", ("linear-attention-chunked",),
            ("lightning-llm",), causal=True),
    Variant("fnet", "FFT token mixing (FNet)", "Lee-Thorp et al. 2022, arXiv 2105.03824", "fft",
            ("fft-stockham",), MIXER, _fnet, mixer_baseline, "dense attention (dim/128 heads of 128)",
            ("fft-stockham",), ("fnet-base",)),
    Variant("linformer", "low-rank projected attention (K, V projected to k << n rows)",
            "Wang et al. 2020, arXiv 2006.04768", "low_rank_attention", ("low-rank-projected",),
            (*COMMON, _P("proj", int, 256, "projected length k"),
             _P("share", str, "layer", "projection sharing", ("layer", "kv", "headwise"))),
            _linformer, dense_baseline, cpu_families=("low-rank-projected",), zoo=("linformer-base",)),
    Variant("csat", "compressed-sensing attention: random measurements, ISTA recovery",
            "Kiruluta et al. 2025, arXiv 2507.02957", "cs_attention", ("cs-recovery",),
            (*COMMON, _P("measurements", int, 512, "measurements m << n"), _P("iters", int, 10, "ISTA iterations")),
            _csat, dense_baseline, cpu_families=("cs-recovery",)),
    Variant("sdict", "spectral dictionary token mixer (SDict-VLM)", "Kiruluta & Burity 2025, arXiv 2506.18943",
            "spectral_dictionary", ("spectral-dictionary",),
            (*MIXER, _P("atoms", int, 64, "dictionary atoms K"), _P("active", int, 8, "atoms per token")),
            _sdict, mixer_baseline, "dense attention (dim/128 heads of 128)", ("spectral-dictionary",),
            ("sdict-vlm",)),
    Variant("lmwt", "learnable multi-scale Haar wavelet mixer", "Kiruluta et al. 2025, arXiv 2504.08801",
            "haar_wavelet", ("haar-wavelet",), (*MIXER, _P("levels", int, 5, "Haar levels")), _lmwt,
            mixer_baseline, "dense attention (dim/128 heads of 128)", ("haar-wavelet",)),
    Variant("gwt", "graph wavelet mixer over a sparse Laplacian", "Kiruluta et al. 2025, arXiv 2505.07862",
            "graph_wavelet", ("graph-wavelet-spmm",),
            (*MIXER, _P("degree", float, 2.0, "mean neighbours per token in the parse graph"),
             _P("scales", int, 4, "wavelet scales"), _P("order", int, 3, "Chebyshev order")),
            _gwt, mixer_baseline, "dense attention (dim/128 heads of 128)", ("graph-wavelet-spmm",)),
    Variant("kat", "group-rational KAN in place of the MLP (KAT)", "Yang & Wang 2024, arXiv 2409.10594",
            "group_rational + gemm", ("group-rational", "gemm-tiled"),
            (*MIXER, _P("mlp_ratio", int, 4, "hidden / dim"), _P("groups", int, 8, "rational groups")),
            _kat, kat_baseline, "the GELU MLP it replaces", ("group-rational", "gemm-tiled"), ("kat-s",)),
    Variant("routing", "Routing Transformer: k-means clusters attended as blocks",
            "Roy et al. 2021, arXiv 2003.05997", "attention + mask cluster (+ centroid gemm, gather)",
            FUSED_GPU, (*COMMON, _P("cluster", int, 512, "tokens per cluster"), _P("causal", int, 1, "1 = causal")),
            _routing, causal_baseline, "causal dense attention", FUSED_CPU, ("routing-transformer",),
            causal=True),
    Variant("power", "PowerAttention: power-of-two dilated blocks", "Chen et al. 2025, arXiv 2503.03588",
            "attention + mask power", FUSED_GPU,
            (*COMMON, _P("block", int, 64, "block size"), _P("sink_blocks", int, 1, "sink blocks"),
             _P("local_blocks", int, 1, "local blocks")), _power, causal_baseline, "causal dense attention",
            FUSED_CPU, causal=True),
    Variant("vertical-slash", "vertical-slash pattern (Sparse Frontier / MInference)",
            "Nawrot et al. 2025, arXiv 2504.17768; Jiang et al. 2024",
            "gathered_attention + mask vertical_slash", ("vertical-slash-gather",),
            (*COMMON, _P("verticals", int, 100, "key columns"), _P("slashes", int, 800, "diagonals"),
             _P("sink", int, 4, "first keys always kept"), _P("local", int, 64, "local diagonals"),
             _P("seed", int, 0, "seed of the selection")),
            _vertical_slash, causal_baseline, "causal dense attention", ("vertical-slash-gather",),
            causal=True),
    Variant("block-topk", "block-to-block top-k selection (Sparse Frontier)", "Nawrot et al. 2025, arXiv 2504.17768",
            "attention + mask block_topk (+ block scores)", FUSED_GPU,
            (*COMMON, _P("block", int, 64, "block size"), _P("k", int, 16, "selected blocks per query block"),
             _P("seed", int, 0, "seed of the selection")), _block_topk, causal_baseline,
            "causal dense attention", FUSED_CPU, causal=True),
    Variant("superlinear", "Superlinear multi-step attention: span search, then span attention",
            "Concavity AI 2026, arXiv 2601.18401", "attention + mask block_topk (span) + span-search gemm",
            FUSED_GPU, (*COMMON, _P("span", int, 64, "tokens per span"), _P("k", int, 16, "spans per query"),
                        _P("seed", int, 0, "seed of the selection")),
            _superlinear, causal_baseline, "causal dense attention", FUSED_CPU, causal=True),
    Variant("moh", "Mixture-of-Head attention: each token uses its top-k heads",
            "Jin et al. 2024, arXiv 2410.11842", "mixture_of_heads (+ router gemm)", ("moh-gathered", *FUSED_GPU),
            (*COMMON, _P("active_heads", int, 16, "heads per token"), _P("causal", int, 1, "1 = causal")),
            _moh, causal_baseline, "causal dense attention", ("moh-gathered", *FUSED_CPU), ("moh-vit-b",),
            causal=True),
    Variant("gda", "grouped differential attention (noise heads = heads: DIFF Transformer)",
            "Lim et al. 2025, arXiv 2510.06949; Ye et al. 2024", "differential_attention",
            ("differential-two-pass", *FUSED_GPU),
            (*COMMON, _P("noise_heads", int, 8, "noise-control heads")), _gda, causal_baseline,
            "causal dense attention", ("differential-two-pass", *FUSED_CPU), ("diff-transformer-3b",),
            causal=True),
)  # fmt: skip

for _v in _VARIANTS:
    register_variant(_v)
