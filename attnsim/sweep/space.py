"""The design space of a spec: dimensions (zip groups of axes) and the points in them.

A point is one index per dimension. Its *grid index* is the mixed-radix number of those
indices, first dimension slowest (the order a full grid visits them). A point turns into
target overrides (key path -> value as written) plus, when the spec sweeps
``precision``, the precision its compute ops run in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnsim.sweep.spec import PRECISION_AXIS, Axis, Dimension

__all__ = ["DesignSpace", "Point"]


@dataclass(frozen=True)
class Point:
    """One design point: ``indices`` (one per dimension) into the space."""

    indices: tuple[int, ...]


class DesignSpace:
    """The points of a spec's dimensions (crossed; zip members advance together)."""

    def __init__(self, dimensions: Sequence[Dimension]) -> None:
        self._dims = tuple(dimensions)
        self._sizes = tuple(d.size for d in self._dims)

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """The dimensions, in spec order."""
        return self._dims

    @property
    def sizes(self) -> tuple[int, ...]:
        """Values along each dimension."""
        return self._sizes

    @property
    def size(self) -> int:
        """Points in the full grid (1 when nothing is swept)."""
        return math.prod(self._sizes)

    @property
    def axes(self) -> tuple[Axis, ...]:
        """Every axis, in spec order."""
        return tuple(a for d in self._dims for a in d.axes)

    def label(self, dim: int) -> str:
        """A name for dimension ``dim`` (its axis paths joined with ``+``)."""
        return "+".join(a.path for a in self._dims[dim].axes)

    def grid_index(self, point: Point) -> int:
        """The mixed-radix index of ``point`` (first dimension slowest)."""
        index = 0
        for i, size in zip(point.indices, self._sizes, strict=True):
            index = index * size + i
        return index

    def from_grid_index(self, index: int) -> Point:
        """The point at grid position ``index``."""
        if not 0 <= index < self.size:
            raise ValueError(f"grid index {index} outside 0..{self.size - 1}")
        out = []
        for size in reversed(self._sizes):
            index, r = divmod(index, size)
            out.append(r)
        return Point(tuple(reversed(out)))

    def values(self, point: Point) -> dict[str, Any]:
        """Key path -> value as written, for every axis (``precision`` included)."""
        out: dict[str, Any] = {}
        for dim, i in zip(self._dims, point.indices, strict=True):
            for axis in dim.axes:
                out[axis.path] = axis.values[i]
        return out

    def overrides(self, point: Point) -> dict[str, Any]:
        """The target overrides of ``point`` (every axis but ``precision``)."""
        return {k: v for k, v in self.values(point).items() if k != PRECISION_AXIS}

    def precision(self, point: Point) -> str | None:
        """The precision the point's compute ops run in, or None when not swept."""
        v = self.values(point).get(PRECISION_AXIS)
        return None if v is None else str(v)

    def params(self, point: Point) -> dict[str, float | str]:
        """Column -> SI value (or text) of every axis, for the results tables."""
        out: dict[str, float | str] = {}
        for dim, i in zip(self._dims, point.indices, strict=True):
            for axis in dim.axes:
                out[axis.column] = axis.si[i]
        return out

    def axis_columns(self) -> Mapping[str, Axis]:
        """Column -> axis."""
        return {a.column: a for a in self.axes}
