"""BLAS from inside numba without SciPy.

numba's ``np.dot`` needs SciPy's ``cython_blas``, which this project does not depend on.
numpy wheels bundle OpenBLAS (``numpy.libs/libscipy_openblas64_*.so``, ILP64 interface,
symbols suffixed ``64_``); we load it into LLVM's symbol table and declare
``cblas_sgemm`` as a numba ``ExternalFunction``. Calls are bound by symbol name, so
kernels using it still cache (``cache=True``).
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from numba import types

__all__ = ["SGEMM", "ROW_MAJOR", "NO_TRANS", "TRANS", "blas_library", "single_threaded_blas"]

ROW_MAJOR = 101
NO_TRANS = 111
TRANS = 112


def _find_library() -> str:
    here = os.path.dirname(np.__file__)
    candidates: list[str] = []
    for folder in (os.path.join(here, os.pardir, "numpy.libs"), os.path.join(here, ".libs")):
        candidates += sorted(glob.glob(os.path.join(folder, "libscipy_openblas64_*.so*")))
    if not candidates:
        raise ImportError(
            "attnsim.kernels.cpu needs the OpenBLAS bundled with numpy wheels "
            f"(libscipy_openblas64_*.so next to {here}); none was found"
        )
    return os.path.realpath(candidates[0])


_LIB_PATH = _find_library()
llvm.load_library_permanently(_LIB_PATH)
_LIB = ctypes.CDLL(_LIB_PATH)
_LIB.scipy_openblas_get_num_threads64_.restype = ctypes.c_int
_LIB.scipy_openblas_set_num_threads64_.argtypes = [ctypes.c_int]

#: ``cblas_sgemm(order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)``
#: with 64-bit integers (OpenBLAS ILP64 as bundled by numpy).
SGEMM: Any = types.ExternalFunction(
    "scipy_cblas_sgemm64_",
    types.void(
        types.int32,
        types.int32,
        types.int32,
        types.int64,
        types.int64,
        types.int64,
        types.float32,
        types.voidptr,
        types.int64,
        types.voidptr,
        types.int64,
        types.float32,
        types.voidptr,
        types.int64,
    ),
)


def blas_library() -> str:
    """Path of the OpenBLAS shared library the CPU kernels call."""
    return _LIB_PATH


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the body with OpenBLAS on one thread (the kernels parallelise themselves).

    Nested parallelism (numba workers each calling a multi-threaded BLAS) would
    oversubscribe the cores; the previous thread count is restored on exit.
    """
    before = int(_LIB.scipy_openblas_get_num_threads64_())
    _LIB.scipy_openblas_set_num_threads64_(1)
    try:
        yield
    finally:
        _LIB.scipy_openblas_set_num_threads64_(before)
