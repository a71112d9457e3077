"""Bounds on workload input, checked before anything is expanded.

A workload file is small, but what it describes can be enormous: a shape of 10**400, a
block layout of a billion blocks, JSON nested a hundred thousand levels deep. Every such
input is refused with one line per problem (a :class:`~workloads.errors.WorkloadError`)
*before* it is expanded, so a small hostile file costs milliseconds, never gigabytes or a
traceback. The bounds are what the simulator can represent, not what is plausible:

* :data:`MAX_SIZE` -- every size, count and product of sizes (elements of a tensor,
  (query, key) pairs, bytes of an op) is below ``2**62``, so integer arithmetic on them
  fits int64 (numpy) with headroom and their floats are exact to 1 part in 2**53.
* :data:`MAX_FLOPS` -- the FLOPs of one op are below ``2**72``: a simulated clock in
  float64 seconds keeps microsecond kernels distinct next to it.
* :data:`MAX_GRID_CELLS` -- the largest per-block table the IR or lowering builds (a
  mask's tile grid, a block layout): ``2**22`` cells, int64 tables of 32 MiB, about a
  quarter of a second to fill. That is a 256k-token sequence in 128x128 tiles (128k in
  64x64); longer sequences need larger tiles (``--block-q``/``--block-k``).
* :data:`MAX_STEPS` -- iterations of an iterative op (a kernel each): ``2**10``.
* :data:`MAX_JSON_DEPTH` -- nesting of a workload document (a real one nests about 10
  levels: blocks, ops, spec, mask, layout rows).
* :data:`MAX_PROBLEMS` -- problem lines reported at once (a file with a million bad
  numbers gets the first ones and a count).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import WorkloadError

#: Bound on every size, count and product of sizes (exclusive).
MAX_SIZE = 2**62
#: Bound on the FLOPs of one op instance (exclusive): ~10^21, a thousand times a whole
#: 405B-parameter forward pass over a million tokens. Beyond it one op would run for
#: years, and the microsecond kernels beside it on the same simulated clock would fall
#: below the resolution of a float64 time.
MAX_FLOPS = 2**72
#: Most operations per element of an elementwise op (or per pair of a mask setup):
#: activations take a few tens; a million would make one op outlast every other by
#: orders of magnitude on the same simulated engine.
MAX_OPS_PER_ELEMENT = 2**16
#: Bound on the cells of a per-block table (tile grid, block layout), inclusive.
MAX_GRID_CELLS = 2**22
#: Most steps of an iterative op (ISTA iterations, polynomial terms): lowering emits a
#: kernel per step.
MAX_STEPS = 2**10
#: Deepest nesting of arrays and objects accepted in a workload document.
MAX_JSON_DEPTH = 32
#: Most problem lines reported for one file.
MAX_PROBLEMS = 50
#: Digits beyond which a JSON integer is not even converted (``2**62`` has 19).
_MAX_DIGITS = 40

_ESCAPE = re.compile(r"\\.", re.DOTALL)
_NOT_SYNTAX = re.compile(r'[^\[\]{}"]+')
_STRING = re.compile(r'"[^"]*"')


class _Unrepresentable:
    """A JSON number that cannot be used (too many digits, overflows a float, NaN)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def describe(self) -> str:
        if self.text in ("NaN", "Infinity", "-Infinity"):
            return f"{self.text} is not a number"
        digits = sum(ch.isdigit() for ch in self.text)
        if len(self.text) > _MAX_DIGITS:
            return f"a number of {digits} digits is out of range"
        return f"{self.text} is out of range"


def _parse_int(text: str) -> int | _Unrepresentable:
    if len(text) > _MAX_DIGITS:
        return _Unrepresentable(text)
    value = int(text)
    return value if abs(value) < MAX_SIZE else _Unrepresentable(text)


def _parse_float(text: str) -> float | _Unrepresentable:
    value = float(text)
    return value if math.isfinite(value) else _Unrepresentable(text)


class _Hooks:
    """The number hooks of one parse; counts what they refused, so the document is walked
    for key paths only when something was."""

    def __init__(self) -> None:
        self.refused = 0

    def _note(self, value: Any) -> Any:
        if isinstance(value, _Unrepresentable):
            self.refused += 1
        return value

    def int(self, text: str) -> Any:
        return self._note(_parse_int(text))

    def float(self, text: str) -> Any:
        return self._note(_parse_float(text))

    def constant(self, text: str) -> Any:
        return self._note(_Unrepresentable(text))


def nesting_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON ``text`` (brackets inside strings ignored);
    a few passes of C-level regular expressions and numpy, no recursion, ~0.2 s for 25 MB."""
    unescaped = _ESCAPE.sub("", text)  # \" and \\ inside strings
    skeleton = _STRING.sub("", _NOT_SYNTAX.sub("", unescaped))  # brackets outside strings
    codes = np.frombuffer(skeleton.encode("ascii"), dtype=np.uint8)
    if codes.size == 0:
        return 0
    step = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(step).max(initial=0))


def parse_json(text: str, source: str, what: str = "workload") -> Any:
    """Parse JSON ``text`` of file ``source`` within the bounds of this module.

    Refuses nesting deeper than :data:`MAX_JSON_DEPTH` before parsing, and numbers that
    cannot be represented (``NaN``, ``Infinity``, overflowing floats, integers of
    thousands of digits) and integers of magnitude ``>= MAX_SIZE`` with their key path.
    Raises :class:`WorkloadError` (every problem, capped at :data:`MAX_PROBLEMS`).
    """
    depth = nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise WorkloadError(
            [
                f"{source}: arrays and objects nest {depth} levels deep; expected at most "
                f"{MAX_JSON_DEPTH} (a {what} file nests about 10)"
            ]
        )
    hooks = _Hooks()
    try:
        doc = json.loads(
            text, parse_int=hooks.int, parse_float=hooks.float, parse_constant=hooks.constant
        )
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            raise WorkloadError(
                [
                    f"{source}: line {exc.lineno} column {exc.colno}: the file ends in the middle of "
                    f"the JSON document (truncated?); expected a complete {what} file"
                ]
            ) from None
        raise WorkloadError(
            [
                f"{source}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg}); "
                "expected JSON"
            ]
        ) from None
    except RecursionError:  # pragma: no cover - the depth check runs first
        raise WorkloadError(
            [f"{source}: nested too deeply; expected at most {MAX_JSON_DEPTH} levels"]
        ) from None
    if hooks.refused:
        problems = [f"{source}: {line}" for line in _number_problems(doc)]
        raise WorkloadError(cap_problems(problems))
    return doc


def _walk(doc: Any) -> Iterator[tuple[str, Any]]:
    """``(key path, leaf)`` for every leaf of a parsed document, iteratively."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for key, value in reversed(list(node.items())):
                stack.append((f"{path}.{key}" if path else str(key), value))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                stack.append((f"{path}[{i}]", node[i]))
        else:
            yield path or "(document)", node


def _number_problems(doc: Any) -> Iterator[str]:
    for path, leaf in _walk(doc):
        if isinstance(leaf, _Unrepresentable):
            yield (
                f"{path}: {leaf.describe()}; expected a finite number "
                f"(integers of magnitude below 2**62)"
            )


def cap_problems(problems: list[str]) -> list[str]:
    """At most :data:`MAX_PROBLEMS` lines, the last saying how many were left out."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - (MAX_PROBLEMS - 1)
    return [*problems[: MAX_PROBLEMS - 1], f"... and {rest} more problems of the same file"]


def size_problems(where: str, name: str, value: int) -> list[str]:
    """Problem line when the size ``value`` (already an integer) is ``>= MAX_SIZE``."""
    if abs(value) >= MAX_SIZE:
        return [f"{where}.{name}: {value} is too large; expected an integer below 2**62"]
    return []


def grid_problems(where: str, rows: int, cols: int, what: str) -> list[str]:
    """Problem line when a ``rows x cols`` per-block table exceeds :data:`MAX_GRID_CELLS`."""
    if rows * cols > MAX_GRID_CELLS:
        return [
            f"{where}: {what} of {rows} x {cols} blocks has more than {MAX_GRID_CELLS} cells "
            f"(2**22), the most the simulator builds; expected larger blocks or a shorter "
            f"sequence"
        ]
    return []
