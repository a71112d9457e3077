"""What one unit costs for one tile: the data every unit model hands the simulator.

A :class:`UnitCost` is the unit-level answer to "what happens when this unit processes
this tile": clock cycles, operations by (op class, precision) (a multiply-accumulate
counts as 2 ops), activity counts for energy (adds, Booth partial products, LUT reads,
...) and bytes through each of the unit's ports. Energy per event is *not* known here:
the caller passes per-event energies (from a target YAML, each with a source) to
:meth:`UnitCost.energy_j`.

Counts are floats because expected costs (for a stated operand distribution) are
expectations; exact costs (for given operands) are whole numbers held as floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from attnsim.errors import ProblemsError

__all__ = [
    "RtlModelError",
    "TileShape",
    "UnitCost",
    "check_positive_int",
    "raise_problems",
]


class RtlModelError(ProblemsError):
    """Bad input to a unit model (a parameter out of range, an unknown mode, operands of
    the wrong shape or type, a missing per-event energy). ``problems`` holds one finished
    line per problem: ``rtl_models: <unit>.<field>: what was wrong; what was expected``."""


def raise_problems(problems: list[str]) -> None:
    """Raise :class:`RtlModelError` with every line in ``problems`` (no-op when empty)."""
    if problems:
        raise RtlModelError(problems)


def check_positive_int(where: str, value: Any, problems: list[str], *, minimum: int = 1) -> None:
    """Append a problem line when ``value`` is not an ``int`` >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"rtl_models: {where}: got {value!r}; expected an integer >= {minimum}")


@dataclass(frozen=True)
class TileShape:
    """A tile of work: an ``m x k`` left operand (activations, queries, scores) against a
    ``k x n`` right operand (weights, keys); ``k`` is the reduction length.

    Units that are not matrix products say how they read it: the softmax unit takes
    ``m`` rows of ``n`` scores (``k`` unused, 1 by convention); the LOP pruner takes ``m``
    queries of head dimension ``k`` against ``n`` cached keys.
    """

    m: int
    k: int
    n: int

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("m", "k", "n"):
            check_positive_int(f"tile.{name}", getattr(self, name), problems)
        raise_problems(problems)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the tile as a matrix product (``m*k*n``)."""
        return self.m * self.k * self.n


def _frozen(d: Mapping[Any, float]) -> Mapping[Any, float]:
    return MappingProxyType({key: float(v) for key, v in d.items()})


@dataclass(frozen=True)
class UnitCost:
    """The cost of one tile on one unit.

    Attributes:
        cycles: clock cycles from the first input accepted to the last result written,
            pipeline fill and drain included (the unit is busy for this long).
        ops: operations by ``(op_class, precision)``; a MAC counts as 2 ops.
        events: activity counts by event name (``"tint.add"``, ``"booth.pp"``,
            ``"nlu.lut_read"``, ...); each unit documents its events.
        port_bytes: bytes through each port of the unit by port name (``"act_in"``,
            ``"weight_in"``, ``"out"``, ``"lo_codes_in"``, ...).
    """

    cycles: int
    ops: Mapping[tuple[str, str], float] = field(default_factory=dict)
    events: Mapping[str, float] = field(default_factory=dict)
    port_bytes: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.cycles, bool) or not isinstance(self.cycles, int) or self.cycles < 0:
            raise RtlModelError(
                f"rtl_models: cost.cycles: got {self.cycles!r}; expected an integer >= 0"
            )
        problems: list[str] = []
        for what in ("ops", "events", "port_bytes"):
            for key, v in getattr(self, what).items():
                if not (float(v) >= 0.0):  # also refuses NaN
                    problems.append(
                        f"rtl_models: cost.{what}.{key}: got {v!r}; expected a count >= 0"
                    )
        raise_problems(problems)
        object.__setattr__(self, "ops", _frozen(self.ops))
        object.__setattr__(self, "events", _frozen(self.events))
        object.__setattr__(self, "port_bytes", _frozen(self.port_bytes))

    def total_ops(self) -> float:
        """All operations, every class and precision together."""
        return float(sum(self.ops.values()))

    def total_bytes(self) -> float:
        """Bytes through all ports together."""
        return float(sum(self.port_bytes.values()))

    def energy_j(self, per_event_j: Mapping[str, float]) -> float:
        """Dynamic energy in joules: the sum over events of ``count x per_event_j[event]``.

        ``per_event_j`` maps event names to joules per event (from the target, each with a
        source); names it has that this cost lacks are ignored, so one table serves every
        unit. An event of this cost that the table lacks is an error (a silently free
        event would under-count energy). Port bytes are not included: the caller charges
        them at the memory level each port reads or writes.
        """
        missing = sorted(e for e, n in self.events.items() if n and e not in per_event_j)
        if missing:
            raise RtlModelError(
                f"rtl_models: per_event_j: no energy for event(s) {', '.join(missing)}; "
                f"expected joules per event for every event of the cost "
                f"({', '.join(sorted(self.events))})"
            )
        bad = sorted(e for e in self.events if e in per_event_j and not per_event_j[e] >= 0.0)
        if bad:
            raise RtlModelError(
                f"rtl_models: per_event_j: negative or NaN energy for {', '.join(bad)}; "
                "expected joules >= 0"
            )
        return float(sum(n * float(per_event_j[e]) for e, n in self.events.items() if n))

    def scaled(self, times: int) -> UnitCost:
        """This cost repeated ``times`` times back to back (cycles add, counts add)."""
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise RtlModelError(
                f"rtl_models: scaled.times: got {times!r}; expected an integer >= 0"
            )
        return UnitCost(
            cycles=self.cycles * times,
            ops={key: v * times for key, v in self.ops.items()},
            events={key: v * times for key, v in self.events.items()},
            port_bytes={key: v * times for key, v in self.port_bytes.items()},
        )

    @staticmethod
    def serial(costs: Iterable[UnitCost]) -> UnitCost:
        """Costs run one after another on one unit: cycles add, counts add."""
        cycles = 0
        ops: dict[tuple[str, str], float] = {}
        events: dict[str, float] = {}
        ports: dict[str, float] = {}
        for c in costs:
            cycles += c.cycles
            for op, v in c.ops.items():
                ops[op] = ops.get(op, 0.0) + v
            for ev, v in c.events.items():
                events[ev] = events.get(ev, 0.0) + v
            for port, v in c.port_bytes.items():
                ports[port] = ports.get(port, 0.0) + v
        return UnitCost(cycles, ops, events, ports)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (op keys written ``"class/precision"``)."""
        return {
            "cycles": self.cycles,
            "ops": {f"{c}/{p}": v for (c, p), v in self.ops.items()},
            "events": dict(self.events),
            "port_bytes": dict(self.port_bytes),
        }
