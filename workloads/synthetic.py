"""Synthetic workloads: one attention variant (or a small group of ops) per generator.

Each generator returns a :class:`~workloads.workload.Workload` of one block with
``tokens`` = tokens processed by one run (``batch * new tokens``) and ``meta`` naming the
generator and its parameters, so a result can say what it simulated. Generators that use
randomness take a ``seed`` and record it in ``meta``; the same arguments give the same
workload, bit for bit. Sizes are in tokens, heads and elements; ``dtype`` is one of
:data:`workloads.dtypes.DTYPES`.
"""

from __future__ import annotations

import numpy as np

from .errors import WorkloadError
from .masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SharedPrefixMask,
    SlidingWindowMask,
)
from .ops import AttentionOp, FftOp, GemmOp, LinearAttentionOp, Op
from .spec import AttentionSpec
from .workload import Block, Workload

Meta = dict[str, str | int | float]


def _one(name: str, ops: list[Op], tokens: int, meta: Meta) -> Workload:
    return Workload(name=name, blocks=(Block(name=name, ops=tuple(ops)),), tokens=tokens, meta=meta)


def attention_workload(
    batch: int,
    q_heads: int,
    q_len: int,
    head_dim: int,
    *,
    kv_heads: int | None = None,
    kv_len: int | None = None,
    head_dim_v: int | None = None,
    mask: MaskPattern | None = None,
    phase: str = "prefill",
    dtype: str = "fp16",
    name: str = "attention",
    meta: Meta | None = None,
) -> Workload:
    """One fused attention op with any mask: the building block of the other generators.

    ``kv_heads`` defaults to ``q_heads``, ``kv_len`` to ``q_len``, ``head_dim_v`` to
    ``head_dim``, ``mask`` to :class:`FullMask`.
    """
    spec = AttentionSpec(
        batch=batch,
        q_heads=q_heads,
        kv_heads=q_heads if kv_heads is None else kv_heads,
        q_len=q_len,
        kv_len=q_len if kv_len is None else kv_len,
        head_dim_qk=head_dim,
        head_dim_v=head_dim if head_dim_v is None else head_dim_v,
        phase=phase,
        mask=FullMask() if mask is None else mask,
    )
    info: Meta = {"generator": name, "mask": spec.mask.kind, "phase": phase}
    info.update(meta or {})
    return _one(name, [AttentionOp(name=name, dtype=dtype, spec=spec)], batch * q_len, info)


def dense_attention(
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
    *,
    kv_seq: int | None = None,
    dtype: str = "fp16",
) -> Workload:
    """Bidirectional attention, every query sees every key: ``4*B*H*Sq*Sk*D`` FLOPs."""
    return attention_workload(
        batch, heads, seq, head_dim, kv_len=kv_seq, mask=FullMask(), dtype=dtype, name="dense"
    )


def causal_attention(
    batch: int, heads: int, seq: int, head_dim: int, *, dtype: str = "fp16"
) -> Workload:
    """Causal self-attention (decoder prefill): ``seq*(seq+1)/2`` live pairs per head."""
    return attention_workload(
        batch, heads, seq, head_dim, mask=CausalMask(), dtype=dtype, name="causal"
    )


def gqa_attention(
    batch: int,
    q_heads: int,
    kv_heads: int,
    seq: int,
    head_dim: int,
    *,
    causal: bool = True,
    dtype: str = "fp16",
) -> Workload:
    """Grouped-query attention: ``q_heads / kv_heads`` query heads share each K/V head.

    ``kv_heads = 1`` is multi-query attention. FLOPs follow ``q_heads``; K/V bytes follow
    ``kv_heads``.
    """
    if kv_heads > q_heads:
        raise WorkloadError(
            [
                f"gqa_attention.kv_heads: {kv_heads} > q_heads {q_heads}; expected kv_heads <= q_heads "
                f"(see query_head_reduction_attention for fewer query heads)"
            ]
        )
    return attention_workload(
        batch,
        q_heads,
        seq,
        head_dim,
        kv_heads=kv_heads,
        mask=CausalMask() if causal else FullMask(),
        dtype=dtype,
        name="mqa" if kv_heads == 1 else "gqa",
    )


def mqa_attention(
    batch: int, heads: int, seq: int, head_dim: int, *, causal: bool = True, dtype: str = "fp16"
) -> Workload:
    """Multi-query attention: one K/V head shared by all ``heads`` query heads."""
    return gqa_attention(batch, heads, 1, seq, head_dim, causal=causal, dtype=dtype)


def query_head_reduction_attention(
    batch: int,
    q_heads: int,
    kv_heads: int,
    seq: int,
    head_dim: int,
    *,
    causal: bool = True,
    dtype: str = "fp16",
) -> Workload:
    """Fewer query heads than K/V heads (Sparse Query Attention style, ``q_heads < kv_heads``).

    Each query head owns ``kv_heads / q_heads`` consecutive K/V heads, averaged into one
    K and one V before the scores (see :mod:`workloads.spec`): score FLOPs shrink by
    ``q_heads / kv_heads`` against full multi-head attention, while every K/V head is
    still read once.
    """
    if q_heads >= kv_heads:
        raise WorkloadError(
            [
                f"query_head_reduction_attention.q_heads: {q_heads} >= kv_heads {kv_heads}; "
                f"expected fewer query heads than K/V heads"
            ]
        )
    return attention_workload(
        batch,
        q_heads,
        seq,
        head_dim,
        kv_heads=kv_heads,
        mask=CausalMask() if causal else FullMask(),
        dtype=dtype,
        name="query_head_reduction",
    )


def decode_attention(
    batch: int,
    heads: int,
    kv_len: int,
    head_dim: int,
    *,
    kv_heads: int | None = None,
    new_tokens: int = 1,
    window: int | None = None,
    dtype: str = "fp16",
) -> Workload:
    """Decode step: ``new_tokens`` queries against a KV cache of ``kv_len`` tokens.

    ``kv_len`` includes the new tokens; queries are the last ``new_tokens`` positions and
    attend causally (or within a causal window of ``window`` tokens). Memory-bound: the
    whole cache is read for few FLOPs.
    """
    mask: MaskPattern = CausalMask() if window is None else SlidingWindowMask(left=window - 1)
    return attention_workload(
        batch,
        heads,
        new_tokens,
        head_dim,
        kv_heads=kv_heads,
        kv_len=kv_len,
        mask=mask,
        phase="decode",
        dtype=dtype,
        name="decode",
    )


def sliding_window_attention(
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
    window: int,
    *,
    causal: bool = True,
    dtype: str = "fp16",
) -> Workload:
    """1-D sliding window of ``window`` tokens (query included).

    Causal (Mistral, Gemma local layers): keys ``p-window+1 .. p``. Not causal (Longformer
    local part): ``window // 2`` keys each side, ``window`` odd for a symmetric window.
    """
    if window < 1 or window > seq:
        raise WorkloadError(
            [
                f"sliding_window_attention.window: {window} is outside [1, {seq}]; "
                f"expected a window of 1 to seq tokens"
            ]
        )
    mask = (
        SlidingWindowMask(left=window - 1, right=0)
        if causal
        else SlidingWindowMask(left=window // 2, right=(window - 1) // 2)
    )
    return attention_workload(
        batch,
        heads,
        seq,
        head_dim,
        mask=mask,
        dtype=dtype,
        name="sliding_window",
        meta={"window": window},
    )


def neighborhood_attention(
    batch: int,
    heads: int,
    spatial: tuple[int, ...],
    window: tuple[int, ...],
    head_dim: int,
    *,
    dilation: tuple[int, ...] | None = None,
    stride: tuple[int, ...] | None = None,
    causal: tuple[bool, ...] | None = None,
    dtype: str = "fp16",
) -> Workload:
    """2-D/3-D (or 1-D) neighborhood attention over a token grid (NAT/DiNAT/GNA).

    ``spatial`` is the grid (tokens = its product), ``window`` keys per axis; see
    :class:`~workloads.masks.NeighborhoodMask` for dilation, stride and causal axes.
    """
    n = len(spatial)
    mask = NeighborhoodMask(
        spatial=tuple(spatial),
        window=tuple(window),
        dilation=tuple(dilation) if dilation else (1,) * n,
        stride=tuple(stride) if stride else (1,) * n,
        causal=tuple(causal) if causal else (False,) * n,
    )
    seq = mask.tokens
    return attention_workload(
        batch,
        heads,
        seq,
        head_dim,
        mask=mask,
        dtype=dtype,
        name="neighborhood",
        meta={"spatial": "x".join(map(str, spatial)), "window": "x".join(map(str, window))},
    )


def random_block_layout(
    q_len: int, kv_len: int, block: int, density: float, seed: int, *, causal: bool = False
) -> tuple[tuple[bool, ...], ...]:
    """A block layout with ``round(density * candidates)`` live blocks (at least one).

    Candidates are all blocks (or the blocks on/below the diagonal when ``causal``); live
    ones are drawn without replacement by ``numpy.random.default_rng(seed)``.
    """
    if not (0.0 < density <= 1.0):
        raise WorkloadError(
            [f"random_block_layout.density: {density} is outside (0, 1]; expected 0 < density <= 1"]
        )
    nq, nk = -(-q_len // block), -(-kv_len // block)
    cand = np.ones((nq, nk), dtype=bool)
    if causal:
        off = (kv_len - q_len) // block
        cand = np.tril(cand, k=off)
    idx = np.flatnonzero(cand)
    live = max(1, int(round(density * idx.size)))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(idx, size=live, replace=False)
    flat = np.zeros(nq * nk, dtype=bool)
    flat[chosen] = True
    return tuple(tuple(bool(x) for x in row) for row in flat.reshape(nq, nk).tolist())


def block_sparse_attention(
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
    density: float,
    *,
    block: int = 64,
    seed: int = 0,
    causal: bool = False,
    kv_seq: int | None = None,
    dtype: str = "fp16",
) -> Workload:
    """Block-sparse attention with a random layout of the given block ``density`` (0, 1].

    Deterministic from ``seed`` (recorded in ``meta`` with the achieved density).
    """
    kv = seq if kv_seq is None else kv_seq
    layout = random_block_layout(seq, kv, block, density, seed, causal=causal)
    mask = BlockSparseMask(block_q=block, block_k=block, layout=layout)
    return attention_workload(
        batch,
        heads,
        seq,
        head_dim,
        kv_len=kv,
        mask=mask,
        dtype=dtype,
        name="block_sparse",
        meta={
            "seed": seed,
            "density_requested": float(density),
            "block": block,
            "density": mask.density(seq, kv),
        },
    )


def shared_prefix_attention(
    batch: int,
    heads: int,
    prefix: int,
    continuations: int,
    continuation_len: int,
    head_dim: int,
    *,
    kv_heads: int | None = None,
    causal_prefix: bool = True,
    dtype: str = "fp16",
) -> Workload:
    """One prompt of ``prefix`` tokens shared by ``continuations`` continuations (Hydragen).

    Sequence length ``prefix + continuations * continuation_len``; see
    :class:`~workloads.masks.SharedPrefixMask`.
    """
    mask = SharedPrefixMask(prefix, continuations, continuation_len, causal_prefix)
    return attention_workload(
        batch,
        heads,
        mask.total_len,
        head_dim,
        kv_heads=kv_heads,
        mask=mask,
        dtype=dtype,
        name="shared_prefix",
    )


def linear_attention(
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
    *,
    chunk: int = 64,
    decay: bool = False,
    phase: str = "prefill",
    dtype: str = "bf16",
) -> Workload:
    """Chunked linear attention (RetNet/GLA-style; formula on :class:`LinearAttentionOp`)."""
    op = LinearAttentionOp(
        name="linear_attention",
        dtype=dtype,
        batch=batch,
        heads=heads,
        seq_len=seq,
        head_dim=head_dim,
        chunk=chunk,
        decay=decay,
        phase=phase,
    )
    return _one(
        "linear_attention",
        [op],
        batch * seq,
        {"generator": "linear_attention", "chunk": chunk, "phase": phase},
    )


def fnet_mixer(batch: int, seq: int, hidden: int, *, dtype: str = "fp32") -> Workload:
    """FNet's token mixer: a 2-D FFT over (sequence, hidden) per example, real part kept.

    One :class:`FftOp` with ``lengths=(seq, hidden)``: ``5*N*log2(N)`` real ops per
    example, ``N = seq*hidden``; no attention at all.
    """
    op = FftOp(name="fnet_fft", dtype=dtype, batch=batch, lengths=(seq, hidden), channels=1)
    return _one("fnet_mixer", [op], batch * seq, {"generator": "fnet_mixer"})


def linformer_attention(
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
    proj: int,
    *,
    share: str = "layer",
    dtype: str = "fp16",
) -> Workload:
    """Linformer: K and V projected along the sequence to ``proj << seq`` rows, then dense.

    One :class:`~workloads.ops_variants.LowRankAttentionOp` (projections plus attention;
    ``share="layer"``: one projection matrix for K, V and every head, read once).
    """
    if proj < 1 or proj > seq:
        raise WorkloadError(
            [f"linformer_attention.proj: {proj} is outside [1, {seq}]; expected 1 <= proj <= seq"]
        )
    from .ops_variants import LowRankAttentionOp

    op = LowRankAttentionOp(
        name="linformer",
        dtype=dtype,
        batch=batch,
        heads=heads,
        q_len=seq,
        kv_len=seq,
        proj=proj,
        head_dim=head_dim,
        head_dim_v=head_dim,
        share=share,
    )
    return _one(
        "linformer", [op], batch * seq, {"generator": "linformer", "proj": proj, "share": share}
    )


def gemm_workload(
    m: int,
    n: int,
    k: int,
    *,
    batch: int = 1,
    dtype: str = "fp16",
    weight_operand: str | None = None,
    weight_dtype: str | None = None,
) -> Workload:
    """A single (batched) GEMM ``C[m,n] = A[m,k] @ B[k,n]``; ``tokens = batch * m``."""
    op = GemmOp(
        name="gemm",
        dtype=dtype,
        m=m,
        n=n,
        k=k,
        batch=batch,
        weight_operand=weight_operand,
        weight_dtype=weight_dtype,
    )
    return _one("gemm", [op], batch * m, {"generator": "gemm"})
