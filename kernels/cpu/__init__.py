"""CPU kernels (numba + OpenBLAS): flash attention forward, flash decoding, tiled GEMM."""

from attnsim.kernels.cpu.flash import (
    DEFAULT_BLOCK_K,
    DEFAULT_BLOCK_Q,
    DEFAULT_DECODE_BLOCK_K,
    attention_forward,
    decode_forward,
    decode_splits,
    gemm,
)
from attnsim.kernels.cpu.schedule import TileSchedule, kernel_schedule, mask_plan, thread_assignment

__all__ = [
    "DEFAULT_BLOCK_K",
    "DEFAULT_BLOCK_Q",
    "DEFAULT_DECODE_BLOCK_K",
    "TileSchedule",
    "attention_forward",
    "decode_forward",
    "decode_splits",
    "gemm",
    "kernel_schedule",
    "mask_plan",
    "thread_assignment",
]
