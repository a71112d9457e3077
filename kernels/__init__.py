"""Real attention kernels whose timings validate the simulator.

* :mod:`kernels.cpu` -- numba + OpenBLAS: flash-attention forward (dense, causal, GQA,
  sliding window, N-d neighborhood, block-sparse, any ``MaskPattern``), flash decoding
  and a tiled GEMM. ``kernel_schedule`` exposes the exact tile schedule they run.
* :mod:`kernels.gpu` -- Triton kernels (imported lazily; Triton is an optional extra).
* :mod:`kernels.measure` -- the timing harness, the kernel registry and the
  measurement CSV format (``kernels/measurements/``).

``kernels`` never imports ``sim``: measurements must not depend on the model they check.
"""

from attnsim.kernels.cpu import (
    TileSchedule,
    attention_forward,
    decode_forward,
    gemm,
    kernel_schedule,
)

__all__ = ["TileSchedule", "attention_forward", "decode_forward", "gemm", "kernel_schedule"]
