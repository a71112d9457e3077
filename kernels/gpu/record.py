"""Record GPU measurements: every GPU kernel over the validation problems, one CSV.

Run on a machine with an NVIDIA GPU and Triton, from the repository root::

    python -m attnsim.kernels.gpu.record                # -> kernels/measurements/cuda-<gpu>-<date>.csv
    python -m attnsim.kernels.gpu.record --quick -o out.csv --dtype bf16

Each (kernel, problem) pair -- ``triton-flash`` on prefill problems, ``triton-decode`` on
decode problems, and ``torch-sdpa`` on both as the reference -- is timed with CUDA events
by ``kernels.measure.measure`` (see :mod:`kernels.record`). Exits 2 without a GPU or
Triton, 1 when some pair failed (the others are still recorded).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from attnsim.kernels.record import DEFAULT_KERNELS
from attnsim.kernels.record import main as _main

KERNELS = DEFAULT_KERNELS["cuda"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``python -m attnsim.kernels.gpu.record``); returns the exit code."""
    return _main(argv, device="cuda")


if __name__ == "__main__":
    sys.exit(main())
