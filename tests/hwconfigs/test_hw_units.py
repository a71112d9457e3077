"""Quantities as people write them parse to SI floats; anything else is a QuantityError."""

from __future__ import annotations

import pytest
from attnsim.hwconfigs.units import QuantityError, format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("3.35 TB/s", "bandwidth", 3.35e12),
        ("50 MiB", "size", 50 * 2**20),
        ("1.98 GHz", "frequency", 1.98e9),
        ("0.4 pJ", "energy_per_op", 0.4e-12),
        ("0.4 pJ/FLOP", "energy_per_op", 0.4e-12),
        ("65.97 mW", "power", 65.97e-3),
        ("814 mm2", "area", 814.0),
        ("814 mm^2", "area", 814.0),
        ("814 mm²", "area", 814.0),
        ("989.4 TFLOP/s", "throughput", 989.4e12),
        ("989.4 TFLOPS", "throughput", 989.4e12),
        ("1979 TOPS", "throughput", 1979e12),
        ("512 MAC/s", "throughput", 1024.0),  # a MAC is 2 ops
        ("2 us", "time", 2e-6),
        ("2 µs", "time", 2e-6),
        ("3.97 pJ/bit", "energy_per_byte", 3.97e-12 * 8),
        ("0.85", "dimensionless", 0.85),
    ],
)
def test_parses_units_people_write(text: str, dimension: str, expected: float) -> None:
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "dimension", "message"),
    [
        (
            "3.35 GHz",
            "bandwidth",
            r"'3.35 GHz' has units of frequency; expected a bandwidth such as '3.35 TB/s'",
        ),
        ("50 MB/s", "size", r"has units of bandwidth; expected a size"),
        ("5 m", "size", r"has units of \[length\]"),
        ("nan GB/s", "bandwidth", r"is not a finite number"),
        ("inf B", "size", r"is not a finite number"),
        ("1e999 B", "size", r"is not a finite number"),
        ("fast", "bandwidth", r"'fast' is not a number with a unit"),
        ("3 furlongs", "size", r"unreadable unit \(unknown unit 'furlongs'\)"),
        ("10**10**10", "size", r"unreadable unit"),
        ("3", "size", r"'3' has no unit; expected a size such as '50 MiB'"),
        (3, "size", r"3 has no unit"),
        (True, "size", r"is a true/false, not a quantity"),
        (None, "size", r"is a NoneType, not a quantity"),
    ],
)
def test_rejects_with_what_and_expected(text: object, dimension: str, message: str) -> None:
    with pytest.raises(QuantityError, match=message):
        parse_quantity(text, dimension)


@pytest.mark.parametrize(
    ("value", "dimension"),
    [
        (3.35e12, "bandwidth"),
        (0.1 + 0.2, "time"),
        (2.0**40, "size"),
        (6.999999999999999e-13, "energy_per_byte"),
    ],
)
def test_format_round_trips_exactly(value: float, dimension: str) -> None:
    assert parse_quantity(format_quantity(value, dimension), dimension) == value
