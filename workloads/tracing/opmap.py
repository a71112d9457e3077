"""Tables that say what each aten op becomes in the workload IR.

Every op the recorder sees falls in exactly one class:

* :data:`VIEW_OPS` — views and metadata (no bytes move): skipped, counted.
* :data:`SETUP_OPS` — allocation and index-construction factories (``empty``, ``arange``,
  ``zeros``…): skipped, counted.  They build masks and position ids, not model work.
* GEMMs, attention, softmax, norms, FFTs, embedding, the ``attnsim::`` custom ops: mapped
  to their IR op (see :mod:`workloads.tracing.recorder`).
* :data:`ELEMENTWISE` — pointwise maths and reductions: ``ElementwiseOp`` with the FLOPs
  per element given here (a transcendental counts as one op of its ``function``).
* everything else (``cat``, ``index``, ``clone``, ``copy_``, ``cumsum``, ``scatter``…):
  ``UnknownOp`` with the bytes of its tensor inputs and outputs, listed in the workload
  ``meta["unknown_ops"]`` — never dropped silently.
"""

from __future__ import annotations

import torch

__all__ = [
    "ELEMENTWISE",
    "SETUP_OPS",
    "VIEW_OPS",
    "precision_of",
]

#: Ops that only change metadata (shape, strides, aliasing): no cost, skipped.
VIEW_OPS: frozenset[str] = frozenset(
    {
        "view",
        "_unsafe_view",
        "reshape",
        "_reshape_alias",
        "transpose",
        "t",
        "permute",
        "expand",
        "slice",
        "select",
        "unsqueeze",
        "squeeze",
        "alias",
        "detach",
        "as_strided",
        "split",
        "split_with_sizes",
        "unbind",
        "chunk",
        "narrow",
        "unflatten",
        "flatten",
        "view_as_real",
        "view_as_complex",
        "diagonal",
        "movedim",
        "lift_fresh",
        "expand_as",
        "view_as",
        "contiguous",
        "_to_dense",
        "unsafe_split",
        "numpy_T",
        "mT",
        "swapaxes",
        "squeeze_",
        "unsqueeze_",
        "transpose_",
        "t_",
        "resolve_conj",
        "resolve_neg",
        "_conj",
        "conj",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "sym_storage_offset",
        "device",
        "dim",
        "size",
        "stride",
        "is_same_size",
        "_local_scalar_dense",
    }
)

#: Factories and allocations (index/mask/position construction): no model work, skipped.
SETUP_OPS: frozenset[str] = frozenset(
    {
        "empty",
        "empty_like",
        "new_empty",
        "empty_strided",
        "new_empty_strided",
        "zeros",
        "zeros_like",
        "new_zeros",
        "ones",
        "ones_like",
        "new_ones",
        "full",
        "full_like",
        "new_full",
        "arange",
        "scalar_tensor",
        "lift_fresh_copy",
        "linspace",
        "eye",
        "tril_indices",
        "triu_indices",
        "randn",
        "rand",
        "randint",
        "randperm",
    }
)

#: Pointwise ops and reductions -> (IR function name, FLOPs per output element).
ELEMENTWISE: dict[str, tuple[str, float]] = {
    "add": ("add", 1.0),
    "add_": ("add", 1.0),
    "sub": ("sub", 1.0),
    "sub_": ("sub", 1.0),
    "rsub": ("sub", 1.0),
    "mul": ("mul", 1.0),
    "mul_": ("mul", 1.0),
    "div": ("div", 1.0),
    "div_": ("div", 1.0),
    "neg": ("neg", 1.0),
    "abs": ("abs", 1.0),
    "clamp": ("clamp", 1.0),
    "clamp_min": ("clamp", 1.0),
    "clamp_max": ("clamp", 1.0),
    "maximum": ("max", 1.0),
    "minimum": ("min", 1.0),
    "where": ("where", 1.0),
    "masked_fill": ("where", 1.0),
    "masked_fill_": ("where", 1.0),
    "relu": ("relu", 1.0),
    "relu_": ("relu", 1.0),
    "silu": ("silu", 4.0),
    "silu_": ("silu", 4.0),
    "gelu": ("gelu", 8.0),
    "gelu_": ("gelu", 8.0),
    "sigmoid": ("sigmoid", 4.0),
    "tanh": ("tanh", 1.0),
    "exp": ("exp", 1.0),
    "exp_": ("exp", 1.0),
    "log": ("log", 1.0),
    "sqrt": ("sqrt", 1.0),
    "rsqrt": ("rsqrt", 1.0),
    "reciprocal": ("reciprocal", 1.0),
    "pow": ("pow", 1.0),
    "sin": ("sin", 1.0),
    "cos": ("cos", 1.0),
    "erf": ("erf", 1.0),
    "softplus": ("softplus", 3.0),
    "leaky_relu": ("relu", 2.0),
    "hardswish": ("hardswish", 4.0),
    "elu": ("elu", 3.0),
    "eq": ("compare", 1.0),
    "ne": ("compare", 1.0),
    "lt": ("compare", 1.0),
    "le": ("compare", 1.0),
    "gt": ("compare", 1.0),
    "ge": ("compare", 1.0),
    "bitwise_and": ("logical", 1.0),
    "bitwise_or": ("logical", 1.0),
    "bitwise_not": ("logical", 1.0),
    "logical_and": ("logical", 1.0),
    "logical_or": ("logical", 1.0),
    "logical_not": ("logical", 1.0),
    "sum": ("sum", 1.0),
    "mean": ("sum", 1.0),
    "amax": ("max", 1.0),
    "amin": ("min", 1.0),
    "max": ("max", 1.0),
    "min": ("min", 1.0),
    "round": ("round", 1.0),
    "sign": ("sign", 1.0),
    "floor": ("floor", 1.0),
    "ceil": ("ceil", 1.0),
    "_to_copy": ("cast", 1.0),
    "addcmul": ("fma", 2.0),
    "lerp": ("fma", 2.0),
    "tril": ("where", 1.0),
    "triu": ("where", 1.0),
    "fill_": ("fill", 1.0),
    "zero_": ("fill", 1.0),
    "hardtanh": ("clamp", 1.0),
}

_PRECISION = {
    torch.float64: "fp64",
    torch.float32: "fp32",
    torch.bfloat16: "bf16",
    torch.float16: "fp16",
    torch.int8: "int8",
    torch.uint8: "int8",
    torch.int16: "int32",
    torch.int32: "int32",
    torch.int64: "int64",
    torch.bool: "bool",
    torch.complex64: "fp32",
    torch.complex128: "fp64",
    torch.complex32: "fp16",
}
for _name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"):
    if hasattr(torch, _name):
        _PRECISION[getattr(torch, _name)] = "fp8"


def precision_of(dtype: torch.dtype) -> str:
    """The IR precision name of a torch dtype (complex -> its component precision)."""
    try:
        return _PRECISION[dtype]
    except KeyError:
        return "fp32" if dtype.is_floating_point else "int32"
