"""Data types of workload tensors and how many bytes they occupy in memory.

Names follow the precisions of ``hwconfigs`` (``fp64 ... ternary``) so that an op's
dtype can be looked up directly in a target's throughput table; ``int32``, ``int64`` and
``bool`` exist for indices and masks.
"""

from __future__ import annotations

from .errors import WorkloadError

#: Compute precisions, the same names as ``hwconfigs`` uses.
PRECISIONS: tuple[str, ...] = (
    "fp64",
    "fp32",
    "tf32",
    "fp16",
    "bf16",
    "fp8",
    "int8",
    "fp4",
    "int4",
    "ternary",
)

#: Storage-only types (indices, masks); no engine computes in them.
INDEX_DTYPES: tuple[str, ...] = ("int32", "int64", "bool")

#: Every dtype a workload tensor may have.
DTYPES: tuple[str, ...] = PRECISIONS + INDEX_DTYPES

# Bits each element occupies in memory. tf32 is a compute format stored as fp32.
# ternary: five trits (3**5 = 243 <= 256) packed per byte, as BitNet b1.58 / VitaLLM
# pack weights, so 8 / 5 = 1.6 bits per weight. bool is one byte per element (the
# layout PyTorch uses), not a bitmask.
_STORAGE_BITS: dict[str, float] = {
    "fp64": 64.0,
    "fp32": 32.0,
    "tf32": 32.0,
    "fp16": 16.0,
    "bf16": 16.0,
    "fp8": 8.0,
    "int8": 8.0,
    "fp4": 4.0,
    "int4": 4.0,
    "ternary": 1.6,
    "int32": 32.0,
    "int64": 64.0,
    "bool": 8.0,
}


def check_dtype(dtype: object, where: str = "dtype") -> list[str]:
    """Problem lines (empty when fine) for a dtype name found at ``where``."""
    if not isinstance(dtype, str) or dtype not in _STORAGE_BITS:
        return [f"{where}: unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}"]
    return []


def storage_bits(dtype: str) -> float:
    """Bits one element of ``dtype`` occupies in memory (ternary = 1.6, packed 5 per byte).

    Raises :class:`WorkloadError` for an unknown name.
    """
    problems = check_dtype(dtype)
    if problems:
        raise WorkloadError(problems)
    return _STORAGE_BITS[dtype]


def nbytes(dtype: str, numel: float) -> float:
    """Bytes occupied by ``numel`` elements of ``dtype`` (may be fractional for ternary)."""
    if numel < 0:
        raise WorkloadError(f"nbytes.numel: {numel} is negative; expected a count >= 0")
    return storage_bits(dtype) * float(numel) / 8.0
