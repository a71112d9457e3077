"""A vectorisable float32 ``2**x`` for numba (LLVM has no SVML here, ``exp`` is scalar)."""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp2_f32", "LOG2E"]

LOG2E = 1.4426950408889634

# Taylor coefficients of 2**f = exp(f ln 2) on f in [-0.5, 0.5]; relative error < 2e-7.
_C1 = np.float32(0.6931471805599453)
_C2 = np.float32(0.2402265069591007)
_C3 = np.float32(0.05550410866482158)
_C4 = np.float32(0.009618129107628477)
_C5 = np.float32(0.0013333558146428443)
_C6 = np.float32(0.00015403530393381608)
_LOW = np.float32(-127.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


def _bits_as_f32_typer(typingctx, bits):  # type: ignore[no-untyped-def]
    """Reinterpret the bits of an int32 as a float32 (no conversion)."""
    if not (isinstance(bits, types.Integer) and getattr(bits, "bitwidth", 0) == 32):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(bits), codegen


_bits_as_f32: Any = intrinsic(_bits_as_f32_typer)


@njit(cache=True, inline="always")
def exp2_f32(x):  # type: ignore[no-untyped-def]
    """``2**x`` for float32 ``x <= 0`` (``-inf`` and anything below -126.5 give exactly 0).

    Range reduction ``x = n + f`` with ``n = round(x)``, a degree-6 polynomial for
    ``2**f`` and the exponent ``2**n`` built from its bits; branch-free, so loops over
    it vectorise.
    """
    x = max(x, _LOW)
    n = np.floor(x + _HALF)
    f = x - n
    p = _ONE + f * (_C1 + f * (_C2 + f * (_C3 + f * (_C4 + f * (_C5 + f * _C6)))))
    scale = _bits_as_f32(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))
    return p * scale
