"""The shape of one fused attention call: :class:`AttentionSpec`.

Heads. ``q_heads >= kv_heads`` is multi-head (equal), grouped-query (GQA) or multi-query
(MQA, ``kv_heads = 1``) attention: ``group_size = q_heads / kv_heads`` query heads share
one K/V head, so K/V bytes scale with ``kv_heads`` while FLOPs scale with ``q_heads``.

``q_heads < kv_heads`` is *query-head reduction* (Sparse Query Attention's "reverse"
configurations; the mean-pooled KV heads of GQA up-training, Ainslie et al. 2023, done on
the fly): each query head owns ``kv_heads / q_heads`` consecutive KV heads, which are
averaged into one K and one V before the score GEMM. So FLOPs still follow ``q_heads``
(``2*B*Hq*live_pairs*(d_qk + d_v)``; the averaging adds ``B*Hkv*kv_len*(d_qk+d_v)``
additions, below 1/q_len of the rest, and is not counted) while compulsory bytes read
every one of the ``kv_heads`` K/V heads. In both directions the larger head count must be
a multiple of the smaller one; anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import WorkloadError
from .masks import FullMask, MaskPattern

PHASES: tuple[str, ...] = ("prefill", "decode")


@dataclass(frozen=True)
class AttentionSpec:
    """Shape of one attention call (per layer): sizes in tokens/heads/elements, a mask.

    ``q_len``/``kv_len`` are tokens per sequence; ``head_dim_qk``/``head_dim_v`` elements
    per head; ``phase`` is ``"prefill"`` (many queries) or ``"decode"`` (new tokens against
    a KV cache of ``kv_len`` tokens, including themselves). Queries are bottom-right
    aligned with keys (see :mod:`workloads.masks`).
    """

    batch: int
    q_heads: int
    kv_heads: int
    q_len: int
    kv_len: int
    head_dim_qk: int
    head_dim_v: int
    phase: str = "prefill"
    mask: MaskPattern = field(default_factory=FullMask)

    def __post_init__(self) -> None:
        name = "AttentionSpec"
        problems: list[str] = []
        for attr in (
            "batch",
            "q_heads",
            "kv_heads",
            "q_len",
            "kv_len",
            "head_dim_qk",
            "head_dim_v",
        ):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(
                    f"{name}.{attr}: {value!r} is not an integer; expected an integer >= 1"
                )
            elif value < 1:
                problems.append(f"{name}.{attr}: {value} is too small; expected an integer >= 1")
        if self.phase not in PHASES:
            problems.append(
                f"{name}.phase: {self.phase!r} is unknown; expected one of {', '.join(PHASES)}"
            )
        if not isinstance(self.mask, MaskPattern):
            problems.append(f"{name}.mask: {self.mask!r} is not a mask; expected a MaskPattern")
        if problems:
            raise WorkloadError(problems)
        if self.q_len * self.kv_len >= 2**62:
            raise WorkloadError(
                [
                    f"{name}.q_len: q_len x kv_len = {self.q_len} x {self.kv_len} is too large; "
                    f"expected fewer than 2**62 (query, key) pairs, the int64 range of pair counts"
                ]
            )
        hq, hkv = self.q_heads, self.kv_heads
        if hq >= hkv and hq % hkv:
            problems.append(
                f"{name}.kv_heads: {hkv} does not divide q_heads {hq}; expected a divisor of "
                f"q_heads (GQA groups of equal size)"
            )
        if hq < hkv and hkv % hq:
            problems.append(
                f"{name}.q_heads: {hq} does not divide kv_heads {hkv}; expected a divisor of "
                f"kv_heads (query-head reduction averages equal groups of KV heads)"
            )
        if problems:
            raise WorkloadError(problems)
        try:
            self.mask.check_shape(self.q_len, self.kv_len)
        except WorkloadError as exc:
            raise WorkloadError([f"{name}.mask: {p}" for p in exc.problems]) from None

    @property
    def group_size(self) -> int:
        """Query heads per KV head (``q_heads // kv_heads``); 1 under query-head reduction."""
        return max(self.q_heads // self.kv_heads, 1)

    @property
    def kv_per_query_head(self) -> int:
        """KV heads averaged per query head (``kv_heads // q_heads``); 1 unless Hq < Hkv."""
        return max(self.kv_heads // self.q_heads, 1)

    @property
    def live_pairs(self) -> int:
        """Live (query, key) pairs of one sequence and one head (the mask's count)."""
        return self.mask.live_pairs(self.q_len, self.kv_len)

    @property
    def live_keys(self) -> int:
        """Keys that some query attends (the K/V rows that must be read), per head."""
        return self.mask.live_keys(self.q_len, self.kv_len)

    @property
    def density(self) -> float:
        """Fraction of the ``q_len x kv_len`` score matrix that is computed."""
        return self.mask.density(self.q_len, self.kv_len)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; the mask nests as its own ``to_dict``."""
        return {
            "batch": self.batch,
            "q_heads": self.q_heads,
            "kv_heads": self.kv_heads,
            "q_len": self.q_len,
            "kv_len": self.kv_len,
            "head_dim_qk": self.head_dim_qk,
            "head_dim_v": self.head_dim_v,
            "phase": self.phase,
            "mask": self.mask.to_dict(),
        }
