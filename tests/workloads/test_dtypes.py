"""dtypes: storage sizes, ternary packing, errors."""

from __future__ import annotations

import pytest
from attnsim.workloads import DTYPES, PRECISIONS, WorkloadError, nbytes, storage_bits


def test_precisions_match_hwconfigs_names() -> None:
    assert PRECISIONS == (
        "fp64",
        "fp32",
        "tf32",
        "fp16",
        "bf16",
        "fp8",
        "int8",
        "fp4",
        "int4",
        "ternary",
    )
    assert set(("int32", "int64", "bool")) <= set(DTYPES)


@pytest.mark.parametrize(
    ("dtype", "bits"),
    [
        ("fp64", 64),
        ("fp32", 32),
        ("tf32", 32),
        ("fp16", 16),
        ("bf16", 16),
        ("fp8", 8),
        ("int8", 8),
        ("fp4", 4),
        ("int4", 4),
        ("ternary", 1.6),
        ("int64", 64),
        ("bool", 8),
    ],
)
def test_storage_bits(dtype: str, bits: float) -> None:
    assert storage_bits(dtype) == bits


def test_ternary_packs_five_per_byte() -> None:
    assert nbytes("ternary", 5) == pytest.approx(1.0)
    assert nbytes("fp16", 1024) == 2048.0


def test_unknown_dtype_and_negative_count() -> None:
    with pytest.raises(WorkloadError, match=r"dtype: unknown dtype 'fp12'; expected one of fp64"):
        storage_bits("fp12")
    with pytest.raises(WorkloadError, match=r"nbytes.numel: -1 is negative"):
        nbytes("fp16", -1)
