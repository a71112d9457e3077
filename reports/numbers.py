"""Numbers as people write them, for every table and line the command line prints.

``4.9999999999999996e-06`` is how Python spells a float exactly; a table wants ``5e-6``
(or ``5 us`` with a unit). The JSON outputs keep exact floats; only text goes through
these functions.
"""

from __future__ import annotations

import math

__all__ = ["format_number", "format_si"]

_SI = (
    ("E", 1e18),
    ("P", 1e15),
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
)
_BINARY = (
    ("Ei", 2.0**60),
    ("Pi", 2.0**50),
    ("Ti", 2.0**40),
    ("Gi", 2.0**30),
    ("Mi", 2.0**20),
    ("Ki", 2.0**10),
)


def _significant(value: float, digits: int) -> str:
    """``value`` (0 < |value| < 1e4 after rounding) to ``digits`` significant digits,
    without an exponent and without trailing zeros."""
    exponent = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - exponent)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_number(value: float | int | None, digits: int = 3) -> str:
    """A plain number to ``digits`` significant digits, as a person writes it.

    ``1750.3`` -> ``1,750``; ``146536.2`` -> ``146,536`` (every integer digit from
    ``10**max(digits, 4)`` up); ``0.000165`` -> ``0.000165``;
    ``4.9999999999999996e-06`` -> ``5e-6``; ``0`` -> ``0``; None -> ``-``; NaN -> ``nan``.
    Integers are written in full with thousands separators.
    """
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if abs(v) >= 10 ** max(digits, 4):  # large: every integer digit, as people count
        return f"{round(v):,}"
    rounded = float(f"{v:.{digits}g}")  # round to the significant digits first
    if abs(rounded) >= 1e4:
        return f"{round(rounded):,}"
    if abs(rounded) >= 1e-4:
        text = _significant(rounded, digits)
        if abs(rounded) >= 1000 and "." not in text:
            return f"{int(text):,}"
        return text
    mantissa, exponent = f"{rounded:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def format_si(value: float | int | None, unit: str, digits: int = 4, binary: bool = False) -> str:
    """``value`` with an SI prefix (``binary``: Ki/Mi/Gi... above 1 MiB) and ``unit``:
    ``989.4e12, "FLOP/s"`` -> ``989.4 TFLOP/s``; ``5e-6, "s"`` -> ``5 us``."""
    if value is None:
        return "-"
    v = float(value)
    if not math.isfinite(v) or v == 0:
        return f"{format_number(v, digits)} {unit}".strip()
    table = _BINARY if binary else _SI
    for prefix, scale in table:
        if abs(v) >= scale * (1 - 0.5 * 10 ** (-digits)):
            return f"{format_number(v / scale, digits)} {prefix}{unit}"
    if binary:
        return f"{format_number(v, digits)} {unit}"
    prefix, scale = _SI[-1]
    return f"{format_number(v / scale, digits)} {prefix}{unit}"
