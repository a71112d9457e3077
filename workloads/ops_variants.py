"""IR ops of the attention variants that are not one fused attention over a mask.

Each op states, for *one* instance, its exact arithmetic (:meth:`flops`, a MAC = 2) and
its compulsory bytes (:meth:`io_bytes`: inputs read once, outputs written once, weights
read once — a weight shared by every batch entry and head counts once per op). Where a
paper leaves a cost open, the class docstring states the assumption. Registered in
:data:`workloads.ops.OP_KINDS` on import.

* :class:`LowRankAttentionOp` — Linformer: K and V projected along the sequence to
  ``proj`` rows, then dense attention.
* :class:`CompressedSensingAttentionOp` — CSAT: random measurements of Q, K, V, attention
  in the compressed space, ISTA sparse recovery of the output.
* :class:`MixtureOfHeadsAttentionOp` — MoH: each token attends with its top-k heads.
* :class:`DifferentialAttentionOp` — (grouped) differential attention: two softmax maps,
  the noise map from fewer heads.
* :class:`SpectralDictionaryMixerOp` — SDict-VLM's spectral dictionary token mixer.
* :class:`HaarWaveletMixerOp` — LMWT's learnable multi-scale Haar wavelet mixer.
* :class:`GraphWaveletOp` — GWT's graph wavelet mixer over a sparse Laplacian.
* :class:`GroupRationalOp` — KAT's group-rational KAN activation.
* :class:`MaskSetupOp` — building a FlexAttention block mask (``create_block_mask``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .dtypes import nbytes
from .masks import CausalMask, FullMask
from .masks_sparse import VerticalSlashMask
from .ops import AttentionOp, Op, OpBytes, _choice, _ints, register_op
from .spec import AttentionSpec

__all__ = [
    "CompressedSensingAttentionOp",
    "DifferentialAttentionOp",
    "GatheredAttentionOp",
    "GraphWaveletOp",
    "GroupRationalOp",
    "HaarWaveletMixerOp",
    "LowRankAttentionOp",
    "MaskSetupOp",
    "MixtureOfHeadsAttentionOp",
    "SpectralDictionaryMixerOp",
]

#: Weight sharing of Linformer's projections (Wang et al. 2020, section 4).
LOW_RANK_SHARING: tuple[str, ...] = ("layer", "kv", "headwise")


def _fft_flops(points: int) -> float:
    """Real-input FFT of ``points`` samples: half the radix-2 complex count ``5 N log2 N``."""
    return 2.5 * points * math.log2(points) if points > 1 else 0.0


@register_op
@dataclass(frozen=True)
class LowRankAttentionOp(Op):
    """Linformer (Wang et al. 2020, arXiv 2006.04768): ``softmax(Q (E K)^T) (F V)``.

    ``E, F`` (``proj x kv_len``) project K and V along the sequence to ``proj`` rows per
    (sequence, head). FLOPs: projections ``2*B*H*proj*kv_len*(d_qk + d_v)`` plus attention
    over ``q_len x proj`` pairs, ``2*B*H*q_len*proj*(d_qk + d_v)``. Bytes: Q, K, V read
    once, O written once, and the projection weights once per op: ``share="layer"`` one
    matrix for K and V of every head (Linformer's layer-wise sharing), ``"kv"`` one E and
    one F shared by the heads, ``"headwise"`` an E and an F per head.
    """

    batch: int
    heads: int
    q_len: int
    kv_len: int
    proj: int
    head_dim: int
    head_dim_v: int
    share: str = "layer"
    kind: ClassVar[str] = "low_rank_attention"

    def _problems(self) -> list[str]:
        p = _ints(self, "batch", "heads", "q_len", "kv_len", "proj", "head_dim", "head_dim_v")
        p += _choice(self, "share", LOW_RANK_SHARING)
        if not p and self.proj > self.kv_len:
            p.append(
                f"LowRankAttentionOp.proj: {self.proj} exceeds kv_len {self.kv_len}; "
                f"expected 1 <= proj <= kv_len"
            )
        return p

    @property
    def projection_matrices(self) -> int:
        """Distinct ``proj x kv_len`` matrices read: 1, 2 or ``2*heads`` (see ``share``)."""
        return {"layer": 1, "kv": 2, "headwise": 2 * self.heads}[self.share]

    def projection_flops(self) -> float:
        """FLOPs of ``E K`` and ``F V`` for every (sequence, head)."""
        bh = self.batch * self.heads
        return 2.0 * bh * self.proj * self.kv_len * (self.head_dim + self.head_dim_v)

    def attention_spec(self) -> AttentionSpec:
        """The dense attention over the projected keys (``kv_len = proj``)."""
        return AttentionSpec(
            batch=self.batch,
            q_heads=self.heads,
            kv_heads=self.heads,
            q_len=self.q_len,
            kv_len=self.proj,
            head_dim_qk=self.head_dim,
            head_dim_v=self.head_dim_v,
            mask=FullMask(),
        )

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"B{self.batch} H{self.heads} q{self.q_len} kv{self.kv_len}->{self.proj} d{self.head_dim} share={self.share}"

    def flops(self) -> float:
        bh = self.batch * self.heads
        attn = 2.0 * bh * self.q_len * self.proj * (self.head_dim + self.head_dim_v)
        return self.projection_flops() + attn

    def io_bytes(self) -> OpBytes:
        bh = self.batch * self.heads
        q = bh * self.q_len * self.head_dim
        kv = bh * self.kv_len * (self.head_dim + self.head_dim_v)
        o = bh * self.q_len * self.head_dim_v
        w = self.projection_matrices * self.proj * self.kv_len
        return OpBytes(nbytes(self.dtype, q + kv), nbytes(self.dtype, o), nbytes(self.dtype, w))


@register_op
@dataclass(frozen=True)
class CompressedSensingAttentionOp(Op):
    """CSAT (Kiruluta et al. 2025, arXiv 2507.02957): attention on random measurements.

    Per (sequence, head) with ``n = seq`` tokens, ``m = measurements`` and head dim ``d``:
    a Gaussian measurement matrix ``Phi`` (``m x n``, fixed, shared by Q, K, V and every
    head: one weight) compresses Q, K and V (``3 * 2*m*n*d``); attention runs over the
    ``m x m`` compressed pairs (``2*m*m*2d``); the ``n x d`` output is recovered from its
    ``m x d`` measurements by ``iters`` ISTA iterations ``x <- soft(x + Phi^T (y - Phi x))``,
    each ``2 * 2*m*n*d`` (the two products) + ``4*n*d`` (residual, step, shrink).

    Assumptions (the paper states the pipeline, not these choices): the sequence axis is
    compressed (as for K/V in the paper) with the same ``Phi`` for queries, so the
    compressed attention is ``m x m``; the recovery is ISTA with a fixed iteration count.
    """

    batch: int
    heads: int
    seq: int
    measurements: int
    head_dim: int
    iters: int = 10
    kind: ClassVar[str] = "cs_attention"

    def _problems(self) -> list[str]:
        p = _ints(self, "batch", "heads", "seq", "measurements", "head_dim")
        p += _ints(self, "iters", minimum=0)
        if not p and self.measurements > self.seq:
            p.append(
                f"CompressedSensingAttentionOp.measurements: {self.measurements} exceeds seq "
                f"{self.seq}; expected 1 <= measurements <= seq"
            )
        return p

    def compress_flops(self) -> float:
        """Measuring Q, K and V: ``3 * 2*m*n*d`` per (sequence, head)."""
        return 3 * 2.0 * self.measurements * self.seq * self.head_dim * self.batch * self.heads

    def recovery_flops(self) -> float:
        """ISTA: ``iters * (4*m*n*d + 4*n*d)`` per (sequence, head)."""
        m, n, d = self.measurements, self.seq, self.head_dim
        return self.iters * (4.0 * m * n * d + 4.0 * n * d) * self.batch * self.heads

    def attention_spec(self) -> AttentionSpec:
        """Dense attention over the ``m x m`` compressed pairs."""
        m = self.measurements
        return AttentionSpec(
            batch=self.batch,
            q_heads=self.heads,
            kv_heads=self.heads,
            q_len=m,
            kv_len=m,
            head_dim_qk=self.head_dim,
            head_dim_v=self.head_dim,
            mask=FullMask(),
        )

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"B{self.batch} H{self.heads} n{self.seq} m{self.measurements} d{self.head_dim} ista x{self.iters}"

    def flops(self) -> float:
        m, d = self.measurements, self.head_dim
        attn = 2.0 * m * m * 2 * d * self.batch * self.heads
        return self.compress_flops() + attn + self.recovery_flops()

    def io_bytes(self) -> OpBytes:
        bh = self.batch * self.heads
        qkv = 3 * bh * self.seq * self.head_dim
        o = bh * self.seq * self.head_dim
        w = self.measurements * self.seq
        return OpBytes(nbytes(self.dtype, qkv), nbytes(self.dtype, o), nbytes(self.dtype, w))


@register_op
@dataclass(frozen=True)
class GatheredAttentionOp(AttentionOp):
    """Attention over a vertical-slash mask, run by a gather kernel (MInference).

    The same work and compulsory bytes as :class:`~workloads.ops.AttentionOp` over its
    mask (it is one); its own kind says that the kernel gathers the pattern's columns and
    diagonal ranges instead of skipping dead tiles of a fixed grid, so the simulator
    lowers it with the ``vertical-slash-gather`` family.
    """

    kind: ClassVar[str] = "gathered_attention"

    def _problems(self) -> list[str]:
        p = super()._problems()
        if not p and not isinstance(self.spec.mask, VerticalSlashMask):
            p.append(
                f"GatheredAttentionOp.spec.mask: {self.spec.mask.kind}; expected a "
                f"vertical_slash mask"
            )
        return p


def _head_mask_ok(spec: AttentionSpec) -> bool:
    return isinstance(spec.mask, FullMask | CausalMask)


@register_op
@dataclass(frozen=True)
class MixtureOfHeadsAttentionOp(Op):
    """Mixture-of-Head attention (Jin et al. 2024, arXiv 2410.11842).

    ``spec`` is the full multi-head attention; every token attends with exactly
    ``active_heads`` of its ``spec.q_heads`` heads (shared heads included), so the score
    and value work is exactly ``2*B*active*live_pairs*(d_qk + d_v)`` whatever the routing
    (each token contributes its own key count once per selected head). Bytes: the Q rows
    and O rows of the (token, head) pairs that run, and every K/V head (each is read by
    the tokens routed to it). The router (a ``d_model x H`` linear) and the top-k are
    separate ops. The mask must be full or causal.
    """

    spec: AttentionSpec
    active_heads: int
    kind: ClassVar[str] = "mixture_of_heads"

    def _problems(self) -> list[str]:
        if not isinstance(self.spec, AttentionSpec):
            return [f"MixtureOfHeadsAttentionOp.spec: {self.spec!r}; expected an AttentionSpec"]
        p = _ints(self, "active_heads")
        if not p and self.active_heads > self.spec.q_heads:
            p.append(
                f"MixtureOfHeadsAttentionOp.active_heads: {self.active_heads} exceeds the "
                f"{self.spec.q_heads} heads; expected 1 <= active_heads <= q_heads"
            )
        if not _head_mask_ok(self.spec):
            p.append(
                f"MixtureOfHeadsAttentionOp.spec.mask: {self.spec.mask.kind}; expected a full "
                f"or causal mask"
            )
        return p

    @property
    def rows_per_head(self) -> int:
        """Query rows one head computes under balanced routing, ``ceil(q*k/H)``."""
        s = self.spec
        return -(-s.q_len * self.active_heads // s.q_heads)

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"B{self.spec.batch} {self.active_heads}/{self.spec.q_heads} heads q{self.spec.q_len} kv{self.spec.kv_len} d{self.spec.head_dim_qk} {self.spec.mask.kind}"

    def flops(self) -> float:
        s = self.spec
        return 2.0 * s.batch * self.active_heads * s.live_pairs * (s.head_dim_qk + s.head_dim_v)

    def io_bytes(self) -> OpBytes:
        s = self.spec
        q = s.batch * self.active_heads * s.q_len * s.head_dim_qk
        kv = s.batch * s.kv_heads * s.kv_len * (s.head_dim_qk + s.head_dim_v)
        o = s.batch * self.active_heads * s.q_len * s.head_dim_v
        return OpBytes(nbytes(self.dtype, q + kv), nbytes(self.dtype, o), 0.0)


@register_op
@dataclass(frozen=True)
class DifferentialAttentionOp(Op):
    """(Grouped) differential attention: ``(softmax(Q1 K1^T) - lambda softmax(Q2 K2^T)) V``.

    ``spec`` describes the signal maps (``q_heads`` signal heads, their K/V heads, mask);
    the noise maps come from ``noise_heads`` heads (Q2, K2), each shared by
    ``q_heads / noise_heads`` signal heads like GQA's K/V heads (Grouped Differential
    Attention, Lim et al. 2025, arXiv 2510.06949; ``noise_heads == q_heads`` is the
    Differential Transformer, Ye et al. 2024). Each softmax map is normalised on its own,
    so each multiplies V: FLOPs per live pair ``2*d_qk`` per signal and per noise head
    plus ``2*d_v`` per signal head for each of the two maps, and ``2*q_len*d_v`` per signal
    head for ``o1 - lambda*o2``. Bytes: Q1, K1, V (per ``spec``), Q2 and K2 (per noise
    head), O.
    """

    spec: AttentionSpec
    noise_heads: int
    kind: ClassVar[str] = "differential_attention"

    def _problems(self) -> list[str]:
        if not isinstance(self.spec, AttentionSpec):
            return [f"DifferentialAttentionOp.spec: {self.spec!r}; expected an AttentionSpec"]
        p = _ints(self, "noise_heads")
        if not p and (self.noise_heads > self.spec.q_heads or self.spec.q_heads % self.noise_heads):
            p.append(
                f"DifferentialAttentionOp.noise_heads: {self.noise_heads} does not divide the "
                f"{self.spec.q_heads} signal heads; expected a divisor of q_heads"
            )
        return p

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"B{self.spec.batch} H{self.spec.q_heads} noise{self.noise_heads} q{self.spec.q_len} kv{self.spec.kv_len} d{self.spec.head_dim_qk} {self.spec.mask.kind}"

    def flops(self) -> float:
        s = self.spec
        pairs = s.batch * s.live_pairs
        scores = 2.0 * pairs * s.head_dim_qk * (s.q_heads + self.noise_heads)
        values = 2.0 * pairs * s.head_dim_v * 2 * s.q_heads
        combine = 2.0 * s.batch * s.q_heads * s.q_len * s.head_dim_v
        return scores + values + combine

    def io_bytes(self) -> OpBytes:
        s = self.spec
        q = s.batch * (s.q_heads + self.noise_heads) * s.q_len * s.head_dim_qk
        kv = s.batch * s.kv_heads * s.kv_len * (s.head_dim_qk + s.head_dim_v)
        k2 = s.batch * self.noise_heads * s.kv_len * s.head_dim_qk
        o = s.batch * s.q_heads * s.q_len * s.head_dim_v
        return OpBytes(nbytes(self.dtype, q + kv + k2), nbytes(self.dtype, o), 0.0)


@register_op
@dataclass(frozen=True)
class SpectralDictionaryMixerOp(Op):
    """SDict-VLM's spectral dictionary token mixer (Kiruluta & Burity 2025, arXiv 2506.18943).

    Every token is a sparse combination of ``atoms`` learnable frequency atoms (amplitude,
    frequency and phase per channel), and the sequence is mixed globally in O(L log L).
    Our reading of the mechanism, stated because the paper gives no operator-level
    algorithm: per sequence of ``L = seq`` tokens and ``d = dim`` channels,

    * coefficients of each token on the atoms: a linear layer ``d x K`` (``2*L*d*K``);
    * the top-``active`` coefficients per token (``L*K`` compares);
    * synthesis ``s_t = sum_{k in top(t)} c_tk * a_k cos(2 pi f_k t / L + phi_k)``
      (``4*L*active*d``: cosine, amplitude, multiply, add);
    * global mixing: the circular convolution of x with s along the tokens by FFT,
      ``irfft(rfft(x) * rfft(s))``: three real FFTs (``3 * 2.5*L*log2 L`` per channel)
      and the complex product (``6*(L//2 + 1)`` per channel).

    Weights: the dictionary (``3*K*d``) and the coefficient layer (``d*K``).
    """

    batch: int
    seq: int
    dim: int
    atoms: int
    active: int
    kind: ClassVar[str] = "spectral_dictionary"

    def _problems(self) -> list[str]:
        p = _ints(self, "batch", "seq", "dim", "atoms", "active")
        if not p and self.active > self.atoms:
            p.append(
                f"SpectralDictionaryMixerOp.active: {self.active} exceeds atoms {self.atoms}; "
                f"expected 1 <= active <= atoms"
            )
        return p

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"B{self.batch} L{self.seq} d{self.dim} atoms {self.active}/{self.atoms}"

    def fft_flops(self) -> float:
        """Three real FFTs along the tokens and the complex product, every channel."""
        per_channel = 3 * _fft_flops(self.seq) + 6.0 * (self.seq // 2 + 1)
        return per_channel * self.dim * self.batch

    def coefficient_flops(self) -> float:
        """Token -> atom coefficients: a GEMM ``(B*L) x d`` by ``d x K``."""
        return 2.0 * self.batch * self.seq * self.dim * self.atoms

    def synthesis_flops(self) -> float:
        """Top-``active`` selection and the sparse synthesis."""
        tokens = self.batch * self.seq
        return tokens * self.atoms + 4.0 * tokens * self.active * self.dim

    def flops(self) -> float:
        return self.fft_flops() + self.coefficient_flops() + self.synthesis_flops()

    def io_bytes(self) -> OpBytes:
        x = self.batch * self.seq * self.dim
        w = 3 * self.atoms * self.dim + self.dim * self.atoms
        return OpBytes(nbytes(self.dtype, x), nbytes(self.dtype, x), nbytes(self.dtype, w))


@register_op
@dataclass(frozen=True)
class HaarWaveletMixerOp(Op):
    """LMWT (Kiruluta et al. 2025, arXiv 2504.08801): learnable multi-scale Haar mixing.

    ``levels`` Haar analysis steps along the tokens, each halving the approximation:
    ``a = w_a * (x_even + x_odd)``, ``d = w_d * (x_even - x_odd)`` with learnable
    per-level, per-channel coefficients, then the synthesis back (``x_even = g_a a + g_d
    d``, ``x_odd = g_a a - g_d d``). A level producing ``n`` pairs costs ``4*n`` ops per
    channel each way, so FLOPs ``8 * d * sum_j ceil(L / 2^j)`` per sequence (``j = 1 ..
    levels``): linear in ``L``. Bytes: x in, y out, ``4*levels*dim`` coefficients.
    """

    batch: int
    seq: int
    dim: int
    levels: int
    kind: ClassVar[str] = "haar_wavelet"

    def _problems(self) -> list[str]:
        p = _ints(self, "batch", "seq", "dim", "levels")
        if not p and (1 << self.levels) > 2 * self.seq:
            p.append(
                f"HaarWaveletMixerOp.levels: {self.levels} halves {self.seq} tokens below one; "
                f"expected levels <= {max(1, math.ceil(math.log2(self.seq)))}"
            )
        return p

    def level_pairs(self) -> list[int]:
        """Output pairs of each analysis level, ``ceil(L / 2^j)``."""
        return [-(-self.seq // (1 << j)) for j in range(1, self.levels + 1)]

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"B{self.batch} L{self.seq} d{self.dim} {self.levels} levels"

    def flops(self) -> float:
        return 8.0 * self.dim * sum(self.level_pairs()) * self.batch

    def io_bytes(self) -> OpBytes:
        x = self.batch * self.seq * self.dim
        return OpBytes(
            nbytes(self.dtype, x),
            nbytes(self.dtype, x),
            nbytes(self.dtype, 4 * self.levels * self.dim),
        )


@register_op
@dataclass(frozen=True)
class GraphWaveletOp(Op):
    """GWT (Kiruluta et al. 2025, arXiv 2505.07862): multi-scale wavelets on a graph.

    The paper filters with ``U g_k(Lambda) U^T`` (an eigendecomposition); its linear-time
    claim needs the standard polynomial form (Hammond et al. 2011), which is what is
    counted: Chebyshev terms ``T_p = 2 L T_{p-1} - T_{p-2}`` up to ``order`` on the sparse
    normalised Laplacian (``nnz`` nonzeros, self-loops included), one SpMM each
    (``2*nnz*d``) plus the recurrence (``2*N*d``), and the scales folded into one weight
    per term and channel (``Y = sum_p beta_p * T_p``, ``beta_p = sum_k theta_kp alpha_k``):
    ``2*(order+1)*N*d``. Bytes: X in, Y out, the Laplacian in CSR (fp32 values, int32
    column indices, ``N+1`` int32 row pointers) as an input (it comes from each input's
    parse), and the ``scales*(order+1) + scales*dim`` filter weights.
    """

    batch: int
    nodes: int
    dim: int
    nnz: int
    scales: int = 4
    order: int = 3
    kind: ClassVar[str] = "graph_wavelet"

    def _problems(self) -> list[str]:
        p = _ints(self, "batch", "nodes", "dim", "nnz", "scales", "order")
        if not p and self.nnz > self.nodes * self.nodes:
            p.append(
                f"GraphWaveletOp.nnz: {self.nnz} exceeds nodes**2 = {self.nodes**2}; expected "
                f"at most one nonzero per node pair"
            )
        return p

    def csr_bytes(self) -> float:
        """Bytes of one Laplacian in CSR."""
        return self.nnz * 8.0 + (self.nodes + 1) * 4.0

    def spmm_flops(self) -> float:
        """The ``order`` SpMMs with their recurrence, every sequence."""
        return self.order * (2.0 * self.nnz * self.dim + 2.0 * self.nodes * self.dim) * self.batch

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"B{self.batch} N{self.nodes} d{self.dim} nnz{self.nnz} {self.scales} scales order {self.order}"

    def flops(self) -> float:
        combine = 2.0 * (self.order + 1) * self.nodes * self.dim * self.batch
        return self.spmm_flops() + combine

    def io_bytes(self) -> OpBytes:
        x = self.batch * self.nodes * self.dim
        w = self.scales * (self.order + 1) + self.scales * self.dim
        return OpBytes(
            nbytes(self.dtype, x) + self.batch * self.csr_bytes(),
            nbytes(self.dtype, x),
            nbytes(self.dtype, w),
        )


@register_op
@dataclass(frozen=True)
class GroupRationalOp(Op):
    """KAT's group-rational KAN activation (Yang & Wang 2024, arXiv 2409.10594).

    ``y = P(x) / (1 + |Q(x)|)`` elementwise on ``rows x cols``, with the ``cols`` channels
    in ``groups`` groups sharing the coefficients of ``P`` (degree ``num_order``) and ``Q``
    (degree ``den_order``, no constant term). Horner: ``2*m`` ops for P, ``2*n - 1`` for Q,
    then abs, add and divide: ``2*m + 2*n + 2`` ops per element (20 for KAT's (5, 4)).
    Bytes: x in, y out, ``groups*(m + 1 + n)`` fp32 coefficients. In a KAT block it
    precedes each of the two linear layers of the MLP.
    """

    rows: int
    cols: int
    groups: int = 8
    num_order: int = 5
    den_order: int = 4
    kind: ClassVar[str] = "group_rational"

    def _problems(self) -> list[str]:
        p = _ints(self, "rows", "cols", "groups", "num_order", "den_order")
        if not p and self.cols % self.groups:
            p.append(
                f"GroupRationalOp.groups: {self.groups} does not divide cols {self.cols}; "
                f"expected a divisor of the channel count"
            )
        return p

    @property
    def ops_per_element(self) -> int:
        """``2*m + 2*n + 2``."""
        return 2 * self.num_order + 2 * self.den_order + 2

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"{self.rows}x{self.cols} {self.groups} groups P{self.num_order}/Q{self.den_order}"

    def flops(self) -> float:
        return float(self.rows) * self.cols * self.ops_per_element

    def io_bytes(self) -> OpBytes:
        n = self.rows * self.cols
        w = self.groups * (self.num_order + 1 + self.den_order)
        return OpBytes(nbytes(self.dtype, n), nbytes(self.dtype, n), nbytes("fp32", w))


@register_op
@dataclass(frozen=True)
class MaskSetupOp(Op):
    """Building a block mask once per forward (FlexAttention's ``create_block_mask``).

    ``mask_mod`` is evaluated on ``pairs`` (batch x head x query x key entries of the
    mask's broadcast shape; ``ops_per_pair`` each, default 4: two index compares, a
    logical op, the block reduction), and the block index tensors are written
    (``index_bytes``). Eager ``create_block_mask`` materialises the boolean matrix
    (``materialized``): that write and re-read is traffic the simulator adds, not
    compulsory bytes. The tracer records the whole call as this one op instead of the
    dozens of aten kernels it runs.
    """

    pairs: int
    index_bytes: float
    ops_per_pair: float = 4.0
    materialized: bool = True
    kind: ClassVar[str] = "mask_setup"

    def _problems(self) -> list[str]:
        p = _ints(self, "pairs")
        for n in ("index_bytes", "ops_per_pair"):
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0 or math.isinf(v):
                p.append(f"MaskSetupOp.{n}: {v!r} is invalid; expected a finite number >= 0")
        if not isinstance(self.materialized, bool):
            p.append(f"MaskSetupOp.materialized: {self.materialized!r}; expected true or false")
        return p

    def describe(self) -> str:
        """Short description of the sizes (for ``attnsim workload show``)."""
        return f"{self.pairs} pairs{' materialised' if self.materialized else ''}"

    def flops(self) -> float:
        return float(self.pairs) * float(self.ops_per_pair)

    def io_bytes(self) -> OpBytes:
        return OpBytes(0.0, float(self.index_bytes), 0.0)
