"""Workload and Block: repetition, totals, validation."""

from __future__ import annotations

import pytest
from attnsim.workloads import (
    AttentionOp,
    AttentionSpec,
    Block,
    CausalMask,
    GemmOp,
    Workload,
    WorkloadError,
)


def test_totals_multiply_block_count() -> None:
    a = AttentionOp("attn", "bf16", AttentionSpec(1, 4, 4, 16, 16, 8, 8, "prefill", CausalMask()))
    g = GemmOp("proj", "bf16", 16, 32, 32, weight_operand="b")
    w = Workload("m", (Block("embed", (g,)), Block("layer", (a, g), count=12)), tokens=16)
    assert w.total_flops() == g.flops() + 12 * (a.flops() + g.flops())
    assert w.total_bytes() == g.io_bytes().total + 12 * (a.io_bytes().total + g.io_bytes().total)
    flat = list(w.flat())
    assert [op.name for _, op in flat] == ["proj", "attn", "proj"]
    assert flat[1][0].count == 12


def test_lists_become_tuples_and_meta_is_checked() -> None:
    g = GemmOp("g", "fp16", 1, 1, 1)
    w = Workload("w", [Block("b", [g])], meta={"seed": 3})  # type: ignore[arg-type]
    assert isinstance(w.blocks, tuple) and isinstance(w.blocks[0].ops, tuple)
    with pytest.raises(WorkloadError, match=r"Workload.meta.bad: \[1\] is not a string or number"):
        Workload("w", (), meta={"bad": [1]})  # type: ignore[dict-item]


def test_block_validation() -> None:
    with pytest.raises(
        WorkloadError, match=r"Block.count: 0 is too small; expected an integer >= 1"
    ):
        Block("b", (), count=0)
    with pytest.raises(WorkloadError, match=r"Block.ops\[0\]: 'x' is not an Op"):
        Block("b", ("x",))  # type: ignore[arg-type]
    with pytest.raises(
        WorkloadError, match=r"Workload.tokens: 0; expected null or an integer >= 1"
    ):
        Workload("w", (), tokens=0)
