"""Run the Triton kernels through Triton's interpreter on the CPU (``TRITON_INTERPRET=1``)
and compare them with torch SDPA; prints one line per case, exits 1 on a mismatch.

Used by ``test_gpu_kernels.py::test_triton_kernels_in_interpreter`` in a subprocess
(the variable must be set before Triton is imported).
"""

from __future__ import annotations

import os
import sys

os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402
from attnsim.kernels.gpu.triton_attention import decode_attention, flash_attention  # noqa: E402
from attnsim.workloads.masks import (  # noqa: E402
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SlidingWindowMask,
)
from attnsim.workloads.synthetic import random_block_layout  # noqa: E402


def _reference(q, k, v, mask: MaskPattern):  # type: ignore[no-untyped-def]
    live = torch.from_numpy(mask.dense(q.shape[2], k.shape[2]))
    out = torch.nn.functional.scaled_dot_product_attention(
        q.double(), k.double(), v.double(), attn_mask=live, enable_gqa=q.shape[1] != k.shape[1]
    )
    return torch.where(live.any(-1)[None, None, :, None], out, torch.zeros_like(out))


def _qkv(b, hq, hkv, sq, sk, d, dv):  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(0)
    shapes = ((b, hq, sq, d), (b, hkv, sk, d), (b, hkv, sk, dv))
    return [torch.randn(s, generator=g) for s in shapes]


MISALIGNED = tuple(tuple(bool((i + j) % 3) for j in range(3)) for i in range(5))
PREFILL = [
    ("dense cross", FullMask(), 1, 2, 2, 70, 90, 32, 16),
    ("causal q>k", CausalMask(), 1, 2, 1, 100, 60, 16, 16),
    ("causal q<k gqa", CausalMask(), 1, 4, 2, 40, 130, 16, 32),
    ("window", SlidingWindowMask(20, 3), 1, 2, 2, 150, 150, 16, 16),
    ("neighborhood", NeighborhoodMask((10, 12), (3, 5), (2, 1)), 1, 2, 2, 120, 120, 16, 16),
    ("block-sparse", BlockSparseMask(16, 16, random_block_layout(96, 96, 16, 0.3, 1)), 1, 2, 2, 96, 96, 16, 16),
    ("block-sparse off-grid", BlockSparseMask(24, 40, MISALIGNED), 1, 2, 2, 100, 100, 16, 16),
]  # fmt: skip


def main() -> int:
    bad = 0
    for name, mask, b, hq, hkv, sq, sk, d, dv in PREFILL:
        q, k, v = _qkv(b, hq, hkv, sq, sk, d, dv)
        err = float(
            (flash_attention(q, k, v, mask, block_m=32, block_n=16) - _reference(q, k, v, mask))
            .abs()
            .max()
        )
        bad += err > 1e-4
        print(f"flash {name}: max error {err:.2e}")
    for name, mask in (
        ("full", FullMask()),
        ("causal", CausalMask()),
        ("window", SlidingWindowMask(30)),
    ):
        for hq, hkv, sq, sk, splits in ((8, 2, 1, 100, 3), (4, 4, 3, 70, 2)):
            q, k, v = _qkv(2, hq, hkv, sq, sk, 16, 16)
            out = decode_attention(q, k, v, mask, block_n=16, num_splits=splits)
            err = float((out - _reference(q, k, v, mask)).abs().max())
            bad += err > 1e-4
            print(f"decode {name} H{hq}/{hkv} q{sq} kv{sk} splits {splits}: max error {err:.2e}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
