"""GPU kernels in Triton: flash-attention forward over a live-block list, split-KV decode.

Triton is an optional extra (``pip install attnsim[gpu]``) and needs a CUDA GPU, so this
package imports it lazily: ``import kernels.gpu`` always works, and
:func:`triton_available` says whether the kernels can run. The kernels themselves live
in :mod:`kernels.gpu.triton_attention` (imported on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["triton_available", "require_triton", "flash_attention", "decode_attention"]


def triton_available() -> tuple[bool, str]:
    """``(True, "")`` when Triton imports and a CUDA GPU is visible, else ``(False, why)``."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU is available (torch.cuda.is_available() is false)"
    try:
        importlib.import_module("triton")
    except ImportError:
        return False, "Triton is not installed (pip install 'attnsim[gpu]')"
    return True, ""


def require_triton() -> None:
    """Raise ``kernels.measure.MeasureError`` (exit 2 on the command line) when the GPU
    kernels cannot run here."""
    ok, why = triton_available()
    if not ok:
        from attnsim.kernels.measure import MeasureError

        raise MeasureError(f"Triton kernels cannot run: {why}")


def __getattr__(name: str) -> Any:
    if name in ("flash_attention", "decode_attention"):
        module = importlib.import_module("attnsim.kernels.gpu.triton_attention")
        return getattr(module, name)
    if name == "runners":
        return importlib.import_module("attnsim.kernels.gpu.runners")
    raise AttributeError(f"module 'attnsim.kernels.gpu' has no attribute {name!r}")
