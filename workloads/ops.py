"""The workload IR: one frozen dataclass per op kind, registered by ``kind`` in :data:`OP_KINDS`.

Each op knows two hardware-independent numbers for *one* instance (a block's ``count``
multiplies them):

* :meth:`Op.flops` -- arithmetic operations (a multiply-accumulate counts as 2);
* :meth:`Op.io_bytes` -- the compulsory memory traffic in bytes: every input read once,
  every output written once, weights read once (:class:`OpBytes`). What a real kernel
  re-reads because of limited on-chip memory is for ``sim/`` to add.

FLOPs per element of the non-GEMM ops are conventions stated on each class (an ``exp`` or
a divide counts as one op); the simulator charges them to the engine class that runs them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from attnsim.registry import Registry

from .dtypes import check_dtype, nbytes
from .errors import WorkloadError
from .masks import build_from_fields, construct, mask_from_dict
from .spec import PHASES, AttentionSpec

__all__ = [
    "OP_KINDS",
    "AttentionOp",
    "AttentionSpec",
    "EmbeddingOp",
    "ElementwiseOp",
    "FftOp",
    "GemmOp",
    "LinearAttentionOp",
    "NormOp",
    "Op",
    "OpBytes",
    "SoftmaxOp",
    "UnknownOp",
    "op_from_dict",
    "register_op",
]

#: Registered op kinds: ``kind`` -> class.
OP_KINDS: Registry[type[Op]] = Registry("op kind", WorkloadError)

_O = TypeVar("_O", bound="type[Op]")


def register_op(cls: _O) -> _O:
    """Class decorator adding an op class to :data:`OP_KINDS`; duplicate kinds are refused."""
    OP_KINDS.register(cls.kind, cls)
    return cls


@dataclass(frozen=True)
class OpBytes:
    """Compulsory bytes of one op instance: ``inputs`` read, ``outputs`` written, ``weights`` read."""

    inputs: float
    outputs: float
    weights: float = 0.0

    @property
    def total(self) -> float:
        """All compulsory bytes, ``inputs + outputs + weights``."""
        return self.inputs + self.outputs + self.weights


def _ints(obj: Any, *names: str, minimum: int = 1) -> list[str]:
    cls = type(obj).__name__
    out = []
    for n in names:
        v = getattr(obj, n)
        if isinstance(v, bool) or not isinstance(v, int):
            out.append(f"{cls}.{n}: {v!r} is not an integer; expected an integer >= {minimum}")
        elif v < minimum:
            out.append(f"{cls}.{n}: {v} is too small; expected an integer >= {minimum}")
    return out


def _choice(obj: Any, name: str, allowed: tuple[Any, ...]) -> list[str]:
    v = getattr(obj, name)
    if v not in allowed:
        shown = ", ".join(repr(a) if a is None else str(a) for a in allowed)
        return [f"{type(obj).__name__}.{name}: {v!r} is not allowed; expected one of {shown}"]
    return []


@dataclass(frozen=True)
class Op:
    """One operation of a workload: a name (unique within its block, by convention) and a dtype."""

    name: str
    dtype: str
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        cls = type(self).__name__
        problems: list[str] = []
        if not isinstance(self.name, str):
            problems.append(f"{cls}.name: {self.name!r} is not a string; expected a string")
        problems += check_dtype(self.dtype, f"{cls}.dtype")
        problems += self._problems()
        if problems:
            raise WorkloadError(problems)

    def _problems(self) -> list[str]:
        return []

    def flops(self) -> float:
        """Arithmetic operations of one instance (a multiply-accumulate counts as 2)."""
        raise NotImplementedError

    def io_bytes(self) -> OpBytes:
        """Compulsory bytes of one instance (inputs read once, outputs written once, weights)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short description of the sizes, for tables (empty unless a kind gives one)."""
        return ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict ``{"kind": ..., field: value}``; nested specs/masks become dicts."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if hasattr(v, "to_dict"):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def op_from_dict(d: Mapping[str, Any], where: str = "op") -> Op:
    """Inverse of :meth:`Op.to_dict`; raises :class:`WorkloadError` naming ``where.field``."""
    if not isinstance(d, Mapping):
        raise WorkloadError([f"{where}: got {type(d).__name__}; expected an object"])
    cls = OP_KINDS.lookup(d.get("kind"), where=f"{where}.kind")  # type: ignore[arg-type]
    if any(f.name == "spec" for f in dataclasses.fields(cls)):  # ops nesting an AttentionSpec
        problems: list[str] = []
        kwargs: dict[str, Any] = {}
        try:
            kwargs = build_from_fields(cls, d, where, skip=("kind", "spec"))
        except WorkloadError as exc:
            problems += exc.problems
        if "spec" not in d:
            problems.append(f"{where}.spec: missing; expected an attention spec object")
        else:
            try:
                kwargs["spec"] = spec_from_dict(d["spec"], f"{where}.spec")
            except WorkloadError as exc:
                problems += exc.problems
        if problems:
            raise WorkloadError(problems)
        return typing.cast(Op, construct(cls, kwargs, where))
    kwargs = build_from_fields(cls, d, where)
    return typing.cast(Op, construct(cls, kwargs, where))


def spec_from_dict(d: Any, where: str = "spec") -> AttentionSpec:
    """Inverse of :meth:`AttentionSpec.to_dict`."""
    if not isinstance(d, Mapping):
        raise WorkloadError([f"{where}: got {type(d).__name__}; expected an object"])
    body = {k: v for k, v in d.items() if k != "mask"}
    problems: list[str] = []
    kwargs: dict[str, Any] = {}
    try:
        kwargs = build_from_fields(AttentionSpec, body, where, skip=("mask",))
    except WorkloadError as exc:
        problems += exc.problems
    mask = None
    if "mask" not in d:
        problems.append(f"{where}.mask: missing; expected a mask object with a 'kind'")
    else:
        try:
            mask = mask_from_dict(d["mask"], f"{where}.mask")
        except WorkloadError as exc:
            problems += exc.problems
    if problems:
        raise WorkloadError(problems)
    kwargs["mask"] = mask
    return typing.cast(AttentionSpec, construct(AttentionSpec, kwargs, where))


# --------------------------------------------------------------------------------------
# GEMM and attention
# --------------------------------------------------------------------------------------


@register_op
@dataclass(frozen=True)
class GemmOp(Op):
    """``batch`` independent products ``C[m,n] = A[m,k] @ B[k,n]``; FLOPs ``2*batch*m*n*k``.

    ``weight_operand`` marks ``"a"`` or ``"b"`` as a weight matrix (a linear layer): it is
    shared by the whole batch, so it is read once (``weights`` bytes) and stored in
    ``weight_dtype`` when given (e.g. ``dtype="int8"`` activations with
    ``weight_dtype="ternary"`` weights, BitNet b1.58). Activations and the output use
    ``dtype``. Without a weight operand both operands count as per-batch inputs.
    """

    m: int
    n: int
    k: int
    batch: int = 1
    weight_operand: str | None = None
    weight_dtype: str | None = None
    kind: ClassVar[str] = "gemm"

    def _problems(self) -> list[str]:
        p = _ints(self, "m", "n", "k", "batch") + _choice(self, "weight_operand", ("a", "b", None))
        if self.weight_dtype is not None:
            p += check_dtype(self.weight_dtype, "GemmOp.weight_dtype")
            if self.weight_operand is None:
                p.append(
                    "GemmOp.weight_dtype: given without weight_operand; expected weight_operand "
                    "'a' or 'b' to say which operand is the weight"
                )
        return p

    def flops(self) -> float:
        return 2.0 * self.batch * self.m * self.n * self.k

    def io_bytes(self) -> OpBytes:
        a, b = self.m * self.k, self.k * self.n
        out = nbytes(self.dtype, self.batch * self.m * self.n)
        if self.weight_operand is None:
            return OpBytes(nbytes(self.dtype, self.batch * (a + b)), out, 0.0)
        wdt = self.weight_dtype or self.dtype
        w, act = (a, b) if self.weight_operand == "a" else (b, a)
        return OpBytes(nbytes(self.dtype, self.batch * act), out, nbytes(wdt, w))


@register_op
@dataclass(frozen=True)
class AttentionOp(Op):
    """Fused attention ``softmax(Q K^T) V`` over the live pairs of ``spec.mask``.

    FLOPs ``2*B*Hq*live_pairs*(d_qk + d_v)`` (the two GEMMs on live pairs; ``4*B*H*Sq*Sk*D``
    for a full mask). Bytes: Q read once (``B*Hq*q_len*d_qk``), K and V read once for the
    ``kv_heads`` only and for the keys some query attends (``B*Hkv*live_keys*(d_qk+d_v)``:
    a decode step with a sliding window reads the window, not the whole cache), O written
    once (``B*Hq*q_len*d_v``).
    Softmax work (exp, max, sum: about 5 ops per live pair and head) is reported by
    :meth:`softmax_flops`, separately, because it runs on a different engine.
    """

    spec: AttentionSpec
    kind: ClassVar[str] = "attention"

    def _problems(self) -> list[str]:
        if not isinstance(self.spec, AttentionSpec):
            return [f"AttentionOp.spec: {self.spec!r}; expected an AttentionSpec"]
        return []

    def flops(self) -> float:
        s = self.spec
        return 2.0 * s.batch * s.q_heads * s.live_pairs * (s.head_dim_qk + s.head_dim_v)

    def describe(self) -> str:
        """Heads, lengths, head dims, phase, mask kind and density."""
        s = self.spec
        heads = f"H{s.q_heads}" + (f"/kv{s.kv_heads}" if s.kv_heads != s.q_heads else "")
        dims = f"d{s.head_dim_qk}" + (f"/{s.head_dim_v}" if s.head_dim_v != s.head_dim_qk else "")
        return (
            f"B{s.batch} {heads} q{s.q_len} kv{s.kv_len} {dims} {s.phase} "
            f"{s.mask.kind} ({s.density:.3g})"
        )

    def softmax_flops(self) -> float:
        """Non-GEMM ops of the online softmax: 5 per live pair and query head (max, sub, exp, sum, scale)."""
        s = self.spec
        return 5.0 * s.batch * s.q_heads * s.live_pairs

    def io_bytes(self) -> OpBytes:
        s = self.spec
        q = s.batch * s.q_heads * s.q_len * s.head_dim_qk
        kv = s.batch * s.kv_heads * s.live_keys * (s.head_dim_qk + s.head_dim_v)
        o = s.batch * s.q_heads * s.q_len * s.head_dim_v
        return OpBytes(nbytes(self.dtype, q + kv), nbytes(self.dtype, o), 0.0)


# --------------------------------------------------------------------------------------
# Non-GEMM ops
# --------------------------------------------------------------------------------------


@register_op
@dataclass(frozen=True)
class SoftmaxOp(Op):
    """Row softmax of a ``rows x cols`` matrix; 5 ops per element (max, sub, exp, sum, divide)."""

    rows: int
    cols: int
    kind: ClassVar[str] = "softmax"

    def _problems(self) -> list[str]:
        return _ints(self, "rows", "cols")

    def flops(self) -> float:
        return 5.0 * self.rows * self.cols

    def io_bytes(self) -> OpBytes:
        n = self.rows * self.cols
        return OpBytes(nbytes(self.dtype, n), nbytes(self.dtype, n), 0.0)


NORMS: tuple[str, ...] = ("layernorm", "rmsnorm", "groupnorm")


@register_op
@dataclass(frozen=True)
class NormOp(Op):
    """Normalisation over the last axis of ``rows x cols``.

    Ops per element: layernorm/groupnorm 8 (mean 1, variance 3, normalise 2, affine 2),
    rmsnorm 4 (square-sum 2, scale 1, gain 1). Weights: gain and bias per column
    (``2*cols``; rmsnorm has gain only, ``cols``), in ``dtype``.
    """

    rows: int
    cols: int
    norm: str = "layernorm"
    kind: ClassVar[str] = "norm"

    def _problems(self) -> list[str]:
        return _ints(self, "rows", "cols") + _choice(self, "norm", NORMS)

    def flops(self) -> float:
        per = 4.0 if self.norm == "rmsnorm" else 8.0
        return per * self.rows * self.cols

    def io_bytes(self) -> OpBytes:
        n = self.rows * self.cols
        w = self.cols if self.norm == "rmsnorm" else 2 * self.cols
        return OpBytes(nbytes(self.dtype, n), nbytes(self.dtype, n), nbytes(self.dtype, w))


@register_op
@dataclass(frozen=True)
class ElementwiseOp(Op):
    """``numel`` outputs from ``n_inputs`` same-shaped inputs (residual add, GELU, SiLU, ...).

    FLOPs ``numel * flops_per_element`` (e.g. 1 for add, ~8 for a tanh-GELU); ``function``
    is a label for reports.
    """

    numel: int
    n_inputs: int = 1
    flops_per_element: float = 1.0
    function: str = "add"
    kind: ClassVar[str] = "elementwise"

    def _problems(self) -> list[str]:
        p = _ints(self, "numel") + _ints(self, "n_inputs", minimum=0)
        fpe = self.flops_per_element
        if (
            isinstance(fpe, bool)
            or not isinstance(fpe, int | float)
            or not fpe >= 0
            or math.isinf(fpe)
        ):
            p.append(
                f"ElementwiseOp.flops_per_element: {fpe!r} is invalid; expected a finite number >= 0"
            )
        if not isinstance(self.function, str):
            p.append(f"ElementwiseOp.function: {self.function!r}; expected a string")
        return p

    def flops(self) -> float:
        return float(self.numel) * float(self.flops_per_element)

    def io_bytes(self) -> OpBytes:
        return OpBytes(
            nbytes(self.dtype, self.n_inputs * self.numel), nbytes(self.dtype, self.numel), 0.0
        )


@register_op
@dataclass(frozen=True)
class FftOp(Op):
    """Complex FFT over the axes ``lengths`` for ``batch * channels`` independent signals.

    FLOPs ``5 * N * log2(N)`` real ops per complex transform of ``N = prod(lengths)`` points
    (the radix-2 Cooley-Tukey count, the convention FFTW's benchmarks use), times
    ``batch * channels``. FNet's token mixer is a 2-D FFT over (sequence, hidden):
    ``lengths=(seq, hidden), channels=1``. ``dtype`` is the real component type; every
    element is complex, so bytes are ``2 * nbytes(dtype, N)`` per signal in and out
    (a real input counted as complex: an upper bound that real-to-complex FFTs halve).
    """

    batch: int
    lengths: tuple[int, ...]
    channels: int = 1
    inverse: bool = False
    kind: ClassVar[str] = "fft"

    def _problems(self) -> list[str]:
        p = _ints(self, "batch", "channels")
        if not isinstance(self.lengths, tuple) or not self.lengths:
            p.append(f"FftOp.lengths: {self.lengths!r}; expected a non-empty list of lengths")
        else:
            for i, n in enumerate(self.lengths):
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    p.append(f"FftOp.lengths[{i}]: {n!r} is invalid; expected an integer >= 1")
        if not isinstance(self.inverse, bool):
            p.append(f"FftOp.inverse: {self.inverse!r}; expected true or false")
        return p

    @property
    def points(self) -> int:
        """Points per transform, ``prod(lengths)``."""
        return math.prod(self.lengths)

    def flops(self) -> float:
        n = self.points
        return 5.0 * n * math.log2(n) * self.batch * self.channels if n > 1 else 0.0

    def io_bytes(self) -> OpBytes:
        complex_elems = 2 * self.points * self.batch * self.channels
        b = nbytes(self.dtype, complex_elems)
        return OpBytes(b, b, 0.0)


@register_op
@dataclass(frozen=True)
class LinearAttentionOp(Op):
    """Causal linear attention (RetNet, GLA, Mamba-2 SSD style), chunked.

    Per head, with ``T = seq_len``, ``d = head_dim`` and the sequence cut into chunks of
    ``chunk`` tokens (``c_i`` tokens in chunk ``i``, the last one ragged):

    * prefill: ``sum_i [4 * c_i**2 * d  +  4 * c_i * d**2]`` -- the intra-chunk part is a
      quadratic, masked attention inside the chunk (``Q K^T`` and ``(.) V``: two GEMMs of
      ``2 c_i^2 d``); the inter-chunk part reads the running ``d x d`` state
      (``Q_i S``: ``2 c_i d^2``) and updates it (``S += K_i^T V_i``: ``2 c_i d^2``).
      With ``decay`` add ``c_i**2 + d**2 + 2*c_i*d`` per chunk (decay mask, state decay,
      scaling of q and k).
    * decode: the recurrent form, per new token ``4 * d**2`` (state update and read-out),
      plus ``d**2`` with ``decay``.

    Times ``batch * heads``. Bytes: Q, K, V read once and O written once (``T*d`` each per
    head); the ``d x d`` state is written at the end of prefill, and read and written in
    decode.
    """

    batch: int
    heads: int
    seq_len: int
    head_dim: int
    chunk: int = 64
    decay: bool = False
    phase: str = "prefill"
    kind: ClassVar[str] = "linear_attention"

    def _problems(self) -> list[str]:
        p = _ints(self, "batch", "heads", "seq_len", "head_dim", "chunk")
        p += _choice(self, "phase", PHASES)
        if not isinstance(self.decay, bool):
            p.append(f"LinearAttentionOp.decay: {self.decay!r}; expected true or false")
        return p

    def flops(self) -> float:
        d, T = self.head_dim, self.seq_len
        if self.phase == "decode":
            per_head = T * (4.0 * d * d + (d * d if self.decay else 0.0))
        else:
            full, rest = divmod(T, self.chunk)
            sizes = [self.chunk] * full + ([rest] if rest else [])
            per_head = 0.0
            for c in sizes:
                per_head += 4.0 * c * c * d + 4.0 * c * d * d
                if self.decay:
                    per_head += c * c + d * d + 2.0 * c * d
        return per_head * self.batch * self.heads

    def io_bytes(self) -> OpBytes:
        bh = self.batch * self.heads
        qkv = 3 * bh * self.seq_len * self.head_dim
        out = bh * self.seq_len * self.head_dim
        state = bh * self.head_dim * self.head_dim
        state_in = state if self.phase == "decode" else 0
        return OpBytes(nbytes(self.dtype, qkv + state_in), nbytes(self.dtype, out + state), 0.0)


@register_op
@dataclass(frozen=True)
class EmbeddingOp(Op):
    """Table lookup of ``num_tokens`` ids into a ``vocab x dim`` table (a gather, no FLOPs).

    Bytes: int64 ids in, ``num_tokens * dim`` out; weights are only the rows touched,
    at most ``min(num_tokens, vocab)`` rows (compulsory traffic, not the whole table).
    """

    num_tokens: int
    dim: int
    vocab: int
    kind: ClassVar[str] = "embedding"

    def _problems(self) -> list[str]:
        return _ints(self, "num_tokens", "dim", "vocab")

    def flops(self) -> float:
        return 0.0

    def io_bytes(self) -> OpBytes:
        rows = min(self.num_tokens, self.vocab)
        return OpBytes(
            nbytes("int64", self.num_tokens),
            nbytes(self.dtype, self.num_tokens * self.dim),
            nbytes(self.dtype, rows * self.dim),
        )


@register_op
@dataclass(frozen=True)
class UnknownOp(Op):
    """An op the tracer could not classify: kept (with its aten name and bytes), never dropped.

    No FLOPs are claimed; ``input_bytes``/``output_bytes`` are as observed.
    """

    aten: str
    input_bytes: float = 0.0
    output_bytes: float = 0.0
    kind: ClassVar[str] = "unknown"

    def _problems(self) -> list[str]:
        p = []
        for n in ("input_bytes", "output_bytes"):
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0 or math.isinf(v):
                p.append(f"UnknownOp.{n}: {v!r} is invalid; expected a finite number of bytes >= 0")
        if not isinstance(self.aten, str):
            p.append(f"UnknownOp.aten: {self.aten!r}; expected a string")
        return p

    def flops(self) -> float:
        return 0.0

    def io_bytes(self) -> OpBytes:
        return OpBytes(float(self.input_bytes), float(self.output_bytes), 0.0)
