"""``trace_model``: run a module under ``FakeTensorMode`` and return a :class:`Workload`."""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import torch
from attnsim.workloads.ops import UnknownOp
from attnsim.workloads.tracing.recorder import LayerKey, Recorder, Segment
from attnsim.workloads.workload import Block, Workload
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils.weak import WeakIdKeyDictionary

__all__ = [
    "build_fake",
    "fake_mode_of",
    "find_repeated_lists",
    "trace_model",
    "unknown_ops",
]

M = TypeVar("M", bound=nn.Module)

#: Module classes whose (decomposed) body is folded into one ``NormOp``.
NORM_CLASS = re.compile(r"(RMS|Layer)Norm", re.IGNORECASE)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype | None) -> Iterator[None]:
    if dtype is None:
        yield
        return
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def build_fake(
    builder: Callable[[], M],
    dtype: torch.dtype | None = None,
    fake_mode: FakeTensorMode | None = None,
) -> tuple[M, FakeTensorMode]:
    """Build a module inside a ``FakeTensorMode``: every parameter is a ``FakeTensor``.

    Nothing is allocated for weights (a 70B model builds in well under a second and a
    few MB).  ``dtype`` is the default floating dtype during construction (parameters are
    created in it; converting afterwards with ``.to()`` is not possible for fake
    parameters).  Returns the module and the fake mode to trace it with.
    """
    mode = fake_mode or FakeTensorMode()
    with mode, _default_dtype(dtype), _no_hf_init():
        model = builder()
    return model, mode


@contextlib.contextmanager
def _eager_flex_attention() -> Iterator[None]:
    """Call FlexAttention's higher-order op directly, without ``torch.compile``.

    Eager ``flex_attention`` wraps the op in ``torch.compile(fullgraph=True)``; with a
    dispatch mode active dynamo compiles nothing and that wrapper raises.  The module's
    debug switch makes it call the op directly, which the recorder intercepts.
    """
    try:
        import torch.nn.attention.flex_attention as flex
    except ImportError:  # pragma: no cover - torch without FlexAttention
        yield
        return
    old = getattr(flex, "_FLEX_ATTENTION_DISABLE_COMPILE_DEBUG", False)
    flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG = True
    try:
        yield
    finally:
        flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG = old


def _no_hf_init() -> contextlib.AbstractContextManager[Any]:
    """Skip transformers' weight initialisation (random init of fake tensors is
    meaningless, and ``trunc_normal_`` reads values, which a fake tensor cannot).

    transformers is imported here whenever it is installed: a builder usually imports it
    only inside ``builder()``, i.e. after this context is entered, so checking
    ``sys.modules`` instead made the result depend on what ran earlier in the process.
    """
    if importlib.util.find_spec("transformers") is None:
        return contextlib.nullcontext()
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # pragma: no cover - older transformers
        return contextlib.nullcontext()
    return no_init_weights()


def fake_mode_of(model: nn.Module) -> FakeTensorMode | None:
    """The ``FakeTensorMode`` the parameters of ``model`` belong to, if any."""
    for t in [*model.parameters(), *model.buffers()]:
        if isinstance(t, FakeTensor):
            return t.fake_mode
    return None


def find_repeated_lists(model: nn.Module) -> dict[str, int]:
    """Containers of repeated layers: ``ModuleList``/``Sequential`` of >= 2 children of one
    class (with parameters) that hold no such container themselves (the innermost ones).

    For a decoder-only LM this is ``model.layers``; for a hierarchical vision model the
    block list of every stage; for a VLM both the vision encoder's and the decoder's
    layer lists.  Returns ``{path: number of children}`` in module order.
    """
    candidates: dict[str, int] = {}
    for path, mod in model.named_modules():
        if not isinstance(mod, (nn.ModuleList, nn.Sequential)) or len(mod) < 2:
            continue
        if len({type(c) for c in mod}) != 1:
            continue
        if not any(True for _ in next(iter(mod)).parameters()):
            continue
        candidates[path] = len(mod)

    def inside(inner: str, outer: str) -> bool:
        return outer == "" or inner.startswith(outer + ".")

    return {
        p: n for p, n in candidates.items() if not any(q != p and inside(q, p) for q in candidates)
    }


def _convert(value: Any, mode: FakeTensorMode, recorder: Recorder, key: str = "") -> Any:
    """Real input tensors -> fake ones.

    Input values are placeholders (token ids, pixels) except for masks: the value of a
    boolean tensor, or of any tensor passed under a keyword containing ``mask``, is kept
    (as a shadow) so the pattern it encodes can be classified.
    """
    if isinstance(value, FakeTensor):
        return value
    if isinstance(value, torch.Tensor):
        fake = mode.from_tensor(value, static_shapes=True)
        if value.dtype == torch.bool or "mask" in key.lower():
            recorder.set_shadow(fake, value)
        return fake
    if isinstance(value, tuple):
        return tuple(_convert(v, mode, recorder, key) for v in value)
    if isinstance(value, list):
        return [_convert(v, mode, recorder, key) for v in value]
    if isinstance(value, dict):
        return {k: _convert(v, mode, recorder, str(k)) for k, v in value.items()}
    return value


def _cache_tensors(values: Any) -> list[torch.Tensor]:
    """K/V tensors held by transformers ``Cache`` objects among the call's arguments."""
    found: list[torch.Tensor] = []
    for value in values:
        for layer in getattr(value, "layers", None) or []:
            for attr in ("keys", "values"):
                t = getattr(layer, attr, None)
                if isinstance(t, torch.Tensor):
                    found.append(t)
    return found


def _fake_state(model: nn.Module, mode: FakeTensorMode) -> tuple[dict[str, torch.Tensor], bool]:
    """Fake versions of every parameter and buffer; True if any had to be converted."""
    state: dict[str, torch.Tensor] = {}
    converted = False
    named = [
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ]
    seen: dict[int, torch.Tensor] = {}
    for name, t in named:
        if isinstance(t, FakeTensor):
            state[name] = t
            continue
        converted = True
        if id(t) in seen:  # tied weights stay tied
            state[name] = seen[id(t)]
            continue
        if t.is_meta:
            with mode:
                fake = torch.empty_strided(tuple(t.shape), t.stride(), dtype=t.dtype, device="cpu")
        else:
            fake = mode.from_tensor(t, static_shapes=True)
        seen[id(t)] = fake
        state[name] = fake
    return state, converted


def _blocks(segments: list[Segment], list_sizes: Mapping[str, int]) -> tuple[Block, ...]:
    # merge glue, drop empty glue
    merged: list[Segment] = []
    for seg in segments:
        if seg.key is None:
            if not seg.ops:
                continue
            if merged and merged[-1].key is None:
                merged[-1].ops.extend(seg.ops)
                continue
        merged.append(Segment(seg.key, list(seg.ops)))
    last_layer = max((i for i, s in enumerate(merged) if s.key is not None), default=-1)
    first_layer = min((i for i, s in enumerate(merged) if s.key is not None), default=len(merged))
    blocks: list[Block] = []
    i, glue = 0, 0
    while i < len(merged):
        seg = merged[i]
        if seg.key is None:
            if i < first_layer:
                name = "prologue"
            elif i > last_layer:
                name = "epilogue"
            else:
                glue += 1
                name = f"glue.{glue}"
            blocks.append(Block(name=name, ops=tuple(seg.ops), count=1))
            i += 1
            continue
        path, start = seg.key
        ops = tuple(seg.ops)
        j = i + 1
        prev = start
        while j < len(merged):
            nxt = merged[j]
            if nxt.key is None or nxt.key[0] != path or nxt.key[1] != prev + 1:
                break
            if tuple(nxt.ops) != ops:
                break
            prev = nxt.key[1]
            j += 1
        count = j - i
        if start == 0 and count == list_sizes.get(path, -1):
            name = path
        else:
            name = f"{path}[{start}:{start + count}]"
        blocks.append(Block(name=name, ops=ops, count=count))
        i = j
    return tuple(blocks)


def unknown_ops(workload: Workload) -> dict[str, int]:
    """``{aten op: instances}`` of the ops the IR did not know (``UnknownOp``), counted
    with block repetition."""
    counts: Counter[str] = Counter()
    for block, op in workload.flat():
        if isinstance(op, UnknownOp):
            counts[op.aten] += block.count
    return dict(sorted(counts.items()))


def trace_model(
    model: nn.Module,
    args: Any = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    phase: str | None = None,
    tokens: int | None = None,
    meta: Mapping[str, str | int | float] | None = None,
    fold_norms: bool = True,
) -> Workload:
    """Trace one forward call ``model(*args, **kwargs)`` into a :class:`Workload`.

    The model should be built with :func:`build_fake` (parameters are ``FakeTensor``s:
    nothing is materialised).  A model with real or ``meta`` parameters is traced too: its
    parameters are swapped for fake ones with :func:`torch.func.functional_call` (a real
    model's weights then exist once, in the caller's memory).  Real input tensors are
    converted to fake ones; their values are placeholders and never used, except those of
    boolean inputs and of inputs passed under a keyword containing ``mask`` (kept when
    small, so the mask pattern can be classified).

    * ``phase``: ``"prefill"`` or ``"decode"`` for every attention op; ``None`` infers it
      per op (query length 1 with a longer KV -> decode).
    * ``tokens``: ``Workload.tokens`` (batch x new tokens); ``None`` leaves it unset.
    * ``meta``: extra metadata; the tracer adds ``unknown_ops`` (``"aten.cat:3,..."``),
      ``skipped_ops`` (views and allocations, a count), ``unrecovered_masks`` and, per
      attention op whose mask is not exactly representable, ``mask_density.<op name>``.
    * KV caches: a transformers ``Cache`` passed as a keyword argument is recognised; its
      per-step ``cat`` (which copies the whole cache in eager transformers) is recorded as
      ``UnknownOp(aten="kv_cache_append")`` writing only the new tokens, as a serving KV
      cache does.
    * ``fold_norms``: fold the ops of modules whose class name contains ``RMSNorm`` or
      ``LayerNorm`` into one ``NormOp`` (rows = tokens, cols = last dimension).

    Repeated layers: the outermost ``ModuleList``/``Sequential`` of same-class children
    (:func:`find_repeated_lists`) are hooked; consecutive children whose op sequences are
    exactly equal (every field of every op) become one :class:`Block` with a count; a
    child that differs starts a new block.  Ops outside them form ``prologue``,
    ``glue.N`` and ``epilogue`` blocks.
    """
    mode = fake_mode_of(model) or FakeTensorMode()
    state, converted = _fake_state(model, mode)
    weights = WeakIdKeyDictionary()
    for pname, t in state.items():
        weights[t] = pname
    recorder = Recorder(weights, phase=phase)
    fargs = _convert(args if isinstance(args, tuple) else (args,), mode, recorder)
    fkwargs = _convert(dict(kwargs or {}), mode, recorder)

    for tensor in _cache_tensors(fkwargs.values()):
        recorder.mark_kv_cache(tensor)
    lists = find_repeated_lists(model)
    handles: list[Any] = []

    def pre(path: str) -> Callable[..., None]:
        return lambda _m, _a: recorder.enter_module(path)

    def post(_m: nn.Module, _a: Any, _o: Any) -> None:
        recorder.exit_module()

    for path, mod in model.named_modules():
        handles.append(mod.register_forward_pre_hook(pre(path)))
        handles.append(mod.register_forward_hook(post, always_call=True))
        if fold_norms and NORM_CLASS.search(type(mod).__name__):
            norm = "rmsnorm" if "rms" in type(mod).__name__.lower() else "layernorm"

            def fold_pre(
                _m: nn.Module, a: tuple, kw: dict, path: str = path, norm: str = norm
            ) -> None:
                x = (
                    a[0]
                    if a
                    else next((v for v in kw.values() if isinstance(v, torch.Tensor)), None)
                )
                recorder.enter_fold(path, norm, x)

            handles.append(mod.register_forward_pre_hook(fold_pre, with_kwargs=True))
            handles.append(
                mod.register_forward_hook(lambda _m, _a, _o: recorder.exit_fold(), always_call=True)
            )
    for lpath, _n in lists.items():
        container = model.get_submodule(lpath)
        for idx, child in enumerate(list(container.children())):
            key: LayerKey = (lpath, idx)
            cpath = f"{lpath}.{idx}" if lpath else str(idx)
            handles.append(
                child.register_forward_pre_hook(
                    lambda _m, _a, key=key, cpath=cpath: recorder.enter_layer(key, cpath)
                )
            )
            handles.append(
                child.register_forward_hook(
                    lambda _m, _a, _o: recorder.exit_layer(), always_call=True
                )
            )

    was_training = model.training
    model.eval()
    try:
        with _eager_flex_attention(), mode, recorder, torch.no_grad():
            if converted:
                torch.func.functional_call(model, state, tuple(fargs), fkwargs)
            else:
                model(*fargs, **fkwargs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    blocks = _blocks(recorder.segments, lists)
    out_meta: dict[str, str | int | float] = dict(meta or {})
    wl = Workload(name=name or type(model).__name__, blocks=blocks, tokens=tokens, meta={})
    unknown = unknown_ops(wl)
    out_meta["unknown_ops"] = ",".join(f"{k}:{v}" for k, v in unknown.items())
    out_meta["skipped_ops"] = int(sum(recorder.skipped.values()))
    out_meta["unrecovered_masks"] = int(recorder.unrecovered_masks)
    for opname, density in recorder.mask_notes.items():
        out_meta[f"mask_density.{opname}"] = density
    return Workload(name=wl.name, blocks=blocks, tokens=tokens, meta=out_meta)
