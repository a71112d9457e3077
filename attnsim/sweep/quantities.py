"""Axis values as people write them: numbers or quantities with units (``4.8 TB/s``).

A generated series (``range``, ``linspace``, ``logspace``, ``pow2``) is computed in the
unit of its ``from`` value and written back in that unit (``2 TB/s, 3 TB/s, ...``), so a
value in the results table reads like the spec, and the target loader checks each one
exactly as if it were written in a file. ``si_value`` turns any value into the SI float
the tables store (bytes/s for ``4.8 TB/s``); text that is not a quantity (``fp8``) stays
categorical.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from attnsim.hwconfigs.units import DIMENSIONS, QuantityError, parse_quantity

__all__ = [
    "Quantity",
    "parse_value",
    "si_value",
    "linear_series",
    "geometric_series",
    "doubling_series",
    "step_series",
    "MAX_SERIES",
]

#: Most values one generated series may hold (a typo such as ``step: 1 B`` over GiB
#: would otherwise build billions of values before anything is checked).
MAX_SERIES = 100_000

_NUMBER = re.compile(r"^\s*([-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Quantity:
    """A number written with a unit: ``number`` in ``unit``, ``si`` in the SI unit of
    ``dimension`` (``"dimensionless"`` for a plain number)."""

    number: float
    unit: str
    si: float
    dimension: str

    def write(self, number: float) -> str | int | float:
        """``number`` (in this quantity's unit) as a spec would write it."""
        if not self.unit:
            return int(number) if float(number).is_integer() and abs(number) < 2**53 else number
        return f"{format(number, '.12g')} {self.unit}"


def _dimension_of(text: str) -> tuple[str, float]:
    for name in DIMENSIONS:
        if name == "dimensionless":
            continue
        try:
            return name, parse_quantity(text, name)
        except QuantityError:
            continue
    raise QuantityError(f"{text!r} is not a quantity", "expected a number with a unit")


def parse_value(value: object) -> Quantity:
    """A spec value (``132``, ``"4.8 TB/s"``) as a :class:`Quantity`; ``ValueError`` with a
    finished message when it is neither a number nor a number with a known unit."""
    if isinstance(value, bool):
        raise ValueError(
            f"{value!r} is true/false; expected a number or a quantity such as '4.8 TB/s'"
        )
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not finite; expected a finite number")
        return Quantity(float(value), "", float(value), "dimensionless")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a number; expected a number or a quantity")
    m = _NUMBER.match(value)
    if m is None:
        raise ValueError(
            f"{value!r} is not a number; expected a number or a quantity such as '4.8 TB/s'"
        )
    number = float(m.group(1).replace("_", ""))
    unit = m.group(2)
    if not unit:
        return Quantity(number, "", number, "dimensionless")
    try:
        dimension, si = _dimension_of(value)
    except QuantityError:
        raise ValueError(
            f"{value!r} has a unit attnsim does not know; expected a quantity such as '4.8 TB/s', "
            "'50 MiB' or '1.6 GHz'"
        ) from None
    return Quantity(number, unit, si, dimension)


def si_value(value: object) -> float | str:
    """The SI float of a value (``"4.8 TB/s"`` -> 4.8e12), or the value as text when it is
    not a quantity (a categorical value such as ``"fp8"``)."""
    if isinstance(value, bool):
        return str(value).lower()
    try:
        return parse_value(value).si
    except ValueError:
        return str(value)


def _in_unit(ref: Quantity, other: Quantity, what: str) -> float:
    """``other`` expressed in ``ref``'s unit; ``ValueError`` if the kinds differ."""
    if other.dimension != ref.dimension:
        shown = other.unit or "no unit"
        want = ref.unit or "no unit"
        raise ValueError(
            f"{what} has {shown} but 'from' has {want}; expected the same kind of quantity"
        )
    if not ref.unit:
        return other.si
    scale = ref.si / ref.number if ref.number != 0 else parse_value(f"1 {ref.unit}").si
    return other.si / scale


def _check_count(n: int, what: str) -> None:
    if n > MAX_SERIES:
        raise ValueError(f"{what} gives {n} values; expected at most {MAX_SERIES}")


def step_series(start: object, stop: object, step: object) -> list[str | int | float]:
    """``start, start + step, ...`` up to and including ``stop`` (within rounding)."""
    a = parse_value(start)
    b = _in_unit(a, parse_value(stop), "'to'")
    s = _in_unit(a, parse_value(step), "'step'")
    if s == 0:
        raise ValueError("'step' is 0; expected a non-zero step")
    span = (b - a.number) / s
    if span < -1e-9:
        raise ValueError(
            f"from {start} to {stop} with step {step} gives no values; expected 'to' on the side 'step' moves"
        )
    n = int(math.floor(span + 1e-9)) + 1
    _check_count(n, "the range")
    return [a.write(_tidy(a.number + i * s)) for i in range(n)]


def linear_series(start: object, stop: object, num: int) -> list[str | int | float]:
    """``num`` evenly spaced values from ``start`` to ``stop`` (both included)."""
    a = parse_value(start)
    b = _in_unit(a, parse_value(stop), "'to'")
    if num < 1:
        raise ValueError(f"'num' is {num}; expected at least 1 value")
    _check_count(num, "linspace")
    if num == 1:
        return [a.write(a.number)]
    return [a.write(_tidy(a.number + (b - a.number) * i / (num - 1))) for i in range(num)]


def geometric_series(start: object, stop: object, num: int) -> list[str | int | float]:
    """``num`` values from ``start`` to ``stop`` with a constant ratio (log-spaced)."""
    a = parse_value(start)
    b = _in_unit(a, parse_value(stop), "'to'")
    if num < 1:
        raise ValueError(f"'num' is {num}; expected at least 1 value")
    if a.number <= 0 or b <= 0:
        raise ValueError(f"logspace from {start} to {stop}; expected both ends > 0")
    _check_count(num, "logspace")
    if num == 1:
        return [a.write(a.number)]
    ratio = (b / a.number) ** (1.0 / (num - 1))
    return [a.write(_tidy(a.number * ratio**i)) for i in range(num)]


def doubling_series(start: object, stop: object) -> list[str | int | float]:
    """``start, 2 start, 4 start, ...`` up to and including ``stop`` (powers of two times
    ``start``: ``pow2: {from: 16, to: 256}`` is 16, 32, 64, 128, 256)."""
    a = parse_value(start)
    b = _in_unit(a, parse_value(stop), "'to'")
    if a.number <= 0:
        raise ValueError(f"pow2 from {start}; expected 'from' > 0")
    if b < a.number * (1 - 1e-12):
        raise ValueError(f"pow2 from {start} to {stop} gives no values; expected 'to' >= 'from'")
    n = int(math.floor(math.log2(b / a.number) + 1e-9)) + 1
    _check_count(n, "pow2")
    return [a.write(a.number * 2**i) for i in range(n)]


def _tidy(x: float) -> float:
    """Round away float noise (0.1 + 0.2) so generated values print as written."""
    return float(format(x, ".12g"))
