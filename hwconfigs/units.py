"""Quantities as people write them (``3.35 TB/s``, ``50 MiB``, ``0.4 pJ``) -> SI floats.

A small, self-contained pint registry: only the units hardware descriptions use, with
*information* (bytes) and *operations* as their own dimensions, so that ``TB/s`` can never
be mistaken for ``GHz``. ``FLOP``, ``OP`` and ``MAC`` (2 ops) are operations; ``OPS`` and
``FLOPS`` are per second, so ``TOPS``, ``TFLOPS`` and ``TFLOP/s`` all parse.

The unit text is tokenised here (names, ``/``, ``*``, exponents such as ``mm2``, ``mm^2``,
``mm**2`` or ``mm²``) before pint sees it, so arbitrary text can never make pint evaluate
an expression.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Any

import pint

__all__ = [
    "Bounds",
    "Dimension",
    "DIMENSIONS",
    "QuantityError",
    "parse_quantity",
    "format_quantity",
    "format_human",
    "unit_registry",
]

_DEFINITIONS = (
    "pico- = 1e-12 = p-",
    "nano- = 1e-9 = n-",
    "micro- = 1e-6 = µ- = μ- = u-",
    "milli- = 1e-3 = m-",
    "kilo- = 1e3 = k-",
    "mega- = 1e6 = M-",
    "giga- = 1e9 = G-",
    "tera- = 1e12 = T-",
    "peta- = 1e15 = P-",
    "exa- = 1e18 = E-",
    "kibi- = 2**10 = Ki-",
    "mebi- = 2**20 = Mi-",
    "gibi- = 2**30 = Gi-",
    "tebi- = 2**40 = Ti-",
    "pebi- = 2**50 = Pi-",
    "second = [time] = s = sec",
    "meter = [length] = m",
    "gram = [mass] = g",
    "joule = kilogram * meter ** 2 / second ** 2 = J",
    "watt = joule / second = W",
    "hertz = 1 / second = Hz",
    "byte = [information] = B",
    "bit = byte / 8",
    "operation = [operation] = OP = op",
    "FLOP = operation = flop",
    "MAC = 2 * operation",
    "OPS = operation / second",
    "FLOPS = FLOP / second",
)


@cache
def unit_registry() -> pint.UnitRegistry:
    """The (cached) pint registry holding exactly the units of hardware files."""
    ureg: pint.UnitRegistry = pint.UnitRegistry(None)
    for line in _DEFINITIONS:
        ureg.define(line)
    return ureg


@dataclass(frozen=True)
class Dimension:
    """A kind of quantity: its SI unit (what floats are stored in) and how to ask for it."""

    name: str  #: e.g. "bandwidth"
    si_unit: str  #: unit the float is stored in, written so that :func:`parse_quantity` reads it
    example: str  #: "a bandwidth such as '3.35 TB/s'"
    also_accept: str | None = None  #: a second unit with the same meaning (J for J/OP)


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("bandwidth", "B/s", "a bandwidth such as '3.35 TB/s'"),
        Dimension("size", "B", "a size such as '50 MiB'"),
        Dimension("frequency", "Hz", "a frequency such as '1.98 GHz'"),
        Dimension("time", "s", "a time such as '2 us'"),
        Dimension("energy_per_byte", "J/B", "an energy per byte such as '31 pJ/B' or '3.9 pJ/bit'"),
        Dimension("energy_per_op", "J/OP", "an energy per operation such as '0.4 pJ'", "J"),
        Dimension("power", "W", "a power such as '65.97 mW'"),
        Dimension("area", "mm2", "an area such as '814 mm2'"),
        Dimension("throughput", "OP/s", "a throughput such as '989.4 TFLOP/s' or '1979 TOPS'"),
        Dimension("energy", "J", "an energy such as '0.4 pJ'"),
        Dimension("area_per_size", "mm2/B", "an area per size such as '0.45 mm2/MiB'"),
        Dimension("power_per_size", "W/B", "a power per size such as '2 mW/MiB'"),
        Dimension("power_per_area", "W/mm2", "a power per area such as '4 mW/mm2'"),
        Dimension("dimensionless", "", "a plain number such as 0.85"),
    )
}

#: Names used in messages for units of a given dimensionality ("has units of frequency").
_LABELS = {
    "bandwidth": "bandwidth",
    "size": "size",
    "frequency": "frequency",
    "time": "time",
    "energy_per_byte": "energy per byte",
    "energy_per_op": "energy per operation",
    "power": "power",
    "area": "area",
    "throughput": "throughput",
    "energy": "energy",
    "area_per_size": "area per size",
    "power_per_size": "power per size",
    "power_per_area": "power per area",
    "dimensionless": "a plain number",
}

_NUMBER = re.compile(
    r"^\s*(?P<num>[-+]?(?:(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|infinity))"
    r"\s*(?P<unit>.*?)\s*$",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-zµμ]+)(?P<exp>(?:\^|\*\*)?[0-9]|[²³])?|(?P<op>[/*·]))")


class QuantityError(ValueError):
    """A value that is not a quantity of the expected dimension; ``what`` + ``expected``."""

    def __init__(self, what: str, expected: str) -> None:
        self.what = what
        self.expected = expected
        super().__init__(f"{what}; {expected}")


@lru_cache(maxsize=1024)
def _unit(text: str) -> Any:
    """A pint unit from our restricted unit grammar; raises ``ValueError`` when unreadable."""
    ureg = unit_registry()
    result = ureg.Unit("")
    pos, divide, expect_name = 0, False, True
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read {text[pos:]!r}")
        pos = m.end()
        if m.group("op"):
            if expect_name:
                raise ValueError(f"unexpected {m.group('op')!r}")
            divide, expect_name = m.group("op") == "/", True
            continue
        name = m.group("name")
        exp_text = (m.group("exp") or "1").lstrip("^*")
        power = {"²": 2, "³": 3}.get(exp_text) or int(exp_text)
        try:
            unit = ureg.Unit(name) ** power
        except pint.errors.UndefinedUnitError:
            raise ValueError(f"unknown unit {name!r}") from None
        result = result / unit if divide else result * unit
        divide, expect_name = False, False
    if expect_name and text:
        raise ValueError("a unit is missing after the last operator")
    return result


def _dimensionality(dimension: Dimension, which: str | None = None) -> Any:
    ureg = unit_registry()
    return ureg.Quantity(
        1.0, _unit(which if which is not None else dimension.si_unit)
    ).dimensionality


def describe_units(unit_text: str) -> str:
    """Name the kind of quantity ``unit_text`` measures ("frequency"), or its dimensionality."""
    ureg = unit_registry()
    dims = ureg.Quantity(1.0, _unit(unit_text)).dimensionality
    for name, dim in DIMENSIONS.items():
        if dims == _dimensionality(dim):
            return _LABELS[name]
    return str(dims).replace(" ", "")


def parse_quantity(text: object, expected_dimension: str) -> float:
    """Parse ``text`` ("3.35 TB/s") and return its value in the SI unit of the dimension.

    ``expected_dimension`` is a key of :data:`DIMENSIONS`. A plain int/float is accepted
    only for ``dimensionless``. Raises :class:`QuantityError` (a ``ValueError``) for a bool,
    an unreadable string, a unit of another dimension, NaN or infinity.
    """
    dim = DIMENSIONS[expected_dimension]
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        shown = "true/false" if isinstance(text, bool) else type(text).__name__
        raise QuantityError(f"{text!r} is a {shown}, not a quantity", f"expected {dim.example}")
    if isinstance(text, (int, float)):
        if expected_dimension != "dimensionless":
            raise QuantityError(f"{text!r} has no unit", f"expected {dim.example}")
        try:
            value = float(text)
        except OverflowError:  # an integer beyond the float range
            value = math.inf
    else:
        value = _parse_text(text, expected_dimension)
    if math.isnan(value) or math.isinf(value):
        raise QuantityError(f"{text!r} is not a finite number", f"expected {dim.example}")
    return value


@lru_cache(maxsize=4096)
def _parse_text(text: str, expected_dimension: str) -> float:
    """The SI value of ``text`` (cached: targets repeat the same strings)."""
    dim = DIMENSIONS[expected_dimension]
    m = _NUMBER.match(text)
    if m is None:
        raise QuantityError(f"{text!r} is not a number with a unit", f"expected {dim.example}")
    unit_text = m.group("unit")
    try:
        number = float(m.group("num").replace("_", ""))
        unit = _unit(unit_text)
    except (ValueError, OverflowError) as exc:
        raise QuantityError(
            f"{text!r} has an unreadable unit ({exc})", f"expected {dim.example}"
        ) from None
    ureg = unit_registry()
    quantity = ureg.Quantity(number, unit)
    accepted = [dim.si_unit] + ([dim.also_accept] if dim.also_accept else [])
    target = next((u for u in accepted if quantity.dimensionality == _dimensionality(dim, u)), None)
    if target is None:
        if not unit_text:
            raise QuantityError(f"{text!r} has no unit", f"expected {dim.example}")
        raise QuantityError(
            f"{text!r} has units of {describe_units(unit_text)}", f"expected {dim.example}"
        )
    return float(quantity.to(_unit(target)).magnitude) if unit_text else number


def format_quantity(value: float, dimension: str) -> str:
    """Write an SI float so that :func:`parse_quantity` reads back exactly the same float."""
    unit = DIMENSIONS[dimension].si_unit
    return f"{value!r} {unit}".strip() if unit else repr(value)


@dataclass(frozen=True)
class Bounds:
    """The physical bounds of a quantity, written as people write them, and why.

    A value outside is a typo or a number the simulator cannot turn into finite times,
    energies and areas. ``low`` is included unless ``low_open``; ``high`` is included.
    ``example`` replaces the dimension's example in messages ("ops per cycle ...").
    """

    dimension: str
    low: str
    high: str
    reason: str
    low_open: bool = False
    example: str | None = None

    @cached_property
    def limits(self) -> tuple[float, float]:
        """(low, high) in SI units."""
        return parse_quantity(self.low, self.dimension), parse_quantity(self.high, self.dimension)

    def problem(self, value: float, shown: str) -> tuple[str, str] | None:
        """``(what, expected)`` when ``value`` (SI) is out of bounds, else None."""
        low, high = self.limits
        example = self.example or DIMENSIONS[self.dimension].example
        span = f"from {self.low} to {self.high} ({self.reason})"
        if value <= 0 and (low > 0 or self.low_open):
            return f"{shown} is not positive", f"expected {example} greater than zero, {span}"
        if value < 0 and low == 0:
            return (
                f"{shown} is negative",
                f"expected {example}, zero or more, up to {self.high} ({self.reason})",
            )
        if value < low or (value == low and self.low_open):
            return f"{shown} is below {self.low}", f"expected {example} {span}"
        if value > high:
            return f"{shown} is above {self.high}", f"expected {example} {span}"
        return None


#: Units :func:`format_human` writes each dimension in (before an SI prefix).
_HUMAN_UNITS = {
    "bandwidth": "B/s",
    "size": "B",
    "frequency": "Hz",
    "time": "s",
    "energy_per_byte": "J/B",
    "energy_per_op": "J",
    "power": "W",
    "area": "mm2",
    "throughput": "OPS",
    "energy": "J",
    "area_per_size": "mm2/MiB",
    "power_per_size": "W/MiB",
    "power_per_area": "W/mm2",
    "dimensionless": "",
}
_PREFIXES = tuple(
    zip(
        ("E", "P", "T", "G", "M", "k", "", "m", "u", "n", "p", "f"),
        (1e18, 1e15, 1e12, 1e9, 1e6, 1e3, 1.0, 1e-3, 1e-6, 1e-9, 1e-12, 1e-15),
        strict=True,
    )
)
_BINARY = (("Ti", 2.0**40), ("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10))
#: The smallest prefix people use for a dimension (0.35 pJ/B, not 350 fJ/B).
_SMALLEST = {"time": 1e-9, "energy_per_byte": 1e-12, "energy_per_op": 1e-12, "energy": 1e-12}


def format_human(value: float, dimension: str, unit: str | None = None) -> str:
    """``value`` (SI) as people write it, to 4 significant digits: ``5e-06, "time"`` ->
    ``"5 us"``, ``3.35e12, "bandwidth"`` -> ``"3.35 TB/s"``, ``233472, "size"`` ->
    ``"228 KiB"`` (binary prefixes for sizes that are whole multiples of them).
    ``unit`` replaces the written unit ("FLOP/s" for a throughput of float ops)."""
    unit = unit if unit is not None else _HUMAN_UNITS[dimension]
    if dimension in ("area_per_size", "power_per_size"):
        value *= 2.0**20
    prefix, scale = next(((p, s) for p, s in _BINARY if value >= s), ("", 1.0))
    if dimension == "size" and prefix and (value / scale * 100).is_integer():
        return f"{value / scale:.4g} {prefix}{unit}"
    if (
        value == 0
        or not math.isfinite(value)
        or dimension in ("area", "area_per_size", "dimensionless")
    ):
        return f"{value:.4g} {unit}".strip()
    smallest = _SMALLEST.get(dimension, 1e-15)
    for prefix, scale in _PREFIXES:
        if abs(value) >= scale or scale <= smallest:
            return f"{value / scale:.4g} {prefix}{unit}"
    return f"{value:.4g} {unit}"
