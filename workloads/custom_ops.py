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
* ``attnsim::ternary_linear`` -> ``GemmOp`` with ``weight_dtype="ternary"``.

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

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "NAMESPACE",
    "LightningAttention",
    "NeighborhoodAttention2D",
    "TernaryLinear",
    "lightning_attention",
    "neighborhood_attention_2d",
    "neighborhood_index_1d",
    "neighborhood_mask_2d",
    "ternary_linear",
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


class TernaryLinear(nn.Module):
    """A ``nn.Linear`` replacement with ternary weights (BitNet b1.58 ``BitLinear``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(
            torch.zeros(out_features, in_features, dtype=torch.int8), requires_grad=False
        )
        self.weight_scale = nn.Parameter(torch.ones((), dtype=torch.float32), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

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
