"""The model registry: name -> builder, and :func:`build_workload`.

A zoo entry knows how to build its ``nn.Module`` (random weights, never downloaded) and
how to make the inputs of one forward pass for a :class:`TraceRequest`.  Models are built
inside a ``FakeTensorMode`` (:func:`workloads.tracing.build_fake`), so even a 70B model
costs no weight memory; :func:`build_workload` then traces it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.tracing import build_fake, trace_model
from attnsim.workloads.workload import Workload
from attnsim.workloads.zoo.deploy import WEIGHT_FORMATS, store_weights
from torch import nn

from attnsim.registry import Registry

__all__ = [
    "DTYPES",
    "MODELS",
    "ModelEntry",
    "override_dims",
    "TraceInputs",
    "TraceRequest",
    "build_model",
    "build_workload",
    "get_model",
    "list_models",
    "parameter_count",
    "register_model",
]

#: Activation/weight dtypes a zoo model can be traced in -> torch dtype.
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


@dataclass(frozen=True)
class TraceRequest:
    """What to trace: sizes in sequences, tokens and pixels.

    * ``batch``: sequences (images) per forward pass.
    * ``seq``: new tokens per sequence (prefill: the prompt; decode: tokens generated in
      this step, normally 1).  For a VLM: text tokens after the image tokens.
    * ``phase``: ``"prefill"`` or ``"decode"``.
    * ``kv_len``: tokens already in the KV cache before this step (decode).  A decode step
      appends its own K/V first, so attention sees ``kv_len + seq`` keys.
    * ``dtype``: ``fp32``/``bf16``/``fp16``; ``image_size``: pixels per side (vision).
    * ``weights``: how linear layers store their weights (None: as released; ``"int8"``:
      W8A8, as an int8 accelerator stores them, :mod:`workloads.zoo.deploy`).
    """

    batch: int = 1
    seq: int = 1
    phase: str = "prefill"
    kv_len: int = 0
    dtype: str = "bf16"
    image_size: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    weights: str | None = None

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of ``dtype``."""
        return DTYPES[self.dtype]


@dataclass
class TraceInputs:
    """The call to trace: ``model(*args, **kwargs)``, and ``tokens`` (batch x new tokens)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    tokens: int
    meta: dict[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelEntry:
    """One zoo model.

    ``build(request)`` returns the module (it is called inside a ``FakeTensorMode`` with
    the request's dtype as default dtype); ``inputs(model, request)`` returns the call
    (also called inside the fake mode, so caches can be fake tensors).
    """

    name: str
    family: str
    description: str
    build: Callable[[TraceRequest], nn.Module]
    inputs: Callable[[nn.Module, TraceRequest], TraceInputs]
    default_seq: int = 2048
    phases: tuple[str, ...] = ("prefill", "decode")
    vision: bool = False
    default_image_size: int | None = None
    patch: int | None = None
    text: bool = True


MODELS: Registry[ModelEntry] = Registry("zoo model", WorkloadError)
_PARAMS: dict[str, int] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add a model to the zoo; a duplicate name is refused."""
    return MODELS.register(entry.name, entry)


def list_models() -> list[ModelEntry]:
    """Every zoo entry, sorted by name."""
    return [MODELS[k] for k in sorted(MODELS)]


def get_model(name: str) -> ModelEntry:
    """The zoo entry ``name``; :class:`WorkloadError` naming the close matches otherwise."""
    return MODELS.lookup(name, where="zoo")


#: Largest batch, sequence, KV length or image side a trace accepts: tensor shapes stay
#: far inside torch's int64 sizes, and 2**30 new tokens against 2**30 cached ones keep
#: q_len x kv_len below workloads.limits.MAX_SIZE.
MAX_TRACE_SIZE = 2**30


def _check(entry: ModelEntry, req: TraceRequest) -> None:
    problems: list[str] = []
    where = f"zoo.{entry.name}"

    def positive(field_name: str, value: Any, minimum: int = 1) -> bool:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            problems.append(
                f"{where}: {field_name} {value!r} is invalid; expected an integer >= {minimum}"
            )
            return False
        if value > MAX_TRACE_SIZE:  # bounded before any tensor shape is made
            problems.append(
                f"{where}: {field_name} {value} is too large; expected at most 2**30 "
                f"({MAX_TRACE_SIZE})"
            )
            return False
        return True

    positive("batch", req.batch)
    positive("seq", req.seq)
    positive("kv_len", req.kv_len, 0)
    if req.phase not in entry.phases:
        problems.append(
            f"{where}: phase {req.phase!r} is not supported; expected one of {', '.join(entry.phases)}"
        )
    elif req.phase == "decode" and isinstance(req.kv_len, int) and req.kv_len < 1:
        problems.append(f"{where}: kv_len {req.kv_len} with phase decode; expected kv_len >= 1")
    if req.weights is not None and req.weights not in WEIGHT_FORMATS:
        problems.append(
            f"{where}: weights {req.weights!r} is unknown; expected one of "
            f"{', '.join(WEIGHT_FORMATS)} (or none: the released weights)"
        )
    if req.dtype not in DTYPES:
        problems.append(
            f"{where}: dtype {req.dtype!r} is unknown; expected one of {', '.join(DTYPES)}"
        )
    if req.image_size is not None:
        if not entry.vision:
            problems.append(f"{where}: image_size given for a model without images; leave it out")
        elif positive("image_size", req.image_size) and entry.patch:
            if req.image_size % entry.patch:
                problems.append(
                    f"{where}: image_size {req.image_size} is not a multiple of the patch size "
                    f"{entry.patch}; expected a multiple of {entry.patch}"
                )
    if problems:
        raise WorkloadError(problems)


def build_model(name: str, request: TraceRequest | None = None) -> tuple[nn.Module, Any]:
    """Build zoo model ``name`` with fake weights; returns ``(module, fake_mode)``."""
    entry = get_model(name)
    req = request or TraceRequest(seq=entry.default_seq)
    return build_fake(lambda: entry.build(req), dtype=DTYPES.get(req.dtype, torch.bfloat16))


def parameter_count(name: str) -> int:
    """Number of parameters of zoo model ``name`` (counted on the fake model, cached)."""
    if name not in _PARAMS:
        model, _ = build_model(name)
        seen: set[int] = set()
        total = 0
        for p in model.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
        _PARAMS[name] = total
    return _PARAMS[name]


def override_dims(
    where: str, base: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """``base`` (a model's published sizes) with ``overrides`` applied; an unknown key is a
    :class:`WorkloadError` naming the model and the keys it has (for zoo models built from
    a dict of sizes, not a transformers config: that is ``zoo.hf.apply_overrides``)."""
    dims = dict(base)
    for key, value in overrides.items():
        if key not in dims:
            raise WorkloadError(
                f"zoo.{where}: override {key!r} is unknown; expected one of {', '.join(dims)}"
            )
        dims[key] = value
    return dims


def _deployed(model: torch.nn.Module, req: TraceRequest) -> torch.nn.Module:
    """``model`` with its linear layers' weights stored as ``req.weights`` says."""
    store_weights(model, req.weights)
    return model


def build_workload(
    name: str,
    batch: int = 1,
    seq: int | None = None,
    phase: str = "prefill",
    kv_len: int = 0,
    dtype: str = "bf16",
    image_size: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    weights: str | None = None,
) -> Workload:
    """Trace zoo model ``name`` into a :class:`Workload` (see :class:`TraceRequest`).

    ``seq`` defaults to the model's default prompt length in prefill and to 1 in decode.
    ``overrides`` are config fields of the model (e.g. ``{"num_hidden_layers": 2}``).
    Bad sizes or names raise :class:`WorkloadError` listing every problem.
    """
    entry = get_model(name)
    if seq is None:
        seq = entry.default_seq if phase == "prefill" else 1
    req = TraceRequest(
        batch=batch,
        seq=seq,
        phase=phase,
        kv_len=kv_len,
        dtype=dtype,
        image_size=image_size if image_size is not None else None,
        overrides=dict(overrides or {}),
        weights=weights,
    )
    _check(entry, req)
    if req.image_size is None and entry.default_image_size is not None:
        req = TraceRequest(**{**req.__dict__, "image_size": entry.default_image_size})
    model, mode = build_fake(lambda: _deployed(entry.build(req), req), dtype=req.torch_dtype)
    with mode:
        call = entry.inputs(model, req)
    meta: dict[str, str | int | float] = {
        "model": entry.name,
        "family": entry.family,
        "batch": req.batch,
        "seq": req.seq,
        "phase": req.phase,
        "kv_len": req.kv_len,
        "dtype": req.dtype,
    }
    if req.weights is not None:
        meta["weights"] = req.weights
    if req.image_size is not None:
        meta["image_size"] = req.image_size
    meta.update(call.meta)
    return trace_model(
        model,
        call.args,
        call.kwargs,
        name=entry.name,
        phase=req.phase,
        tokens=call.tokens,
        meta=meta,
    )
