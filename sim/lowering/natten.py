"""Neighborhood attention as NATTEN's kernels run it (fused neighborhood attention, FNA,
and generalized neighborhood attention, GNA).

Sources: NATTEN (github.com/SHI-Labs/NATTEN, docs/backends.md and the kernels'
tile tables and masks under ``src/natten/backends/configs`` and
``csrc/include/natten/cuda``); Hassani et al., "Faster Neighborhood Attention" (2024)
and "Generalized Neighborhood Attention" (arXiv 2504.16922, 2025).

**Multi-dimensional tiles** (``natten_multidim_tiles``). A query tile is an N-d box of
the token grid (e.g. ``4x4x8`` tokens of a video), and so is a key/value tile. A query
tile visits exactly the key tiles that intersect the union of its queries' windows: per
axis a contiguous run of key tiles, so the visited set is a box of key tiles. Because a
neighborhood mask is a Kronecker product over axes, a (query tile, key tile) pair is
live iff it is live on every axis and full iff it is full on every axis, so per query
tile ``live tiles = prod(live per axis)``, ``full tiles = prod(full per axis)`` and
``live pairs = prod(pairs per axis)``: cheap, exact, and independent of the sequence
length. Dilation splits each axis into independent groups (the tiles of one group only
see keys of that group). Switched off, tiles are runs of the flattened token order (as
FlashAttention tiles a 1-D sequence), which visit many more partially live key blocks.

**Strided / blocked GNA** (the mask's ``stride``). Queries of one stride group share one
window, so a query tile aligned to stride groups needs fewer key tiles; with ``stride``
a multiple of the query tile and windows aligned to key tiles the problem is *perfectly
block-sparse*: every visited key tile is full.

**Masking.** NATTEN's Hopper and Blackwell kernels apply the neighborhood mask to every
visited key tile (``NeighborhoodAttentionMask::apply_mask`` in every softmax step), not
only to the tiles the mask cuts, except when the whole problem is perfectly
block-sparse, when no tile is masked (``natten_block_sparse_fast_path``, NATTEN's
``is_fully_block_sparse``). The mask costs :func:`mask_instructions` per score: a
compare against the window's start and end on each axis, and a select, on the ALU pipe.

**Token permutation** (``token_permute``). The Hopper and Blackwell kernels run FMHA on
token-permuted tensors: Q, K and V are permuted so every tile is contiguous (padded to
the tile shape) and O is permuted back, four extra memory-bound copy kernels
(``token_permute_operation`` / ``token_unpermute_operation``). The Ampere kernel fuses
the multi-dimensional tiling into the kernel instead (software predication), no copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from attnsim.sim.lowering.attention_fused import (
    FusedAttentionStyle,
    QueryRows,
    choose_blocks,
    contiguous_rows,
    fused_kernel,
    lower_fused_attention,
)
from attnsim.sim.lowering.common import streaming_kernel
from attnsim.sim.lowering.registry import (
    LoweringFamily,
    LoweringOptions,
    register_family,
    register_mechanism,
)
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, OpTasks
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.masks import NeighborhoodMask
from attnsim.workloads.ops import AttentionOp, Op

for _name, _what, _source in (
    (
        "natten_multidim_tiles",
        "NATTEN tiles are N-d boxes of the token grid (off: runs of the flattened order)",
        "NATTEN FNA/GNA; Hassani et al. 2024/2025",
    ),
    (
        "natten_block_sparse_fast_path",
        "no masking at all when the problem is perfectly block-sparse (off: always mask)",
        "NATTEN csrc fna_fusion.hpp is_fully_block_sparse",
    ),
    (
        "token_permute",
        "the Q/K/V permute and O un-permute copy kernels of the Hopper and Blackwell FNA "
        "(off: none)",
        "NATTEN src/natten/backends/hopper_fna.py, blackwell_fna.py",
    ),
):
    register_mechanism(_name, _what, _source)


def mask_instructions(ndim: int) -> float:
    """ALU instructions per score of NATTEN's neighborhood mask on one key tile: two
    compares per axis (key coordinate >= window start, < window end) and one select of
    -inf. Counted from ``NeighborhoodAttentionMask::apply_mask`` / ``is_neighbor`` of the
    Hopper and Blackwell FNA (``csrc/include/natten/cuda/fna_{hopper,blackwell}/collective/
    fna_fusion.hpp``): a key's coordinates are a compile-time identity tensor of the tile
    shape plus one runtime offset per tile, so the offset folds into the per-row window
    bounds (once per row, not per score) and the compares chain their predicates."""
    return 1.0 + 2.0 * ndim


@dataclass(frozen=True)
class NattenStyle:
    """A NATTEN backend: the FMHA style it runs and its tile shapes.

    Attributes:
        name / description: family name and one line.
        fmha: how the underlying FMHA kernel runs (MMA, overlap, order...).
        tiles: ``(ndim, max head dim) -> (query tile shape, key tile shape)``: the
            backend's default forward configuration.
        token_permute: runs the permute/un-permute copy kernels around the FMHA.
    """

    name: str
    description: str
    fmha: FusedAttentionStyle
    tiles: dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]]]
    token_permute: bool

    def tile_shapes(self, ndim: int, head_dim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The default (query, key) tile shapes for ``ndim`` axes and ``head_dim``."""
        for (nd, max_d), shapes in sorted(self.tiles.items()):
            if nd == ndim and head_dim <= max_d:
                return shapes
        raise LoweringError(
            f"{self.name}: no tile configuration for {ndim}-d neighborhood attention at head "
            f"dim {head_dim}; NATTEN's kernels support head dims up to "
            f"{max(d for (nd, d) in self.tiles if nd == ndim)}"
        )


def _axis_rows(
    length: int, window: int, dilation: int, stride: int, causal: bool, tq: int, tk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query tile of one axis: live key tiles, full key tiles, live pairs. Dilation
    groups are tiled separately (their tiles only see their own group)."""
    live: list[np.ndarray] = []
    full: list[np.ndarray] = []
    pairs: list[np.ndarray] = []
    for g in range(dilation):
        n = -(-(length - g) // dilation)
        axis = NeighborhoodMask(spatial=(n,), window=(window,), stride=(stride,), causal=(causal,))
        counts = axis.tile_counts(n, n, tq, tk)
        liveness = axis.tile_liveness(n, n, tq, tk)
        live.append((liveness > 0).sum(axis=1))
        full.append((liveness == 2).sum(axis=1))
        pairs.append(counts.sum(axis=1))
    return np.concatenate(live), np.concatenate(full), np.concatenate(pairs)


def multidim_rows(
    mask: NeighborhoodMask, q_shape: tuple[int, ...], kv_shape: tuple[int, ...]
) -> tuple[QueryRows, bool]:
    """The query tiles (N-d boxes, row-major) of one head and whether the problem is
    perfectly block-sparse (no visited key tile is cut by the mask)."""
    live = full = pairs = np.ones(1, dtype=np.int64)
    for a in range(len(mask.spatial)):
        la, fa, pa = _axis_rows(
            mask.spatial[a],
            mask.window[a],
            mask.dilation[a],
            mask.stride[a],
            mask.causal[a],
            q_shape[a],
            kv_shape[a],
        )
        live = np.multiply.outer(live, la).ravel()
        full = np.multiply.outer(full, fa).ravel()
        pairs = np.multiply.outer(pairs, pa).ravel()
    n_part = live - full
    block_sparse = not bool(n_part.any()) and not any(mask.causal)
    return QueryRows(full, n_part, live.copy(), pairs), block_sparse


def lower_natten(op: Op, view: TargetView, options: LoweringOptions, style: NattenStyle) -> OpTasks:
    """Lower an attention op as NATTEN's backend ``style`` runs it: neighborhood masks
    with its multi-dimensional tiles (and token permutation), other masks as its FMHA."""
    if not isinstance(op, AttentionOp):
        raise LoweringError(f"{style.name} lowers attention ops, not {op.kind}")
    mask = op.spec.mask
    if not isinstance(mask, NeighborhoodMask) or op.spec.phase == "decode":
        tasks = lower_fused_attention(op, view, options, style.fmha)
        return replace(tasks, family=style.name)
    spec = op.spec
    ndim = len(mask.spatial)
    if options.tile_shapes is not None:
        q_shape, kv_shape = options.tile_shapes
        if len(q_shape) != ndim:
            raise LoweringError(
                f"{style.name}: tile shapes {options.tile_shapes} have {len(q_shape)} axes; "
                f"expected {ndim}, one per axis of the token grid {mask.spatial}"
            )
    else:
        q_shape, kv_shape = style.tile_shapes(ndim, max(spec.head_dim_qk, spec.head_dim_v))
    elem = nbytes(op.dtype, 1)
    br, bc = math.prod(q_shape), math.prod(kv_shape)
    if options.enabled("natten_multidim_tiles"):
        # the tile is the backend's; only its residency is checked against the unit
        fixed = LoweringOptions(block_q=br, block_k=bc, disable=options.disable)
        br, bc, resident = choose_blocks(
            style.fmha, view, spec.head_dim_qk, spec.head_dim_v, elem, False, fixed
        )
        rows, block_sparse = multidim_rows(mask, q_shape, kv_shape)
        tiling = f"{'x'.join(map(str, q_shape))} / {'x'.join(map(str, kv_shape))}"
    else:
        fixed = LoweringOptions(block_q=br, block_k=bc, disable=options.disable)
        br, bc, resident = choose_blocks(
            style.fmha, view, spec.head_dim_qk, spec.head_dim_v, elem, False, fixed
        )
        rows = contiguous_rows(op, br, bc)
        block_sparse = not bool(rows.n_part.any()) and not any(mask.causal)
        tiling = f"{br} / {bc} (flattened order)"
    if not (block_sparse and options.enabled("natten_block_sparse_fast_path")):
        rows = replace(rows, n_masked=rows.blocks)
    else:
        rows = replace(rows, n_masked=np.zeros_like(rows.blocks))
    kernel, notes = fused_kernel(
        op, view, options, style.fmha, br, bc, resident, rows, mask_instructions(ndim)
    )
    kernels: list[Kernel] = [kernel]
    if style.token_permute and options.enabled("token_permute"):
        kernels = _permute_kernels(op, view, br, bc, len(rows.n_full)) + kernels
        kernels.append(_unpermute_kernel(op, view, br, len(rows.n_full)))
    notes.update(
        {
            "tiles": tiling,
            "perfectly_block_sparse": int(block_sparse),
            "token_permute": int(style.token_permute and options.enabled("token_permute")),
        }
    )
    return OpTasks(family=style.name, kernels=tuple(kernels), notes=notes)


def _permute_kernels(
    op: AttentionOp, view: TargetView, br: int, bc: int, q_tiles: int
) -> list[Kernel]:
    """Copy Q, K and V into tile-contiguous order (padded to whole tiles)."""
    s = op.spec
    elem = nbytes(op.dtype, 1)
    padded = q_tiles * br  # tokens after padding every axis to the tile
    out = []
    for name, heads, dim in (
        ("Q", s.q_heads, s.head_dim_qk),
        ("K", s.kv_heads, s.head_dim_qk),
        ("V", s.kv_heads, s.head_dim_v),
    ):
        rows = s.batch * heads
        out.append(
            streaming_kernel(
                f"token permute {name}",
                view,
                read_bytes=rows * s.q_len * dim * elem,
                write_bytes=rows * padded * dim * elem,
                vector_ops=0.0,
            )
        )
    return out


def _unpermute_kernel(op: AttentionOp, view: TargetView, br: int, q_tiles: int) -> Kernel:
    """Copy O (and the log-sum-exp) back into the token grid's order."""
    s = op.spec
    elem = nbytes(op.dtype, 1)
    rows = s.batch * s.q_heads
    padded = q_tiles * br
    return streaming_kernel(
        "token un-permute O",
        view,
        read_bytes=rows * padded * (s.head_dim_v * elem + 4.0),
        write_bytes=rows * s.q_len * (s.head_dim_v * elem + 4.0),
        vector_ops=0.0,
    )


def _is_neighborhood(op: Op) -> bool:
    return isinstance(op, AttentionOp) and isinstance(op.spec.mask, NeighborhoodMask)


def _register(style: NattenStyle) -> None:
    def lower(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
        return lower_natten(op, view, options, style)

    register_family(
        LoweringFamily(
            name=style.name,
            op_kinds=frozenset({"attention"}),
            lower=lower,
            description=style.description,
            prefers=_is_neighborhood,
        )
    )


#: NATTEN's Hopper FNA: CUTLASS's Hopper FMHA (example 88, warp-specialised
#: cooperative/ping-pong, "similar forward performance to FlashAttention-3") on
#: token-permuted tensors. Default forward tiles from
#: ``backends/configs/cutlass_hopper`` (fp16/bf16, first listed configuration: the
#: warp-specialised cooperative kernel at head dim 128). Its mainloop
#: (``fna_hopper/collective/fna_collective_tma_warpspecialized.hpp``) runs each consumer
#: warpgroup's key block serially -- S, wait for it and the previous P V, the softmax
#: step, then P V -- without the optional softmax order barrier (``kIsMainloopLocked``
#: is off), so only the two warpgroups overlap each other; P stays in registers.
NATTEN_HOPPER_FNA = NattenStyle(
    name="natten-hopper-fna",
    description="NATTEN Hopper FNA: CUTLASS sm90 FMHA over token-permuted N-d tiles",
    fmha=FusedAttentionStyle(
        name="natten-hopper-fna",
        description="CUTLASS Hopper FMHA (example 88), warp-specialised",
        tile_table=(
            (64, (64, 128), (64, 128)),
            (128, (128, 128), (128, 128)),
            (256, (128, 64), (128, 64)),
        ),
        kv_stages=2,
        mma="async",
        overlap="overlapped",
        order="q_fastest",
        max_resident=1,
        min_rows=64,
        rows_per_reader=64,
        consumer_loop="warpgroup_serial",
    ),
    tiles={
        (1, 64): ((64,), (128,)),
        (1, 128): ((128,), (128,)),
        (1, 256): ((128,), (64,)),
        (2, 64): ((8, 8), (16, 8)),
        (2, 128): ((16, 8), (16, 8)),
        (2, 256): ((16, 8), (8, 8)),
        (3, 64): ((4, 4, 4), (4, 4, 8)),
        (3, 128): ((4, 4, 8), (4, 4, 8)),
        (3, 256): ((4, 4, 8), (4, 4, 4)),
    },
    token_permute=True,
)
#: NATTEN's Blackwell FNA: CUTLASS's Blackwell FMHA (example 77: tcgen05, two 128-row
#: query tiles ping-ponging, accumulators in tensor memory) on token-permuted tensors;
#: query tile 256 and key tile 128 tokens (``backends/configs/cutlass_blackwell``
#: defaults). Labelled assumption: CUTLASS's example predates FlashAttention-4's exp
#: emulation, conditional rescaling and 2-CTA MMA, so they are off. Its softmax packs the
#: scale-subtract and the row sum two-wide (``cute::fma``/``cute::add`` on ``float2`` in
#: ``fna_blackwell/collective/sm100_fna_fwd_mainloop_tma_warpspecialized.hpp``).
NATTEN_BLACKWELL_FNA = NattenStyle(
    name="natten-blackwell-fna",
    description="NATTEN Blackwell FNA: CUTLASS sm100 FMHA over token-permuted N-d tiles",
    fmha=FusedAttentionStyle(
        name="natten-blackwell-fna",
        description="CUTLASS Blackwell FMHA (example 77), tcgen05",
        tile_table=((256, (256, 128), (256, 128)),),
        fallback_tiles=((128, 128),),
        kv_stages=2,
        mma="async",
        overlap="overlapped",
        order="q_fastest",
        max_resident=1,
        min_rows=128,
        rows_per_reader=128,
        tensor_memory=True,
        fma_per_score=1.0,
        consumer_loop="single_issuer_mma",
    ),
    tiles={
        (1, 256): ((256,), (128,)),
        (2, 256): ((16, 16), (16, 8)),
        (3, 256): ((8, 4, 8), (4, 4, 8)),
    },
    token_permute=True,
)
#: NATTEN's CUTLASS FNA (Ampere and older; xFormers' FMHA with the multi-dimensional
#: tiling fused into the kernel by software predication, no token permutation): mma.sync,
#: softmax serialised; default forward tiles 64 x 64 tokens
#: (``backends/configs/cutlass``: (64,), (8, 8), (4, 4, 4)).
NATTEN_CUTLASS_FNA = NattenStyle(
    name="natten-cutlass-fna",
    description="NATTEN CUTLASS FNA (Ampere): multi-dimensional tiling fused in the kernel",
    fmha=FusedAttentionStyle(
        name="natten-cutlass-fna",
        description="xFormers/CUTLASS 2 FMHA",
        tile_table=((256, (64, 64), (64, 64)),),
        kv_stages=1,
        mma="sync",
        overlap="serial",
        order="q_fastest",
        max_resident=2,
        min_rows=16,
        rows_per_reader=16,
    ),
    tiles={
        (1, 256): ((64,), (64,)),
        (2, 256): ((8, 8), (8, 8)),
        (3, 256): ((4, 4, 4), (4, 4, 4)),
    },
    token_permute=False,
)

for _style in (NATTEN_HOPPER_FNA, NATTEN_BLACKWELL_FNA, NATTEN_CUTLASS_FNA):
    _register(_style)
