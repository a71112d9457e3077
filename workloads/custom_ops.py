"""Custom attention/GEMM operators whose semantics survive tracing.

Some attention variants are not expressible as ``scaled_dot_product_attention`` with an
``is_causal`` flag, and a mask tensor built from data is invisible under ``FakeTensorMode``
(it has shapes but no values).  NATTEN solves this by registering its kernels as PyTorch
operators, so that a tracer sees *one* call carrying the window and dilation as
arguments.  This module does the same with :func:`torch.library.custom_op` under the
``attnsim::`` namespace.  Each operator has

* a real CPU implementation (reference quality, for small sizes: it is what the tests
  compare against and what ``examples/`` run), and
* a fake kernel (shapes and dtypes only), so models using it trace under
  ``FakeTensorMode`` without allocating anything.

The tracer (:mod:`workloads.tracer`) maps

* ``attnsim::neighborhood_attention_2d`` -> ``AttentionOp`` with a ``NeighborhoodMask``,
* ``attnsim::lightning_attention`` -> ``LinearAttentionOp``,
* ``attnsim::ternary_linear`` -> ``GemmOp`` with ``weight_dtype="ternary"``;
* ``attnsim::int8_linear`` -> ``GemmOp`` with ``weight_dtype="int8"``.

Layouts (all "heads first"):

* neighborhood attention: ``q, k, v`` of shape ``(batch, heads, X, Y, head_dim)``;
* lightning attention: ``q, k, v`` of shape ``(batch, heads, seq, head_dim)``;
* ternary linear: ``x`` of shape ``(..., in_features)``, ``weight`` int8 ``(out, in)``
  with values in {-1, 0, 1}, ``weight_scale`` a 0-d float tensor.

Neighborhood semantics follow NATTEN: along each axis of length ``L`` with window ``k``
and dilation ``d``, positions are split into ``d`` interleaved groups (``i mod d``); within
a group a query's window of ``k`` group members is centred on it and shifted (clamped) to
stay inside the group, so every query sees exactly ``k`` keys per axis when the group is
at least ``k`` long.  With ``causal`` the window is the ``k`` group members ending at the
query (fewer near the start).  Stride is 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "NAMESPACE",
    "GroupRational",
    "HaarWaveletMixer",
    "LightningAttention",
    "MaskedAttention",
    "MixtureOfHeadsAttention",
    "SpectralDictionaryMixer",
    "NeighborhoodAttention2D",
    "Int8Linear",
    "TernaryLinear",
    "group_rational",
    "haar_wavelet_mixer",
    "lightning_attention",
    "masked_attention",
    "mixture_of_heads_attention",
    "spectral_dictionary_mixer",
    "neighborhood_attention_2d",
    "neighborhood_index_1d",
    "neighborhood_mask_2d",
    "int8_linear",
    "ternary_linear",
    "differential_attention",
]

#: The ``torch.library`` namespace of the operators defined here.
NAMESPACE = "attnsim"


# --------------------------------------------------------------------------- helpers


def neighborhood_index_1d(length: int, window: int, dilation: int, causal: bool) -> list[list[int]]:
    """Key indices each query attends along one axis (NATTEN semantics, stride 1).

    Returns a list of ``length`` lists of key positions, in increasing order.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    out: list[list[int]] = []
    for i in range(length):
        group = i % dilation
        pos = i // dilation  # position of the query inside its dilation group
        group_len = (length - group + dilation - 1) // dilation
        if causal:
            first = max(0, pos - window + 1)
            last = pos
        elif group_len <= window:
            first, last = 0, group_len - 1
        else:
            first = min(max(pos - window // 2, 0), group_len - window)
            last = first + window - 1
        out.append([group + dilation * j for j in range(first, last + 1)])
    return out


def neighborhood_mask_2d(
    spatial: Sequence[int],
    window: Sequence[int],
    dilation: Sequence[int] = (1, 1),
    causal: Sequence[bool] = (False, False),
) -> Tensor:
    """The boolean ``(N, N)`` mask (``N = X*Y``, row-major) of 2-D neighborhood attention.

    ``True`` means the query (row) attends the key (column).
    """
    (x_len, y_len), (wx, wy), (dx, dy) = tuple(spatial), tuple(window), tuple(dilation)
    ix = neighborhood_index_1d(x_len, wx, dx, bool(causal[0]))
    iy = neighborhood_index_1d(y_len, wy, dy, bool(causal[1]))
    mx = torch.zeros(x_len, x_len, dtype=torch.bool)
    my = torch.zeros(y_len, y_len, dtype=torch.bool)
    for i, keys in enumerate(ix):
        mx[i, keys] = True
    for i, keys in enumerate(iy):
        my[i, keys] = True
    # (xq, yq, xk, yk) -> (xq*Y+yq, xk*Y+yk)
    full = mx[:, None, :, None] & my[None, :, None, :]
    return full.reshape(x_len * y_len, x_len * y_len)


def _check_pair(name: str, value: Sequence[int]) -> tuple[int, int]:
    if len(value) != 2 or any(int(v) < 1 for v in value):
        raise ValueError(f"{name} must be two integers >= 1, got {list(value)}")
    return int(value[0]), int(value[1])


# ------------------------------------------------------------ neighborhood attention


@torch.library.custom_op(f"{NAMESPACE}::neighborhood_attention_2d", mutates_args=())
def neighborhood_attention_2d(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    window: Sequence[int],
    dilation: Sequence[int],
    is_causal: Sequence[bool],
    scale: float,
) -> Tensor:
    """2-D neighborhood attention; ``q, k, v``: ``(B, heads, X, Y, D)``; returns ``(B, heads, X, Y, Dv)``.

    The reference implementation runs SDPA with the explicit ``(N, N)`` mask: fine for the
    small grids of tests and examples (memory grows as ``N**2``).
    """
    b, h, x_len, y_len, d = q.shape
    mask = neighborhood_mask_2d((x_len, y_len), window, dilation, is_causal).to(q.device)
    n = x_len * y_len
    out = torch.nn.functional.scaled_dot_product_attention(
        q.reshape(b, h, n, d),
        k.reshape(b, h, n, k.shape[-1]),
        v.reshape(b, h, n, v.shape[-1]),
        attn_mask=mask,
        scale=scale,
    )
    return out.reshape(b, h, x_len, y_len, v.shape[-1]).contiguous()


@neighborhood_attention_2d.register_fake
def _neighborhood_attention_2d_fake(q, k, v, window, dilation, is_causal, scale):  # type: ignore[no-untyped-def]
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


class NeighborhoodAttention2D(nn.Module):
    """NAT-style 2-D neighborhood self-attention layer over a ``(B, X, Y, C)`` feature map."""

    def __init__(
        self,
        dim: int,
        heads: int,
        window: Sequence[int] = (7, 7),
        dilation: Sequence[int] = (1, 1),
        causal: Sequence[bool] = (False, False),
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={dim}, heads={heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.window = _check_pair("window", window)
        self.dilation = _check_pair("dilation", dilation)
        self.causal = (bool(causal[0]), bool(causal[1]))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, xs, ys, c = x.shape
        qkv = self.qkv(x).reshape(b, xs, ys, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(3, 0, 4, 1, 2, 5).unbind(0)  # each (B, heads, X, Y, D)
        out = neighborhood_attention_2d(
            q, k, v, list(self.window), list(self.dilation), list(self.causal), self.head_dim**-0.5
        )
        out = out.permute(0, 2, 3, 1, 4).reshape(b, xs, ys, c)
        return self.proj(out)


# ------------------------------------------------------------ lightning attention


@torch.library.custom_op(f"{NAMESPACE}::lightning_attention", mutates_args=())
def lightning_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    decay: Tensor | None,
    state: Tensor | None,
    chunk: int,
) -> tuple[Tensor, Tensor]:
    """Causal linear ("lightning") attention with optional per-head exponential decay.

    ``o_t = sum_{s<=t} lambda**(t-s) * (q_t . k_s) * v_s (+ lambda**(t+1) * q_t S_0)``
    computed chunk by chunk: inside a chunk a masked quadratic product, across chunks a
    ``(D, Dv)`` recurrent state per head (the Lightning Attention-2 scheme).

    ``q, k``: ``(B, H, N, D)``; ``v``: ``(B, H, N, Dv)``; ``decay``: ``(H,)`` in (0, 1] or
    ``None`` (no decay); ``state``: ``(B, H, D, Dv)`` carried from earlier tokens or
    ``None`` (zeros).  Returns ``(output (B, H, N, Dv), final state (B, H, D, Dv))``.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    b, h, n, d = q.shape
    dv = v.shape[-1]
    work = torch.float64 if q.dtype == torch.float64 else torch.float32
    qf, kf, vf = q.to(work), k.to(work), v.to(work)
    lam = torch.ones(h, dtype=work, device=q.device) if decay is None else decay.to(work).reshape(h)
    s = (
        torch.zeros(b, h, d, dv, dtype=work, device=q.device)
        if state is None
        else state.to(work).clone()
    )
    out = torch.empty(b, h, n, dv, dtype=work, device=q.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        c = stop - start
        qc, kc, vc = qf[:, :, start:stop], kf[:, :, start:stop], vf[:, :, start:stop]
        idx = torch.arange(c, dtype=work, device=q.device)
        # lambda**(t-s) for s <= t inside the chunk, 0 above the diagonal
        diff = idx[:, None] - idx[None, :]
        intra = torch.where(
            diff >= 0, lam[:, None, None] ** diff.clamp(min=0), torch.zeros((), dtype=work)
        )  # (H, c, c)
        scores = (qc @ kc.transpose(-1, -2)) * intra
        q_decay = lam[:, None] ** (idx + 1)  # (H, c): decay of the carried state at step t
        out[:, :, start:stop] = scores @ vc + (qc * q_decay[None, :, :, None]) @ s
        k_decay = lam[:, None] ** (c - 1 - idx)  # (H, c): decay of key s until the chunk end
        s = (lam**c)[None, :, None, None] * s + (kc * k_decay[None, :, :, None]).transpose(
            -1, -2
        ) @ vc
    return out.to(q.dtype), s.to(q.dtype)


@lightning_attention.register_fake
def _lightning_attention_fake(q, k, v, decay, state, chunk):  # type: ignore[no-untyped-def]
    b, h, _, d = q.shape
    dv = v.shape[-1]
    return q.new_empty((b, h, q.shape[2], dv)), q.new_empty((b, h, d, dv))


class LightningAttention(nn.Module):
    """TransNormerLLM/MiniMax-style linear attention layer over ``(B, N, C)`` tokens.

    Projections q, k, v (SiLU on q and k as in TransNormerLLM), an output gate, per-head
    decay rates ``lambda_h = exp(-2**(-8 (h+1) / H))`` (fixed, ALiBi-like, as in
    TransNormerLLM), and
    the chunked ``attnsim::lightning_attention`` operator.
    """

    def __init__(self, dim: int, heads: int, chunk: int = 64, decay: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={dim}, heads={heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.chunk = chunk
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.gate = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        if decay:
            # ALiBi-like slopes: lambda_h = exp(-2 ** (-8 (h + 1) / H))
            rates = torch.exp(-(2.0 ** (-8.0 * (torch.arange(heads) + 1) / heads)))
            self.register_buffer("decay", rates, persistent=False)
        else:
            self.decay = None

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = torch.nn.functional.silu(q)
        k = torch.nn.functional.silu(k)
        o, new_state = lightning_attention(q, k, v, self.decay, state, self.chunk)
        o = o.transpose(1, 2).reshape(b, n, c)
        return self.out(o * torch.sigmoid(self.gate(x))), new_state


# ------------------------------------------------------------ ternary linear


@torch.library.custom_op(f"{NAMESPACE}::ternary_linear", mutates_args=())
def ternary_linear(x: Tensor, weight: Tensor, weight_scale: Tensor, bias: Tensor | None) -> Tensor:
    """BitNet b1.58 linear: int8 per-token absmax activations times ternary weights.

    ``weight`` is int8 ``(out, in)`` with values in {-1, 0, 1}; ``weight_scale`` a 0-d
    float tensor (the absmean scale of the original float weights).  Activations are
    quantised per token to int8 (``round(x * 127 / max|x|)``), multiplied exactly in
    integer arithmetic (carried in float64, exact below 2**53), then rescaled.
    """
    return _int8_activation_matmul(x, weight, weight_scale, bias)


def _int8_activation_matmul(
    x: Tensor, weight: Tensor, weight_scale: Tensor, bias: Tensor | None
) -> Tensor:
    """``x`` quantised per token to int8 (absmax), times the integer ``weight`` exactly
    (float64), rescaled by the token's absmax and ``weight_scale`` (0-d, or one per
    output channel), plus ``bias``: the arithmetic of both quantised linears."""
    absmax = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5).to(torch.float64)
    xq = torch.clamp(torch.round(x.to(torch.float64) * 127.0 / absmax), -128, 127)
    acc = xq @ weight.to(torch.float64).t()
    y = acc * (absmax / 127.0) * weight_scale.to(torch.float64)
    if bias is not None:
        y = y + bias.to(torch.float64)
    return y.to(x.dtype)


@ternary_linear.register_fake
def _ternary_linear_fake(x, weight, weight_scale, bias):  # type: ignore[no-untyped-def]
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


class _QuantizedLinear(nn.Module):
    """An ``nn.Linear`` replacement holding int8 weights ``(out, in)``, a float
    ``weight_scale`` (one per output channel when ``per_channel``, else one) and an
    optional float bias."""

    per_channel: bool = False

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(
            torch.zeros(out_features, in_features, dtype=torch.int8), requires_grad=False
        )
        shape = (out_features,) if self.per_channel else ()
        self.weight_scale = nn.Parameter(
            torch.ones(shape, dtype=torch.float32), requires_grad=False
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None


class TernaryLinear(_QuantizedLinear):
    """A ``nn.Linear`` replacement with ternary weights (BitNet b1.58 ``BitLinear``)."""

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> TernaryLinear:
        """Quantise float weights ``(out, in)`` the BitNet b1.58 way (absmean, round, clip)."""
        out_f, in_f = weight.shape
        layer = cls(in_f, out_f, bias=bias is not None)
        scale = weight.abs().mean().clamp(min=1e-5)
        with torch.no_grad():
            layer.weight.copy_(torch.clamp(torch.round(weight / scale), -1, 1).to(torch.int8))
            layer.weight_scale.copy_(scale)
            if bias is not None and layer.bias is not None:
                layer.bias.copy_(bias)
        return layer

    def forward(self, x: Tensor) -> Tensor:
        return ternary_linear(x, self.weight, self.weight_scale, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, ternary"


# ------------------------------------------------------------ int8 linear (W8A8)


@torch.library.custom_op(f"{NAMESPACE}::int8_linear", mutates_args=())
def int8_linear(x: Tensor, weight: Tensor, weight_scale: Tensor, bias: Tensor | None) -> Tensor:
    """W8A8 linear: int8 per-token absmax activations times int8 weights stored with one
    scale per output channel (an int8 accelerator's deployment of a non-ternary layer).

    ``weight`` is int8 ``(out, in)``; ``weight_scale`` float ``(out,)``. Activations are
    quantised per token to int8 (``round(x * 127 / max|x|)``, as :func:`ternary_linear`),
    multiplied exactly in integer arithmetic (carried in float64, exact below 2**53:
    ``in x 127 x 128 < 2**53`` for any realistic ``in``), then rescaled.
    """
    return _int8_activation_matmul(x, weight, weight_scale, bias)


@int8_linear.register_fake
def _int8_linear_fake(x, weight, weight_scale, bias):  # type: ignore[no-untyped-def]
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


class Int8Linear(_QuantizedLinear):
    """A ``nn.Linear`` replacement with int8 weights (per-output-channel absmax scales)
    and int8 activations: the format an accelerator without a 16-bit datapath stores a
    layer in, so that its DRAM holds (and streams) one byte per weight."""

    per_channel = True

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> Int8Linear:
        """Quantise float weights ``(out, in)`` per output channel: ``scale = max|w| / 127``,
        round, clip to [-127, 127]."""
        out_f, in_f = weight.shape
        layer = cls(in_f, out_f, bias=bias is not None)
        scale = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-8)
        with torch.no_grad():
            q = torch.clamp(torch.round(weight / scale[:, None]), -127, 127)
            layer.weight.copy_(q.to(torch.int8))
            layer.weight_scale.copy_(scale)
            if bias is not None and layer.bias is not None:
                layer.bias.copy_(bias)
        return layer

    def forward(self, x: Tensor) -> Tensor:
        return int8_linear(x, self.weight, self.weight_scale, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


# ------------------------------------------------------------ variant operators
#
# Attention variants whose pattern or routing a tracer cannot see in plain torch code
# (a mask built from data, per-token head routing) or whose cost is better stated as one
# op (group-rational activations, Haar mixers). Each carries its semantics as arguments
# and is recorded as one IR op (see workloads.tracing.recorder):
#
# * attnsim::masked_attention -> AttentionOp with the mask given as JSON (any MASKS kind);
# * attnsim::mixture_of_heads_attention -> MixtureOfHeadsAttentionOp;
# * attnsim::differential_attention -> DifferentialAttentionOp;
# * attnsim::group_rational -> GroupRationalOp;
# * attnsim::haar_wavelet_mixer -> HaarWaveletMixerOp;
# * attnsim::spectral_dictionary_mixer -> SpectralDictionaryMixerOp.


def _mask_of(mask_json: str):  # type: ignore[no-untyped-def]
    import json

    from attnsim.workloads.masks import mask_from_dict

    return mask_from_dict(json.loads(mask_json), where="attnsim::masked_attention.mask")


@torch.library.custom_op(f"{NAMESPACE}::masked_attention", mutates_args=())
def masked_attention(q: Tensor, k: Tensor, v: Tensor, mask: str, scale: float) -> Tensor:
    """Attention of ``q, k, v`` (``(B, H, N, D)``; K/V heads may divide the query heads)
    under a mask of the IR, given as its JSON (``json.dumps(mask.to_dict())``).

    The reference implementation builds the dense mask (``mask.dense``; small sizes) and
    runs SDPA; under a tracer the op is one ``AttentionOp`` with that exact mask, whatever
    its size.
    """
    m = _mask_of(mask)
    dense = torch.from_numpy(m.dense(q.shape[-2], k.shape[-2])).to(q.device)
    rep = q.shape[1] // k.shape[1]
    if rep > 1:
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    dead = ~dense.any(dim=-1, keepdim=True)  # rows that attend nothing give zeros
    out = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=dense | dead, scale=scale
    )
    return out.masked_fill(dead, 0.0)


@masked_attention.register_fake
def _masked_attention_fake(q, k, v, mask, scale):  # type: ignore[no-untyped-def]
    # the output in q's memory layout, as SDPA's fused kernels write it: a model that
    # viewed (B, N, H, D) as (B, H, N, D) transposes it back for free (no traced copy)
    shape = (*q.shape[:-1], v.shape[-1])
    order = sorted(range(q.dim()), key=lambda i: q.stride(i), reverse=True)
    inverse = [order.index(i) for i in range(q.dim())]
    return q.new_empty([shape[i] for i in order]).permute(inverse)


class MaskedAttention(nn.Module):
    """Self-attention over ``(B, N, C)`` tokens with a fixed IR mask (any registered kind)."""

    def __init__(self, dim: int, heads: int, mask, kv_heads: int | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        import json

        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={dim}, heads={heads}")
        self.heads = heads
        self.kv_heads = kv_heads or heads
        self.head_dim = dim // heads
        self.mask_json = json.dumps(mask.to_dict())
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * self.kv_heads * self.head_dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        kv = self.kv(x).reshape(b, n, 2, self.kv_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        o = masked_attention(q, kv[0], kv[1], self.mask_json, self.head_dim**-0.5)
        return self.out(o.transpose(1, 2).reshape(b, n, c))


@torch.library.custom_op(f"{NAMESPACE}::mixture_of_heads_attention", mutates_args=())
def mixture_of_heads_attention(
    q: Tensor, k: Tensor, v: Tensor, gate: Tensor, active_heads: int, is_causal: bool
) -> Tensor:
    """MoH attention: ``gate`` ``(B, H, N)`` holds each token's routing weights, zero for
    the heads outside its top-``active_heads``; returns ``gate * attention`` per head.

    The reference computes every head (small sizes); a kernel computes only routed
    (token, head) pairs, which is what the tracer records.
    """
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    return out * gate[..., None].to(out.dtype)


@mixture_of_heads_attention.register_fake
def _moh_fake(q, k, v, gate, active_heads, is_causal):  # type: ignore[no-untyped-def]
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


class MixtureOfHeadsAttention(nn.Module):
    """MoH self-attention (Jin et al. 2024): a router picks ``active_heads`` of ``heads``
    per token and weights their outputs (softmax over the selected scores)."""

    def __init__(self, dim: int, heads: int, active_heads: int, causal: bool = True) -> None:
        super().__init__()
        if dim % heads or not 1 <= active_heads <= heads:
            raise ValueError(
                f"need dim % heads == 0 and 1 <= active_heads <= heads, got {dim}, {heads}, {active_heads}"
            )
        self.heads, self.active, self.causal = heads, active_heads, causal
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.router = nn.Linear(dim, heads, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = self.router(x)  # (B, N, H)
        top = scores.topk(self.active, dim=-1)
        gate = torch.zeros_like(scores).scatter(-1, top.indices, top.values.softmax(-1))
        o = mixture_of_heads_attention(q, k, v, gate.transpose(1, 2), self.active, self.causal)
        return self.out(o.transpose(1, 2).reshape(b, n, c))


@torch.library.custom_op(f"{NAMESPACE}::group_rational", mutates_args=())
def group_rational(x: Tensor, numerator: Tensor, denominator: Tensor) -> Tensor:
    """KAT's group-rational activation: ``P(x) / (1 + |Q(x)|)`` per channel group.

    ``x``: ``(..., C)``; ``numerator``: ``(G, m+1)`` coefficients ``a_0..a_m``;
    ``denominator``: ``(G, n)`` coefficients ``b_1..b_n`` (Q has no constant term). Channel
    ``c`` uses group ``c // (C / G)``. Horner's rule, as KAT's kernel.
    """
    groups = numerator.shape[0]
    c = x.shape[-1]
    idx = torch.arange(c, device=x.device) // (c // groups)
    a = numerator[idx].to(x.dtype)  # (C, m+1)
    bcoef = denominator[idx].to(x.dtype)  # (C, n)
    p = torch.zeros_like(x) + a[:, -1]
    for j in range(a.shape[1] - 2, -1, -1):
        p = p * x + a[:, j]
    q = torch.zeros_like(x) + bcoef[:, -1]
    for j in range(bcoef.shape[1] - 2, -1, -1):
        q = q * x + bcoef[:, j]
    q = q * x
    return p / (1.0 + q.abs())


@group_rational.register_fake
def _group_rational_fake(x, numerator, denominator):  # type: ignore[no-untyped-def]
    return torch.empty_like(x)


class GroupRational(nn.Module):
    """A group-rational KAN activation with ``groups`` coefficient sets (KAT: 8 groups,
    orders (5, 4)), initialised near the identity."""

    def __init__(self, groups: int = 8, num_order: int = 5, den_order: int = 4) -> None:
        super().__init__()
        num = torch.zeros(groups, num_order + 1)
        num[:, 1] = 1.0
        self.numerator = nn.Parameter(num)
        self.denominator = nn.Parameter(torch.zeros(groups, den_order))

    def forward(self, x: Tensor) -> Tensor:
        return group_rational(x, self.numerator, self.denominator)


@torch.library.custom_op(f"{NAMESPACE}::haar_wavelet_mixer", mutates_args=())
def haar_wavelet_mixer(x: Tensor, coeffs: Tensor, levels: int) -> Tensor:
    """LMWT's learnable multi-scale Haar mixer along the tokens of ``x`` ``(B, N, C)``.

    ``coeffs``: ``(levels, 4, C)`` — per level the analysis weights of the approximation
    and the detail and their synthesis weights. Analysis halves the approximation per
    level (an odd length keeps its last token as a lone approximation); synthesis undoes
    it with the learned weights. With weights ``(1/2, 1/2, 1, 1)`` it is the identity.
    """
    b, n, c = x.shape
    approx = x
    details: list[tuple[Tensor, int]] = []
    for j in range(levels):
        length = approx.shape[1]
        even, odd = approx[:, 0 : length - 1 : 2], approx[:, 1:length:2]
        wa, wd = coeffs[j, 0].to(x.dtype), coeffs[j, 1].to(x.dtype)
        a = wa * (even + odd)
        d = wd * (even - odd)
        if length % 2:
            a = torch.cat([a, approx[:, -1:]], dim=1)
        details.append((d, length))
        approx = a
    for j in range(levels - 1, -1, -1):
        d, length = details[j]
        ga, gd = coeffs[j, 2].to(x.dtype), coeffs[j, 3].to(x.dtype)
        pairs = d.shape[1]
        a = approx[:, :pairs]
        out = torch.empty(b, length, c, dtype=x.dtype, device=x.device)
        out[:, 0 : 2 * pairs : 2] = ga * a + gd * d
        out[:, 1 : 2 * pairs : 2] = ga * a - gd * d
        if length % 2:
            out[:, -1] = approx[:, -1]
        approx = out
    return approx


@haar_wavelet_mixer.register_fake
def _haar_fake(x, coeffs, levels):  # type: ignore[no-untyped-def]
    return torch.empty_like(x)


class HaarWaveletMixer(nn.Module):
    """LMWT token mixer over ``(B, N, C)`` with learnable per-level, per-channel weights."""

    def __init__(self, dim: int, levels: int) -> None:
        super().__init__()
        init = torch.tensor([0.5, 0.5, 1.0, 1.0])[None, :, None].expand(levels, 4, dim).clone()
        self.coeffs = nn.Parameter(init)
        self.levels = levels

    def forward(self, x: Tensor) -> Tensor:
        return haar_wavelet_mixer(x, self.coeffs, self.levels)


@torch.library.custom_op(f"{NAMESPACE}::spectral_dictionary_mixer", mutates_args=())
def spectral_dictionary_mixer(
    x: Tensor, coef: Tensor, amp: Tensor, freq: Tensor, phase: Tensor, active: int
) -> Tensor:
    """SDict token mixer over ``x`` ``(B, L, d)`` (see ``SpectralDictionaryMixerOp``).

    ``coef``: ``(d, K)`` token -> atom coefficients; ``amp``, ``freq``, ``phase``:
    ``(K, d)`` atoms. Each token keeps its top-``active`` coefficients and synthesises
    ``s_t = sum_k c_tk * amp_k * cos(2 pi freq_k t / L + phase_k)``; the output is the
    circular convolution of ``x`` with ``s`` along the tokens, by FFT.
    """
    b, length, d = x.shape
    c = x @ coef.to(x.dtype)  # (B, L, K)
    top = c.topk(active, dim=-1)
    t = torch.arange(length, dtype=x.dtype, device=x.device)[:, None, None]  # (L, 1, 1)
    atoms = amp.to(x.dtype) * torch.cos(
        2 * math.pi * freq.to(x.dtype) * t / length + phase.to(x.dtype)
    )  # (L, K, d)
    picked = atoms[
        torch.arange(length, device=x.device)[None, :, None], top.indices
    ]  # (B, L, s, d)
    s = (top.values[..., None] * picked).sum(dim=2)
    mixed = torch.fft.irfft(torch.fft.rfft(x, dim=1) * torch.fft.rfft(s, dim=1), n=length, dim=1)
    return mixed.to(x.dtype)


@spectral_dictionary_mixer.register_fake
def _sdict_fake(x, coef, amp, freq, phase, active):  # type: ignore[no-untyped-def]
    return torch.empty_like(x)


class SpectralDictionaryMixer(nn.Module):
    """SDict token mixer with ``atoms`` learnable frequency atoms, ``active`` per token."""

    def __init__(self, dim: int, atoms: int, active: int) -> None:
        super().__init__()
        if not 1 <= active <= atoms:
            raise ValueError(f"need 1 <= active <= atoms, got active={active}, atoms={atoms}")
        self.active = active
        self.coef = nn.Parameter(torch.zeros(dim, atoms))
        self.amp = nn.Parameter(torch.ones(atoms, dim))
        self.freq = nn.Parameter(torch.zeros(atoms, dim))
        self.phase = nn.Parameter(torch.zeros(atoms, dim))

    def forward(self, x: Tensor) -> Tensor:
        return spectral_dictionary_mixer(x, self.coef, self.amp, self.freq, self.phase, self.active)


@torch.library.custom_op(f"{NAMESPACE}::differential_attention", mutates_args=())
def differential_attention(
    q1: Tensor, k1: Tensor, q2: Tensor, k2: Tensor, v: Tensor, lam: Tensor, is_causal: bool
) -> Tensor:
    """(Grouped) differential attention: ``softmax(Q1 K1^T) V - lam * softmax(Q2 K2^T) V``.

    ``q1``: ``(B, H, N, D)`` signal queries; ``k1``, ``v``: ``(B, Hkv, N, D|Dv)`` (``Hkv``
    divides ``H``, as GQA); ``q2``, ``k2``: ``(B, Hn, N, D)`` noise heads, each shared by
    ``H / Hn`` consecutive signal heads (``Hn == H``: the Differential Transformer);
    ``lam``: a tensor broadcastable to ``(H,)``. Each map is normalised on its own.
    Traced as one ``DifferentialAttentionOp``.
    """
    h = q1.shape[1]
    rep_kv, rep_noise = h // k1.shape[1], h // q2.shape[1]
    k1r = k1.repeat_interleave(rep_kv, dim=1)
    vr = v.repeat_interleave(rep_kv, dim=1)
    o1 = torch.nn.functional.scaled_dot_product_attention(q1, k1r, vr, is_causal=is_causal)
    q2r = q2.repeat_interleave(rep_noise, dim=1)
    k2r = k2.repeat_interleave(rep_noise, dim=1)
    o2 = torch.nn.functional.scaled_dot_product_attention(
        q2r, k2r, vr, is_causal=is_causal, scale=q1.shape[-1] ** -0.5
    )
    lam_h = lam.to(o1.dtype).reshape(-1)
    return o1 - lam_h.expand(h)[None, :, None, None] * o2


@differential_attention.register_fake
def _differential_attention_fake(q1, k1, q2, k2, v, lam, is_causal):  # type: ignore[no-untyped-def]
    return q1.new_empty((*q1.shape[:-1], v.shape[-1]))
