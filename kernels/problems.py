"""Problems the bundled kernels are measured on: attention specs and GEMM shapes.

An attention problem is a ``workloads.AttentionSpec`` (so a measurement joins a
simulator prediction of the same spec); a GEMM problem is a :class:`GemmShape`.
:func:`validation_problems` is the list ``kernels/gpu/record.py`` (and a CPU
validation sweep) measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SlidingWindowMask,
)
from attnsim.workloads.spec import AttentionSpec
from attnsim.workloads.synthetic import random_block_layout

__all__ = [
    "GemmShape",
    "Problem",
    "attention_flops",
    "problem_flops",
    "validation_problems",
]


@dataclass(frozen=True)
class GemmShape:
    """``C (m x n) = A (m x k) @ B (k x n)``, sizes in elements."""

    m: int
    n: int
    k: int

    def __post_init__(self) -> None:
        problems = [
            f"GemmShape.{name}: {getattr(self, name)!r}; expected an integer >= 1"
            for name in ("m", "n", "k")
            if isinstance(getattr(self, name), bool)
            or not isinstance(getattr(self, name), int)
            or getattr(self, name) < 1
        ]
        if problems:
            raise WorkloadError(problems)

    def flops(self) -> float:
        """``2 m n k`` (a multiply-accumulate counts as 2)."""
        return 2.0 * self.m * self.n * self.k


Problem = AttentionSpec | GemmShape


def attention_flops(spec: AttentionSpec) -> float:
    """FLOPs of the live pairs only: ``2 B Hq live_pairs (d_qk + d_v)``."""
    return 2.0 * spec.batch * spec.q_heads * spec.live_pairs * (spec.head_dim_qk + spec.head_dim_v)


def problem_flops(problem: Problem) -> float:
    """Useful FLOPs of a problem (live attention pairs, or ``2 m n k``)."""
    if isinstance(problem, GemmShape):
        return problem.flops()
    return attention_flops(problem)


def _spec(
    n: int, mask: MaskPattern, *, d: int = 64, heads: int = 8, kv_heads: int | None = None,
    batch: int = 1, q_len: int | None = None, phase: str = "prefill",
) -> AttentionSpec:  # fmt: skip
    return AttentionSpec(
        batch=batch,
        q_heads=heads,
        kv_heads=heads if kv_heads is None else kv_heads,
        q_len=n if q_len is None else q_len,
        kv_len=n,
        head_dim_qk=d,
        head_dim_v=d,
        phase=phase,
        mask=mask,
    )


def validation_problems(scale: str = "gpu") -> tuple[Problem, ...]:
    """The problems measured to validate predictions.

    ``scale="gpu"`` is sized for a datacenter GPU (N up to 16k, batch 4);
    ``scale="cpu"`` is the same family at 512 to 4096 tokens (plus dense and causal at
    8192), sizes a 2-core CPU times in seconds.
    """
    if scale not in ("gpu", "cpu"):
        raise ValueError(f"scale must be 'gpu' or 'cpu', got {scale!r}")
    big = scale == "gpu"
    lengths = (1024, 4096, 16384) if big else (512, 1024, 2048, 4096)
    batch = 4 if big else 1
    heads = 16 if big else 4
    out: list[Problem] = []
    for n in lengths:
        for d in (64, 128):
            out.append(_spec(n, FullMask(), d=d, heads=heads, batch=batch))
            out.append(_spec(n, CausalMask(), d=d, heads=heads, batch=batch))
        out.append(_spec(n, CausalMask(), heads=heads, kv_heads=heads // 4, batch=batch))
        out.append(_spec(n, SlidingWindowMask(left=n // 8 - 1), heads=heads, batch=batch))
        side = math.isqrt(n)
        if side * side == n:
            na = NeighborhoodMask((side, side), (13, 13) if big else (7, 7))
            out.append(_spec(n, na, heads=heads, batch=batch))
            dil = NeighborhoodMask((side, side), (7, 7), (2, 2))
            out.append(_spec(n, dil, heads=heads, batch=batch))
        for density in (0.5, 0.25, 0.1):
            lay = random_block_layout(n, n, 128 if big else 64, density, seed=n)
            bs = BlockSparseMask(128 if big else 64, 128 if big else 64, lay)
            out.append(_spec(n, bs, heads=heads, batch=batch))
    if not big:  # the long end of the 512..8k range, at a size a 2-core CPU times in seconds
        out.append(_spec(8192, CausalMask(), heads=heads, batch=batch))
        out.append(_spec(8192, FullMask(), heads=heads, batch=batch))
    for kv in (4096, 32768) if big else (4096, 16384):
        out.append(
            _spec(kv, CausalMask(), heads=32, kv_heads=8, batch=batch, q_len=1, phase="decode")
        )
        out.append(
            _spec(
                kv,
                SlidingWindowMask(left=4095),
                heads=32,
                kv_heads=8,
                batch=batch,
                q_len=1,
                phase="decode",
            )
        )
    for size in (1024, 4096) if big else (512, 2048):
        out.append(GemmShape(size, size, size))
    return tuple(out)
