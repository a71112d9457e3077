"""The ``TorchDispatchMode`` that records aten ops into IR ops.

It runs *above* a ``FakeTensorMode``: each op is executed by the fake mode (shapes only)
and, when it is one the IR knows, recorded as an :class:`~workloads.ops.Op`.  Alongside
it keeps three kinds of side information, keyed weakly by the (fake) tensor object:

* **weights** — the fake parameters and buffers of the model and their views/casts, so a
  GEMM knows which operand is a weight (``weight_operand``);
* **shadows** — exact real values of small tensors computed from constants only (see
  :mod:`workloads.tracing.maskinfer`), so masks built inside the model stay classifiable;
* **kv repeats** — tensors produced by the ``expand`` + ``reshape`` of ``repeat_kv``
  (GQA without ``enable_gqa``): SDPA sees as many KV heads as query heads, the tag gives
  the real number of KV heads back.  The ``clone`` that materialises the repeat is not
  recorded (a fused GQA kernel does not do it).

Attention is recorded from the aten op that runs: every SDPA backend
(``_scaled_dot_product_flash_attention_for_cpu``, ``..._flash_attention``,
``..._efficient_attention``, ``..._cudnn_attention``, ``..._attention_math``, the
overrideable fused op) with its ``is_causal`` flag and mask, the FlexAttention
higher-order op with its block mask, and the ``attnsim::`` custom ops.  SDPA with
``dropout_p > 0`` decomposes (before dispatch) into bmm/softmax/bmm and is recorded as
those ops; :func:`~workloads.tracing.trace_model` runs the model in ``eval()`` mode, where
transformers and ``nn`` layers pass ``dropout_p=0``.

Module hooks (installed by :func:`workloads.tracing.trace_model`) tell the recorder which
module is running, which repeated layer an op belongs to, and when a norm module whose
body is decomposed (``LlamaRMSNorm``: pow/mean/rsqrt/mul) is entered: its ops are folded
into one ``NormOp``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from attnsim.workloads.masks import (
    BlockSparseMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    mask_from_dict,
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
from attnsim.workloads.ops_variants import (
    DifferentialAttentionOp,
    GroupRationalOp,
    HaarWaveletMixerOp,
    MaskSetupOp,
    MixtureOfHeadsAttentionOp,
    SpectralDictionaryMixerOp,
)
from attnsim.workloads.spec import AttentionSpec
from attnsim.workloads.tracing.maskinfer import (
    SHADOW_LIMIT,
    classify_dense,
    live_from_tensor,
    top_left_causal,
)
from attnsim.workloads.tracing.opmap import ELEMENTWISE, SETUP_OPS, VIEW_OPS, precision_of
from torch._subclasses.fake_tensor import FakeTensor, unset_fake_temporarily
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["LayerKey", "Recorder", "Segment"]

log = logging.getLogger(__name__)

#: ``(path of the ModuleList, index of the child)`` of a repeated layer.
LayerKey = tuple[str, int]

_SDPA_OPS = frozenset(
    {
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_attention_math",
        "_scaled_dot_product_attention_math_for_mps",
        "_scaled_dot_product_fused_attention_overrideable",
        "scaled_dot_product_attention",
    }
)
_GEMM_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_int_mm"})
_NONDETERMINISTIC = frozenset(
    {
        "rand",
        "randn",
        "randint",
        "randperm",
        "rand_like",
        "randn_like",
        "randint_like",
        "normal",
        "normal_",
        "uniform_",
        "bernoulli",
        "bernoulli_",
        "exponential_",
        "multinomial",
        "native_dropout",
        "dropout",
        "empty",
        "empty_like",
        "new_empty",
        "empty_strided",
        "new_empty_strided",
        "geometric_",
        "cauchy_",
        "log_normal_",
    }
)
_PASS_THROUGH = frozenset({"clone", "_to_copy", "contiguous"})


@dataclass
class Segment:
    """A run of recorded ops that belong to one repeated layer (``key``) or to none."""

    key: LayerKey | None
    ops: list[Op] = field(default_factory=list)


def _numel(shape: Sequence[int]) -> int:
    return int(math.prod(int(s) for s in shape))


def _tensors(tree: Any) -> list[torch.Tensor]:
    leaves, _ = tree_flatten(tree)
    return [x for x in leaves if isinstance(x, torch.Tensor)]


def _bytes(tensors: Sequence[torch.Tensor]) -> float:
    return float(sum(t.numel() * t.element_size() for t in tensors))


def _bind(func: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Arguments of an aten op by schema name (defaults filled in)."""
    out: dict[str, Any] = {}
    schema_args = func._schema.arguments
    for i, a in enumerate(schema_args):
        if i < len(args) and not a.kwarg_only:
            out[a.name] = args[i]
        elif a.name in kwargs:
            out[a.name] = kwargs[a.name]
        elif a.has_default_value():
            out[a.name] = a.default_value
        else:
            out[a.name] = None
    return out


class Recorder(TorchDispatchMode):
    """Record the ops of a forward pass run under ``FakeTensorMode`` (see module doc)."""

    supports_higher_order_operators = True

    def __init__(self, weights: WeakIdKeyDictionary, phase: str | None = None) -> None:
        super().__init__()
        self._weights = weights
        self._shadow = WeakIdKeyDictionary()
        self._kv_repeat = WeakIdKeyDictionary()
        self._kv_cache = WeakIdKeyDictionary()
        self._phase = phase
        self.segments: list[Segment] = [Segment(None)]
        self.skipped: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self.unrecovered_masks = 0
        self.mask_notes: dict[str, float] = {}
        self.module_stack: list[str] = []
        self._layer_stack: list[tuple[LayerKey, str]] = []
        self._fold_depth = 0
        self._fold: tuple[str, str, torch.Tensor] | None = None
        self._setup_frame: Any = None  # the create_block_mask frame being folded

    # ------------------------------------------------------------ module hooks

    def enter_module(self, path: str) -> None:
        """Called by a forward pre-hook of every module."""
        self.module_stack.append(path)

    def exit_module(self) -> None:
        """Called by the forward hook of every module."""
        if self.module_stack:
            self.module_stack.pop()

    def enter_layer(self, key: LayerKey, path: str) -> None:
        """Start attributing ops to repeated layer ``key`` (outermost layer wins)."""
        self._layer_stack.append((key, path))
        if len(self._layer_stack) == 1:
            self.segments.append(Segment(key))

    def exit_layer(self) -> None:
        """End the innermost repeated layer scope."""
        if self._layer_stack:
            self._layer_stack.pop()
            if not self._layer_stack:
                self.segments.append(Segment(None))

    def enter_fold(self, path: str, norm: str, x: torch.Tensor | None) -> None:
        """Enter a norm module whose ops are folded into one ``NormOp``."""
        self._fold_depth += 1
        if self._fold_depth == 1 and x is not None:
            self._fold = (path, norm, x)

    def exit_fold(self) -> None:
        """Leave a folded norm module, emitting its ``NormOp``."""
        self._fold_depth -= 1
        if self._fold_depth == 0 and self._fold is not None:
            path, norm, x = self._fold
            self._fold = None
            cols = int(x.shape[-1]) if x.dim() else 1
            rows = x.numel() // max(cols, 1)
            self._emit(
                NormOp(
                    name=self._name(norm, path),
                    dtype=precision_of(x.dtype),
                    rows=rows,
                    cols=cols,
                    norm=norm,
                )
            )

    # ------------------------------------------------------------ helpers

    def _name(self, opname: str, path: str | None = None) -> str:
        here = path if path is not None else (self.module_stack[-1] if self.module_stack else "")
        if self._layer_stack:
            base = self._layer_stack[0][1]
            if here == base:
                here = ""
            elif here.startswith(base + "."):
                here = here[len(base) + 1 :]
        return f"{here}.{opname}" if here else opname

    def _emit(self, op: Op) -> None:
        if self._fold_depth:
            return
        self.segments[-1].ops.append(op)

    def mark_kv_cache(self, t: torch.Tensor) -> None:
        """Declare ``t`` a KV-cache tensor (see :meth:`_cache_append`)."""
        self._kv_cache[t] = True

    def _cache_append(self, args: tuple, out: Any) -> bool:
        """Record ``cat([cache, new])`` of a KV cache as writing ``new`` only.

        transformers' ``DynamicCache`` appends a step's K/V by concatenating it to the
        cached tensor, copying the whole cache every step; a serving KV cache (paged or
        preallocated) writes the new tokens in place.  A ``cat`` whose first operand is a
        declared cache tensor (or empty: the first write into a fresh cache) is recorded
        as ``UnknownOp(aten="kv_cache_append")`` moving the new tokens' bytes once; its
        output is a cache tensor in turn.
        """
        tensors = args[0] if args and isinstance(args[0], (list, tuple)) else []
        if len(tensors) != 2 or not all(isinstance(t, torch.Tensor) for t in tensors):
            return False
        cache, new = tensors
        if cache not in self._kv_cache and cache.numel() != 0:
            return False
        outs = _tensors(out)
        for o in outs:
            self._kv_cache[o] = True
        moved = _bytes([new])
        self.unknown["kv_cache_append"] += 1
        self._emit(
            UnknownOp(
                name=self._name("kv_cache_append"),
                dtype=precision_of(new.dtype),
                aten="kv_cache_append",
                input_bytes=moved,
                output_bytes=moved,
            )
        )
        return True

    def is_weight(self, t: Any) -> bool:
        """True for model parameters/buffers and views or casts of them."""
        return isinstance(t, torch.Tensor) and t in self._weights

    def shadow(self, t: torch.Tensor) -> torch.Tensor | None:
        """The exact real value of ``t`` if it is known (see module doc)."""
        if not isinstance(t, FakeTensor):
            return t
        return self._shadow.get(t)

    def set_shadow(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        """Declare the real value of a fake tensor (inputs, small constants)."""
        if real.numel() <= SHADOW_LIMIT:
            self._shadow[fake] = real

    # ------------------------------------------------------------ dispatch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if isinstance(func, torch._ops.HigherOrderOperator):
            return self._higher_order(func, args, kwargs)
        out = func(*args, **kwargs)
        packet = func._schema.name.split("::")[-1]
        namespace = func.namespace
        self._propagate(func, packet, args, kwargs, out)
        if self._fold_depth:
            return out
        if self._in_mask_setup():
            self.skipped["create_block_mask"] += 1
            return out
        try:
            self._record(func, namespace, packet, args, kwargs, out)
        except Exception as exc:  # a mapping bug must not hide the op: keep it as unknown
            log.warning("could not map %s (%s); kept as UnknownOp", func, exc)
            self._unknown(func, args, kwargs, out)
        return out

    def _in_mask_setup(self) -> bool:
        """True inside FlexAttention's ``create_block_mask``: its dozens of aten ops
        (mask evaluation, block reductions, sorts) are one :class:`MaskSetupOp`, emitted
        when the call is first seen, with sizes read from the call's arguments."""
        flex = sys.modules.get("torch.nn.attention.flex_attention")
        target = getattr(getattr(flex, "create_block_mask", None), "__code__", None)
        if target is None:
            return False
        frame: Any = sys._getframe(2)
        for _ in range(48):
            if frame is None or frame.f_code is target:
                break
            frame = frame.f_back
        if frame is None or frame.f_code is not target:
            self._setup_frame = None  # held until now so its id cannot be reused
            return False
        if frame is not self._setup_frame:
            self._setup_frame = frame
            self._emit(_mask_setup_op(self._name("create_block_mask"), frame.f_locals))
        return True

    def _propagate(self, func: Any, packet: str, args: tuple, kwargs: dict, out: Any) -> None:
        ins = _tensors((args, kwargs))
        outs = _tensors(out)
        # weights: views and casts of a weight are the weight
        if ins and outs and (packet in VIEW_OPS or packet in _PASS_THROUGH):
            src = ins[0]
            if src in self._weights:
                for o in outs:
                    self._weights[o] = self._weights[src]
            if src in self._kv_repeat:
                for o in outs:
                    self._kv_repeat[o] = self._kv_repeat[src]
        if packet == "expand" and ins:
            src = ins[0]
            target = [int(s) for s in args[1]]
            shape = list(src.shape)
            # repeat_kv: (B, Hkv, 1, S, D) -> (B, Hkv, n_rep, S, D)
            if (
                len(shape) == 5
                and shape[2] == 1
                and len(target) == 5
                and target[2] > 1
                and target[1] in (shape[1], -1)
            ):
                for o in outs:
                    self._kv_repeat[o] = int(shape[1])
        # shadows: exact values of small constant-derived tensors
        if packet in _NONDETERMINISTIC or not outs:
            return
        if any(o.numel() > SHADOW_LIMIT for o in outs):
            self._invalidate(func, args, kwargs)
            return
        known = True

        def real(x: Any) -> Any:
            nonlocal known
            if isinstance(x, FakeTensor):
                s = self._shadow.get(x)
                if s is None:
                    known = False
                    return x
                return s
            return x

        real_args = tree_map(real, args)
        real_kwargs = tree_map(real, kwargs)
        if not known:
            self._invalidate(func, args, kwargs)
            return
        try:
            with unset_fake_temporarily():
                real_out = func(*real_args, **real_kwargs)
        except Exception:  # noqa: BLE001 - a shadow is an optimisation, never an error
            return
        for o, r in zip(outs, _tensors(real_out), strict=False):
            if isinstance(r, torch.Tensor) and not isinstance(r, FakeTensor):
                self._shadow[o] = r

    def _invalidate(self, func: Any, args: tuple, kwargs: dict) -> None:
        """Forget the shadow of tensors an op writes to when their new value is unknown."""
        for i, a in enumerate(func._schema.arguments):
            if a.alias_info is not None and a.alias_info.is_write:
                val = args[i] if i < len(args) else kwargs.get(a.name)
                for t in _tensors(val):
                    self._shadow.pop(t, None)

    def _unknown(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        ins, outs = _tensors((args, kwargs)), _tensors(out)
        key = str(func.overloadpacket) if hasattr(func, "overloadpacket") else func.name()
        dtype = precision_of(outs[0].dtype if outs else ins[0].dtype) if (ins or outs) else "fp32"
        self.unknown[key] += 1
        self._emit(
            UnknownOp(
                name=self._name(key.split(".")[-1]),
                dtype=dtype,
                aten=key,
                input_bytes=_bytes(ins),
                output_bytes=_bytes(outs),
            )
        )

    def _record(
        self, func: Any, namespace: str, packet: str, args: tuple, kwargs: dict, out: Any
    ) -> None:
        if namespace == "attnsim":
            self._custom(func, packet, args, kwargs, out)
            return
        if packet in VIEW_OPS or func.namespace == "prim":
            self.skipped[packet] += 1
            return
        if packet in SETUP_OPS:
            self.skipped[packet] += 1
            return
        if packet == "clone" and args and args[0] in self._kv_repeat:
            self.skipped["clone(repeat_kv)"] += 1
            return
        if packet == "cat" and self._cache_append(args, out):
            return
        if packet in _GEMM_OPS:
            self._gemm(func, packet, args, kwargs, out)
        elif packet in _SDPA_OPS:
            b = _bind(func, args, kwargs)
            mask = b.get("attn_mask", b.get("attn_bias"))
            self._emit(
                self._attention(
                    "attention",
                    b["query"],
                    b["key"],
                    b["value"],
                    mask,
                    bool(b.get("is_causal") or False),
                )
            )
        elif packet in ("_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax"):
            x = args[0]
            dim = int(args[1]) % max(x.dim(), 1)
            cols = int(x.shape[dim]) if x.dim() else 1
            self._emit(
                SoftmaxOp(
                    name=self._name("softmax"),
                    dtype=precision_of(x.dtype),
                    rows=x.numel() // max(cols, 1),
                    cols=cols,
                )
            )
        elif packet in ("native_layer_norm", "layer_norm", "rms_norm", "_fused_rms_norm"):
            x = args[0]
            cols = _numel(args[1])
            norm = "layernorm" if "layer" in packet else "rmsnorm"
            self._emit(
                NormOp(
                    name=self._name(norm),
                    dtype=precision_of(x.dtype),
                    rows=x.numel() // max(cols, 1),
                    cols=cols,
                    norm=norm,
                )
            )
        elif packet in ("native_group_norm", "group_norm"):
            x = args[0]
            groups = int(args[6]) if packet == "native_group_norm" else int(args[1])
            rows = int(x.shape[0]) * groups
            self._emit(
                NormOp(
                    name=self._name("groupnorm"),
                    dtype=precision_of(x.dtype),
                    rows=rows,
                    cols=x.numel() // max(rows, 1),
                    norm="groupnorm",
                )
            )
        elif packet in ("convolution", "_convolution", "conv2d", "conv1d", "conv3d"):
            self._conv(args, out)
        elif packet in ("_fft_r2c", "_fft_c2r", "_fft_c2c"):
            self._fft(packet, args, out)
        elif packet == "embedding":
            weight, idx = args[0], args[1]
            self._emit(
                EmbeddingOp(
                    name=self._name("embedding"),
                    dtype=precision_of(weight.dtype),
                    num_tokens=idx.numel(),
                    dim=int(weight.shape[-1]),
                    vocab=int(weight.shape[0]),
                )
            )
        elif packet in ELEMENTWISE:
            outs = _tensors(out)
            ins = _tensors((args, kwargs))
            if not outs:
                self._unknown(func, args, kwargs, out)
                return
            o = outs[0]
            fn, per = ELEMENTWISE[packet]
            numel = max(o.numel(), max((t.numel() for t in ins), default=0))
            n_in = max(1, sum(1 for t in ins if t.numel() == numel))
            self._emit(
                ElementwiseOp(
                    name=self._name(fn),
                    dtype=precision_of(o.dtype),
                    numel=numel,
                    n_inputs=n_in,
                    flops_per_element=per,
                    function=fn,
                )
            )
        else:
            self._unknown(func, args, kwargs, out)

    # ------------------------------------------------------------ op mappers

    def _gemm(self, func: Any, packet: str, args: tuple, kwargs: dict, out: Any) -> None:
        if packet in ("addmm", "baddbmm"):
            a, b = args[1], args[2]
        else:
            a, b = args[0], args[1]
        if packet == "linear":
            k = int(a.shape[-1])
            m = a.numel() // max(k, 1)
            n = int(b.shape[0])
            batch = 1
        elif a.dim() == 2 and b.dim() == 2:
            m, k = int(a.shape[0]), int(a.shape[1])
            n = int(b.shape[1])
            batch = 1
        else:
            m, k = int(a.shape[-2]), int(a.shape[-1])
            n = int(b.shape[-1])
            batch = int(
                math.prod(int(s) for s in torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
            )
        weight_operand = "b" if self.is_weight(b) else ("a" if self.is_weight(a) else None)
        act = a if weight_operand != "a" else b
        dtype = precision_of(act.dtype)
        w = b if weight_operand == "b" else (a if weight_operand == "a" else None)
        weight_dtype = precision_of(w.dtype) if w is not None else None
        if weight_dtype == dtype:
            weight_dtype = None
        self._emit(
            GemmOp(
                name=self._name(packet),
                dtype=dtype,
                m=m,
                n=n,
                k=k,
                batch=batch,
                weight_operand=weight_operand,
                weight_dtype=weight_dtype,
            )
        )

    def _conv(self, args: tuple, out: Any) -> None:
        """A convolution as the GEMM of its im2col form (same FLOPs: 2 per MAC)."""
        x, w = args[0], args[1]
        o = _tensors(out)[0]
        transposed = bool(args[6]) if len(args) > 6 else False
        groups = int(args[8]) if len(args) > 8 else 1
        kernel = _numel(w.shape[2:])
        if transposed:  # weight (in, out/groups, *k): col2im form
            m = int(x.shape[0]) * _numel(x.shape[2:])
            n = int(w.shape[1]) * kernel
            k = int(w.shape[0]) // groups
        else:  # weight (out, in/groups, *k)
            m = int(o.shape[0]) * _numel(o.shape[2:])
            n = int(w.shape[0]) // groups
            k = int(w.shape[1]) * kernel
        wdt = precision_of(w.dtype) if self.is_weight(w) else None
        dtype = precision_of(x.dtype)
        self._emit(
            GemmOp(
                name=self._name("conv"),
                dtype=dtype,
                m=m,
                n=n,
                k=k,
                batch=groups,
                weight_operand="b" if self.is_weight(w) else None,
                weight_dtype=wdt if wdt != dtype else None,
            )
        )

    def _fft(self, packet: str, args: tuple, out: Any) -> None:
        x = args[0]
        dims = [int(d) % x.dim() for d in args[1]]
        o = _tensors(out)[0]
        shape = o.shape if packet == "_fft_c2r" else x.shape
        lengths = tuple(int(shape[d]) for d in dims)
        batch = x.numel() // max(_numel([x.shape[d] for d in dims]), 1)
        if packet == "_fft_c2c":
            inverse = not bool(args[3])
        else:
            inverse = packet == "_fft_c2r"
        src = x if x.is_complex() else o
        self._emit(
            FftOp(
                name=self._name("fft"),
                dtype=precision_of(src.dtype),
                batch=batch,
                lengths=lengths,
                channels=1,
                inverse=inverse,
            )
        )

    def _kv_heads(self, q_heads: int, key: torch.Tensor) -> int:
        kv = int(key.shape[-3]) if key.dim() >= 3 else 1
        rep = self._kv_repeat.get(key)
        if rep is not None and kv == q_heads and q_heads % rep == 0:
            return int(rep)
        return kv

    def _mask(self, name: str, mask: Any, is_causal: bool, q_len: int, kv_len: int) -> MaskPattern:
        if mask is None:
            return top_left_causal(q_len, kv_len) if is_causal else FullMask()
        value = self.shadow(mask)
        if value is None:
            self.unrecovered_masks += 1
            log.warning(
                "%s: mask of shape %s has no recoverable values under FakeTensorMode; "
                "recorded as FullMask",
                name,
                tuple(mask.shape),
            )
            return FullMask()
        with unset_fake_temporarily():
            live, uniform = live_from_tensor(value, q_len, kv_len)
        if is_causal:
            live &= np.tril(np.ones((q_len, kv_len), dtype=bool))
        pattern, exact = classify_dense(live)
        if not exact or not uniform:
            self.mask_notes[name] = float(live.mean())
        return pattern

    def _attention(
        self,
        opname: str,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: Any,
        is_causal: bool,
        pattern: MaskPattern | None = None,
    ) -> AttentionOp:
        q_len, kv_len = int(q.shape[-2]), int(k.shape[-2])
        if q.dim() >= 4:
            batch = int(math.prod(int(s) for s in q.shape[:-3]))
            q_heads = int(q.shape[-3])
        else:
            batch, q_heads = (int(q.shape[0]) if q.dim() == 3 else 1), 1
        kv_heads = self._kv_heads(q_heads, k) if q.dim() >= 4 else 1
        name = self._name(opname)
        if pattern is None:
            pattern = self._mask(name, mask, is_causal, q_len, kv_len)
        phase = self._phase or ("decode" if q_len == 1 and kv_len > 1 else "prefill")
        spec = AttentionSpec(
            batch=batch,
            q_heads=q_heads,
            kv_heads=kv_heads,
            q_len=q_len,
            kv_len=kv_len,
            head_dim_qk=int(q.shape[-1]),
            head_dim_v=int(v.shape[-1]),
            phase=phase,
            mask=pattern,
        )
        return AttentionOp(name=name, dtype=precision_of(q.dtype), spec=spec)

    def _custom(self, func: Any, packet: str, args: tuple, kwargs: dict, out: Any) -> None:
        b = _bind(func, args, kwargs)
        if packet == "neighborhood_attention_2d":
            q, k, v = b["q"], b["k"], b["v"]
            bsz, heads, xs, ys, d = (int(s) for s in q.shape)
            n = xs * ys
            pattern = NeighborhoodMask(
                spatial=(xs, ys),
                window=tuple(int(w) for w in b["window"]),
                dilation=tuple(int(w) for w in b["dilation"]),
                stride=(1, 1),
                causal=tuple(bool(c) for c in b["is_causal"]),
            )
            phase = self._phase or "prefill"
            spec = AttentionSpec(
                batch=bsz,
                q_heads=heads,
                kv_heads=int(k.shape[1]),
                q_len=n,
                kv_len=n,
                head_dim_qk=d,
                head_dim_v=int(v.shape[-1]),
                phase=phase,
                mask=pattern,
            )
            self._emit(
                AttentionOp(
                    name=self._name("neighborhood_attention"),
                    dtype=precision_of(q.dtype),
                    spec=spec,
                )
            )
        elif packet == "lightning_attention":
            q, v = b["q"], b["v"]
            bsz, heads, n, d = (int(s) for s in q.shape)
            phase = self._phase or ("decode" if b["state"] is not None and n == 1 else "prefill")
            self._emit(
                LinearAttentionOp(
                    name=self._name("lightning_attention"),
                    dtype=precision_of(q.dtype),
                    batch=bsz,
                    heads=heads,
                    seq_len=n,
                    head_dim=d,
                    chunk=int(b["chunk"]),
                    decay=b["decay"] is not None,
                    phase=phase,
                )
            )
        elif packet in ("ternary_linear", "int8_linear"):
            x, w = b["x"], b["weight"]
            k_in = int(w.shape[1])
            self._emit(
                GemmOp(
                    name=self._name(packet),
                    dtype="int8",
                    m=x.numel() // max(k_in, 1),
                    n=int(w.shape[0]),
                    k=k_in,
                    batch=1,
                    weight_operand="b",
                    weight_dtype="ternary" if packet == "ternary_linear" else "int8",
                )
            )
        elif packet == "masked_attention":
            given = mask_from_dict(json.loads(b["mask"]), where="attnsim::masked_attention.mask")
            self._emit(
                self._attention("masked_attention", b["q"], b["k"], b["v"], None, False, given)
            )
        elif packet == "mixture_of_heads_attention":
            att = self._attention("moh", b["q"], b["k"], b["v"], None, bool(b["is_causal"]))
            self._emit(
                MixtureOfHeadsAttentionOp(
                    name=att.name,
                    dtype=att.dtype,
                    spec=att.spec,
                    active_heads=int(b["active_heads"]),
                )
            )
        elif packet == "differential_attention":
            att = self._attention(
                "differential", b["q1"], b["k1"], b["v"], None, bool(b["is_causal"])
            )
            self._emit(
                DifferentialAttentionOp(
                    name=att.name, dtype=att.dtype, spec=att.spec, noise_heads=int(b["q2"].shape[1])
                )
            )
        elif packet == "group_rational":
            x, num, den = b["x"], b["numerator"], b["denominator"]
            cols = int(x.shape[-1])
            self._emit(
                GroupRationalOp(
                    name=self._name("group_rational"),
                    dtype=precision_of(x.dtype),
                    rows=x.numel() // max(cols, 1),
                    cols=cols,
                    groups=int(num.shape[0]),
                    num_order=int(num.shape[1]) - 1,
                    den_order=int(den.shape[1]),
                )
            )
        elif packet == "haar_wavelet_mixer":
            x = b["x"]
            bsz, n, c = (int(t) for t in x.shape)
            self._emit(
                HaarWaveletMixerOp(
                    name=self._name("haar_wavelet"),
                    dtype=precision_of(x.dtype),
                    batch=bsz,
                    seq=n,
                    dim=c,
                    levels=int(b["levels"]),
                )
            )
        elif packet == "spectral_dictionary_mixer":
            x, coef = b["x"], b["coef"]
            bsz, n, c = (int(t) for t in x.shape)
            self._emit(
                SpectralDictionaryMixerOp(
                    name=self._name("spectral_dictionary"),
                    dtype=precision_of(x.dtype),
                    batch=bsz,
                    seq=n,
                    dim=c,
                    atoms=int(coef.shape[1]),
                    active=int(b["active"]),
                )
            )
        else:
            self._unknown(func, args, kwargs, out)

    # ------------------------------------------------------------ FlexAttention

    def _higher_order(self, func: Any, args: tuple, kwargs: dict) -> Any:
        if func.name() != "flex_attention":  # e.g. cond/while_loop: run it, keep it as unknown
            out = func(*args, **kwargs)
            if not self._fold_depth:
                self._unknown(func, args, kwargs, out)
            return out
        from torch._higher_order_ops.flex_attention import flex_attention_fake_impl

        query, key, value, _score_mod, block_mask = args[:5]
        if not self._fold_depth:
            pattern = self._flex_mask(block_mask, int(query.shape[-2]), int(key.shape[-2]))
            self._emit(self._attention("flex_attention", query, key, value, None, False, pattern))
        return flex_attention_fake_impl(*args, **kwargs)

    def _flex_mask(self, block_mask: tuple, q_len: int, kv_len: int) -> MaskPattern:
        """The pattern of a FlexAttention ``BlockMask`` (as the HOP's tuple).

        The block layout (partial + full blocks) comes from the mask's index tensors when
        their values are known (a block mask built outside the fake mode, or from
        constants).  When the pattern is small enough, ``mask_mod`` is evaluated on every
        (query, key) pair with batch and head index 0 and intersected with the layout,
        giving the exact pattern; otherwise the layout itself is recorded (the work a
        FlexAttention kernel does: partial blocks are computed whole).
        """
        block_q, block_k = int(block_mask[-3]), int(block_mask[-2])
        parts = [None if t is None else self.shadow(t) for t in block_mask[2:6]]
        kv_num, kv_idx, full_num, full_idx = parts
        layout: np.ndarray | None = None
        if (
            kv_num is not None
            and kv_idx is not None
            and (block_mask[4] is None or full_num is not None)
        ):
            with unset_fake_temporarily():
                layout = _flex_layout(
                    kv_num, kv_idx, full_num, full_idx, block_q, block_k, q_len, kv_len
                )
        mask_mod: Callable | None = block_mask[-1] if callable(block_mask[-1]) else None
        if mask_mod is not None and q_len * kv_len <= SHADOW_LIMIT:
            try:
                with unset_fake_temporarily():
                    zero = torch.zeros((), dtype=torch.int64)
                    qi = torch.arange(q_len)[:, None]
                    ki = torch.arange(kv_len)[None, :]
                    live_t = torch.as_tensor(mask_mod(zero, zero, qi, ki), dtype=torch.bool)
                    live = live_t.broadcast_to(q_len, kv_len).numpy().astype(bool)
                if layout is not None:
                    big = np.repeat(np.repeat(layout, block_q, axis=0), block_k, axis=1)
                    live = live & big[:q_len, :kv_len]
                pattern, exact = classify_dense(live)
                if exact:
                    return pattern
            except Exception:  # noqa: BLE001 - a mask_mod reading model data: use the layout
                pass
        if layout is not None:
            rows = tuple(tuple(bool(x) for x in row) for row in layout)
            return BlockSparseMask(block_q=block_q, block_k=block_k, layout=rows)
        self.unrecovered_masks += 1
        log.warning("flex_attention block mask has no recoverable values; recorded as FullMask")
        return FullMask()


def _flex_layout(
    kv_num: torch.Tensor,
    kv_idx: torch.Tensor,
    full_num: torch.Tensor | None,
    full_idx: torch.Tensor | None,
    block_q: int,
    block_k: int,
    q_len: int,
    kv_len: int,
) -> np.ndarray:
    """Union over batch and heads of the live (partial or full) blocks of a BlockMask."""
    nq, nk = math.ceil(q_len / block_q), math.ceil(kv_len / block_k)
    layout = np.zeros((nq, nk), dtype=bool)
    for num, idx in ((kv_num, kv_idx), (full_num, full_idx)):
        if num is None or idx is None:
            continue
        n_arr = num.reshape(-1, num.shape[-1]).numpy()
        i_arr = idx.reshape(-1, idx.shape[-2], idx.shape[-1]).numpy()
        for s in range(n_arr.shape[0]):
            for r in range(min(nq, n_arr.shape[1])):
                cols = i_arr[s, r, : n_arr[s, r]]
                layout[r, cols[cols < nk]] = True
    return layout


def _mask_setup_op(name: str, call: dict[str, Any]) -> MaskSetupOp:
    """The :class:`MaskSetupOp` of one ``create_block_mask`` call from its local variables.

    ``mask_mod`` is evaluated on every ``B x H x Q_LEN x KV_LEN`` entry (eager
    ``create_mask`` materialises that boolean tensor), and the block index tensors are
    written: for partial and full blocks, the KV-side counts ``(B, H, nq)`` and indices
    ``(B, H, nq, nk)`` and their Q-side transposes ``(B, H, nk)``, ``(B, H, nk, nq)``,
    int32.
    """
    bsz = int(call.get("B") or 1)
    heads = int(call.get("H") or 1)
    q_len, kv_len = int(call["Q_LEN"]), int(call["KV_LEN"])
    block = call.get("BLOCK_SIZE", 128)
    bq = int(call.get("Q_BLOCK_SIZE", block if isinstance(block, int) else block[0]))
    bk = int(call.get("KV_BLOCK_SIZE", block if isinstance(block, int) else block[1]))
    nq, nk = math.ceil(q_len / bq), math.ceil(kv_len / bk)
    per_kind = nq + nq * nk + nk + nk * nq
    return MaskSetupOp(
        name=name,
        dtype="bool",
        pairs=bsz * heads * q_len * kv_len,
        index_bytes=4.0 * bsz * heads * 2 * per_kind,
        materialized=True,
    )
