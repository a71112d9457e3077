"""FFT token mixers (``fft-stockham`` family).

A transform of ``N`` points is done in passes; each pass reads and writes the whole
signal through DRAM and performs as many radix-2 stages as fit one scratchpad-resident
sub-transform, so ``passes = ceil(log2 N / log2 P)`` with ``P`` the points of a
sub-transform that fits the unit's scratchpad (half of it, double-buffered). This is the
cuFFT/VkFFT picture: one pass when the transform fits on chip, more when it does not.
The arithmetic is ``5·N·log2 N`` real ops per complex transform on the vector units.
"""

from __future__ import annotations

import math

from attnsim.sim.lowering.common import streaming_kernel
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import OpTasks
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import FftOp, Op


def fft_passes(points: int, complex_elem_bytes: float, scratch_bytes: float) -> int:
    """DRAM passes for a transform of ``points`` (see module docstring)."""
    if points <= 1:
        return 1
    fit = max(2, int(scratch_bytes / 2 / complex_elem_bytes))
    return max(1, math.ceil(math.log2(points) / math.log2(fit)))


def lower_fft(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower an :class:`FftOp` to one streaming kernel per pass."""
    del options
    if not isinstance(op, FftOp):
        raise LoweringError(f"fft-stockham lowers fft ops, not {op.kind}")
    io = op.io_bytes()
    passes = fft_passes(op.points, 2 * nbytes(op.dtype, 1), view.scratchpad.capacity_bytes)
    kernels = tuple(
        streaming_kernel(
            f"fft {op.name} pass {p + 1}/{passes}",
            view,
            read_bytes=io.inputs,
            write_bytes=io.outputs,
            vector_ops=op.flops() / passes,
            flops=op.flops() / passes,
        )
        for p in range(passes)
    )
    return OpTasks(family="fft-stockham", kernels=kernels, notes={"passes": passes})


register_family(
    LoweringFamily(
        name="fft-stockham",
        op_kinds=frozenset({"fft"}),
        lower=lower_fft,
        generic=True,
        description="multi-pass FFT, one DRAM round trip per pass",
    )
)
