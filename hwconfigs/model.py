"""The built hardware description: frozen dataclasses holding SI floats.

Units are in the field names (``capacity_bytes``, ``clock_hz``) or stated in the docstring.
Nothing here reads or writes files: :mod:`hwconfigs.loader` builds these objects and
``Hardware.to_dict`` gives back a plain dict that the loader reads again to an equal object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from attnsim.hwconfigs.registry import CALIBRATION_CONSTANTS
from attnsim.hwconfigs.units import format_quantity

__all__ = ["FrozenMap", "Engine", "MemoryLevel", "Interconnect", "Energy", "Area", "Hardware"]

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """A read-only, ordered, hashable and picklable mapping (for frozen dataclasses)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(data or {})

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))


def _with_source(text: Any, sources: Mapping[str, str], path: str) -> Any:
    source = sources.get(path)
    return {"value": text, "source": source} if source is not None else text


_EMPTY: Mapping[Any, Any] = {}


@dataclass(frozen=True)
class Engine:
    """A group of identical compute engines (e.g. the tensor cores of every SM).

    Rates are per unit instance and per clock cycle, so ``count`` and ``clock_hz`` scale
    them: an H100 with 100 SMs is one changed number. ``unit`` names the replicated
    compute unit the engine lives in (``"sm"`` on a GPU); engines with the same unit are
    co-located in each of ``count`` instances.

    Attributes:
        ops_per_cycle: op class -> precision -> operations one instance completes per
            clock cycle (a multiply-accumulate counts as 2 ops).
        buffer_bytes: the local buffer of one instance (operand staging), or None.
        energy_per_op_j: op class -> precision -> J per op on this engine; empty when the
            target gives only chip-level energies (:meth:`Hardware.op_energy_j` falls
            back to those).
        static_power_w: leakage of one instance, W (None when not given).
        area_mm2: area of one instance, mm² (None when not given).
        params: the configuration of the engine's unit model (array rows and columns,
            pipeline depth, modes), read by the simulator's plug-in for this engine kind.
    """

    name: str
    kind: str
    unit: str
    count: int
    clock_hz: float
    ops_per_cycle: Mapping[str, Mapping[str, float]]
    buffer_bytes: float | None = None
    energy_per_op_j: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: _EMPTY)
    static_power_w: float | None = None
    area_mm2: float | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @cached_property
    def throughput(self) -> Mapping[str, Mapping[str, float]]:
        """op class -> precision -> ops/s of the whole group (count x clock x per cycle)."""
        scale = self.count * self.clock_hz
        return FrozenMap(
            {
                op: FrozenMap({prec: v * scale for prec, v in precs.items()})
                for op, precs in self.ops_per_cycle.items()
            }
        )

    def per_unit(self, op_class: str, precision: str) -> float:
        """Ops/s of one instance for ``op_class``/``precision`` (0.0 if it cannot run it)."""
        return self.ops_per_cycle.get(op_class, {}).get(precision, 0.0) * self.clock_hz

    def precisions(self, op_class: str) -> tuple[str, ...]:
        """Precisions this engine runs ``op_class`` in, as listed."""
        return tuple(self.ops_per_cycle.get(op_class, {}))


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy.

    ``scope`` is ``"shared"`` (one instance for the device) or ``"per_unit"`` (one
    instance per ``unit``; then capacity and bandwidth are those of one instance).
    Capacity in bytes, bandwidth in bytes/s, latency in seconds, energies in J per byte.
    """

    name: str
    capacity_bytes: float
    bandwidth_bytes_per_s: float
    latency_s: float
    read_energy_j_per_byte: float
    write_energy_j_per_byte: float
    scope: str = "shared"
    unit: str | None = None
    ports: int | None = None
    area_mm2_per_byte: float | None = None
    static_power_w_per_byte: float | None = None

    def instances(self, units: Mapping[str, int]) -> int:
        """How many copies of this level the chip has: one if shared, else the count of
        its unit (``units``: unit name -> instances)."""
        return units.get(self.unit, 1) if self.scope == "per_unit" and self.unit else 1

    def area_mm2(self, units: Mapping[str, int]) -> float | None:
        """Area of all copies of the level (density x capacity x instances), or None."""
        if self.area_mm2_per_byte is None:
            return None
        return self.area_mm2_per_byte * self.capacity_bytes * self.instances(units)

    def static_power_w(self, units: Mapping[str, int]) -> float | None:
        """Leakage of all copies of the level, W, or None."""
        if self.static_power_w_per_byte is None:
            return None
        return self.static_power_w_per_byte * self.capacity_bytes * self.instances(units)


@dataclass(frozen=True)
class Interconnect:
    """Links to other devices: ``bandwidth_bytes_per_s`` is the aggregate over all links
    as the vendor quotes it; ``latency_s`` is 0.0 when the file gives none."""

    name: str
    links: int
    bandwidth_bytes_per_s: float
    latency_s: float = 0.0


@dataclass(frozen=True)
class Energy:
    """Chip-level energy per op (J/op, by op class then precision: the default for
    engines that give none), static power of everything that engines and memory levels
    do not list themselves (W), and TDP (W)."""

    op_energy_j: Mapping[str, Mapping[str, float]]
    static_power_w: float
    tdp_w: float | None = None


@dataclass(frozen=True)
class Area:
    """Die area, mm².

    Attributes:
        total_mm2: the published die area of this configuration (None if not given).
            Used as the area when no engine or level gives its own.
        other_mm2: area outside the engines and memory levels (uncore, I/O, PHYs); the
            modelled area is the engines' and levels' areas plus this.
        breakdown_mm2: an optional published breakdown (mm² by block), for reports.
        process: the process node.
    """

    total_mm2: float | None
    breakdown_mm2: Mapping[str, float]
    process: str | None = None
    other_mm2: float | None = None


@dataclass(frozen=True)
class FigureOfMerit:
    """How the target's own paper counts the peak of its figure of merit (TOPS per mm²
    per W): the matmul peak of ``engines`` in ``precision``, a MAC counted as
    ``ops_per_mac`` ops (1 or 2). Papers differ; without one the FOM uses the whole
    chip's peak in the workload's precision, a MAC = 2 ops."""

    engines: tuple[str, ...]
    precision: str
    ops_per_mac: int

    def describe(self) -> str:
        """One line for results: what the FOM's peak counts."""
        return (
            f"peak of {', '.join(self.engines)} in {self.precision} matmul, a MAC = "
            f"{self.ops_per_mac} op{'s' if self.ops_per_mac > 1 else ''}"
        )


@dataclass(frozen=True)
class Hardware:
    """One device: engines, memory hierarchy (nearest -> farthest), energy and area.

    ``sources`` maps the dotted key path of every number in the file
    (``"engines.tensor.ops_per_cycle.matmul.fp16"``) to where the number comes from.
    ``calibration`` holds named constants in SI units (e.g. ``launch_overhead`` in s).
    ``declared_units`` are the replicated units whose instance count the file gives
    once, in its ``units:`` section (``units: {sm: {count: 132}}``), for every engine
    that lives in them.
    """

    name: str
    kind: str
    description: str
    version: int
    engines: Mapping[str, Engine]
    memory: tuple[MemoryLevel, ...]
    interconnect: Interconnect | None
    energy: Energy
    area: Area | None
    kernel_families: tuple[str, ...]
    calibration: Mapping[str, float]
    sources: Mapping[str, str]
    declared_units: tuple[str, ...] = ()
    figure_of_merit: FigureOfMerit | None = None

    @cached_property
    def units(self) -> Mapping[str, int]:
        """Replicated unit name -> number of instances (``{"sm": 132}``)."""
        out: dict[str, int] = {}
        for e in self.engines.values():
            out.setdefault(e.unit, e.count)
        return FrozenMap(out)

    def op_energy_j(self, engine: str, op_class: str, precision: str) -> float | None:
        """J per op of ``op_class`` in ``precision`` on ``engine``: the engine's own figure,
        else the chip-level one, else None (unknown: reported, never guessed)."""
        own = self.engines[engine].energy_per_op_j.get(op_class, {}).get(precision)
        if own is not None:
            return own
        return self.energy.op_energy_j.get(op_class, {}).get(precision)

    def area_breakdown_mm2(self) -> dict[str, float]:
        """Modelled area by engine, memory level and ``other`` (mm²); empty when no engine
        or level gives an area (then only the published total is known)."""
        parts: dict[str, float] = {}
        for e in self.engines.values():
            if e.area_mm2 is not None:
                parts[f"engine.{e.name}"] = e.area_mm2 * e.count
        for m in self.memory:
            a = m.area_mm2(self.units)
            if a is not None:
                parts[f"memory.{m.name}"] = a
        if parts and self.area is not None and self.area.other_mm2 is not None:
            parts["other"] = self.area.other_mm2
        return parts

    @property
    def area_mm2(self) -> float | None:
        """Die area of this configuration, mm²: the sum of the modelled parts when the
        target gives them (so it scales with counts and capacities), else the published
        total, else None."""
        parts = self.area_breakdown_mm2()
        if parts:
            return float(sum(parts.values()))
        return self.area.total_mm2 if self.area is not None else None

    @property
    def area_scales(self) -> bool:
        """True when :attr:`area_mm2` follows the configuration (engines or levels give
        their areas); False when it is a fixed published total."""
        return bool(self.area_breakdown_mm2())

    def static_power_breakdown_w(self) -> dict[str, float]:
        """Leakage by engine, memory level and the rest of the chip (W)."""
        parts: dict[str, float] = {}
        for e in self.engines.values():
            if e.static_power_w is not None:
                parts[f"engine.{e.name}"] = e.static_power_w * e.count
        for m in self.memory:
            s = m.static_power_w(self.units)
            if s is not None:
                parts[f"memory.{m.name}"] = s
        parts["other"] = self.energy.static_power_w
        return parts

    @property
    def static_power_w(self) -> float:
        """Total static power of this configuration, W."""
        return float(sum(self.static_power_breakdown_w().values()))

    @cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of everything the simulator reads from this target: the
        resolved document without name, description and sources. Two targets with the
        same digest predict the same; a changed number changes it."""
        doc = _strip_sources(self.to_dict())
        for key in ("name", "description"):
            doc.pop(key, None)
        if self.calibration:  # SI floats, as digests were taken before constants had units
            doc["calibration"] = dict(self.calibration)
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def peak(self, op_class: str, precision: str) -> float:
        """Peak ops/s for ``op_class`` in ``precision``, summed over engines (0.0 if none)."""
        return float(
            sum(e.throughput.get(op_class, {}).get(precision, 0.0) for e in self.engines.values())
        )

    def fom_peak_ops_s(self) -> float | None:
        """The peak (ops/s) the target's figure of merit counts (:class:`FigureOfMerit`),
        or None when the file states no convention."""
        f = self.figure_of_merit
        if f is None:
            return None
        macs = sum(
            self.engines[n].throughput.get("matmul", {}).get(f.precision, 0.0) / 2.0
            for n in f.engines
        )
        return float(macs * f.ops_per_mac)

    def memory_level(self, name: str) -> MemoryLevel:
        """The memory level called ``name``; ``KeyError`` naming the known levels if absent."""
        for level in self.memory:
            if level.name == name:
                return level
        known = ", ".join(level.name for level in self.memory)
        raise KeyError(f"{self.name} has no memory level {name!r}; expected one of {known}")

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-able dict of this target: units written out, every number with
        its source; loading it again gives an equal ``Hardware``."""
        s = self.sources
        out: dict[str, Any] = {
            "version": self.version,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
        }
        if self.declared_units:
            out["units"] = {
                u: {"count": _with_source(self.units[u], s, f"units.{u}.count")}
                for u in self.declared_units
            }
        engines: dict[str, Any] = {}
        for e in self.engines.values():
            p = f"engines.{e.name}"
            entry_e: dict[str, Any] = {"kind": e.kind, "unit": e.unit}
            if e.unit not in self.declared_units:
                entry_e["count"] = _with_source(e.count, s, f"{p}.count")
            entry_e["clock"] = _with_source(
                format_quantity(e.clock_hz, "frequency"), s, f"{p}.clock"
            )
            entry_e["ops_per_cycle"] = {
                op: {
                    prec: _with_source(v, s, f"{p}.ops_per_cycle.{op}.{prec}")
                    for prec, v in precs.items()
                }
                for op, precs in e.ops_per_cycle.items()
            }
            if e.buffer_bytes is not None:
                entry_e["buffer"] = _with_source(
                    format_quantity(e.buffer_bytes, "size"), s, f"{p}.buffer"
                )
            if e.energy_per_op_j:
                entry_e["energy"] = {
                    op: {
                        prec: _with_source(
                            format_quantity(v, "energy_per_op"), s, f"{p}.energy.{op}.{prec}"
                        )
                        for prec, v in precs.items()
                    }
                    for op, precs in e.energy_per_op_j.items()
                }
            if e.static_power_w is not None:
                entry_e["static_power"] = _with_source(
                    format_quantity(e.static_power_w, "power"), s, f"{p}.static_power"
                )
            if e.area_mm2 is not None:
                entry_e["area"] = _with_source(format_quantity(e.area_mm2, "area"), s, f"{p}.area")
            if e.params:
                entry_e["params"] = {
                    k: _with_source(v, s, f"{p}.params.{k}") for k, v in e.params.items()
                }
            engines[e.name] = entry_e
        out["engines"] = engines
        memory: dict[str, Any] = {}
        for m in self.memory:
            p = f"memory.{m.name}"
            entry: dict[str, Any] = {"scope": m.scope}
            if m.unit is not None:
                entry["unit"] = m.unit
            for key, value, dim in (
                ("capacity", m.capacity_bytes, "size"),
                ("bandwidth", m.bandwidth_bytes_per_s, "bandwidth"),
                ("latency", m.latency_s, "time"),
                ("read_energy", m.read_energy_j_per_byte, "energy_per_byte"),
                ("write_energy", m.write_energy_j_per_byte, "energy_per_byte"),
            ):
                entry[key] = _with_source(format_quantity(value, dim), s, f"{p}.{key}")
            if m.ports is not None:
                entry["ports"] = _with_source(m.ports, s, f"{p}.ports")
            if m.area_mm2_per_byte is not None:
                entry["area_density"] = _with_source(
                    format_quantity(m.area_mm2_per_byte, "area_per_size"), s, f"{p}.area_density"
                )
            if m.static_power_w_per_byte is not None:
                entry["static_power_density"] = _with_source(
                    format_quantity(m.static_power_w_per_byte, "power_per_size"),
                    s,
                    f"{p}.static_power_density",
                )
            memory[m.name] = entry
        out["memory"] = memory
        if self.interconnect is not None:
            ic = self.interconnect
            out["interconnect"] = {
                "name": ic.name,
                "links": _with_source(ic.links, s, "interconnect.links"),
                "bandwidth": _with_source(
                    format_quantity(ic.bandwidth_bytes_per_s, "bandwidth"),
                    s,
                    "interconnect.bandwidth",
                ),
            }
            if "interconnect.latency" in s:  # written only when the file gave one
                out["interconnect"]["latency"] = _with_source(
                    format_quantity(ic.latency_s, "time"), s, "interconnect.latency"
                )
        energy: dict[str, Any] = {
            "per_op": {
                op: {
                    prec: _with_source(
                        format_quantity(v, "energy_per_op"), s, f"energy.per_op.{op}.{prec}"
                    )
                    for prec, v in precs.items()
                }
                for op, precs in self.energy.op_energy_j.items()
            },
            "static_power": _with_source(
                format_quantity(self.energy.static_power_w, "power"), s, "energy.static_power"
            ),
        }
        if self.energy.tdp_w is not None:
            energy["tdp"] = _with_source(
                format_quantity(self.energy.tdp_w, "power"), s, "energy.tdp"
            )
        out["energy"] = energy
        if self.area is not None:
            area: dict[str, Any] = {}
            if self.area.total_mm2 is not None:
                area["total"] = _with_source(
                    format_quantity(self.area.total_mm2, "area"), s, "area.total"
                )
            if self.area.other_mm2 is not None:
                area["other"] = _with_source(
                    format_quantity(self.area.other_mm2, "area"), s, "area.other"
                )
            if self.area.breakdown_mm2:
                area["breakdown"] = {
                    k: _with_source(format_quantity(v, "area"), s, f"area.breakdown.{k}")
                    for k, v in self.area.breakdown_mm2.items()
                }
            if self.area.process is not None:
                area["process"] = self.area.process
            out["area"] = area
        if self.kernel_families:
            out["kernel_families"] = list(self.kernel_families)
        if self.calibration:
            out["calibration"] = {
                k: _with_source(_calibration_text(k, v), s, f"calibration.{k}")
                for k, v in self.calibration.items()
            }
        if self.figure_of_merit is not None:
            f = self.figure_of_merit
            out["figure_of_merit"] = {
                "engines": list(f.engines),
                "precision": f.precision,
                "ops_per_mac": _with_source(f.ops_per_mac, s, "figure_of_merit.ops_per_mac"),
            }
        return out


def _calibration_text(name: str, value: float) -> Any:
    """A calibration constant written in its unit (a plain number when dimensionless)."""
    bounds = CALIBRATION_CONSTANTS.get(name)
    if bounds is None or bounds.dimension == "dimensionless":
        return value
    return format_quantity(value, bounds.dimension)


def _strip_sources(node: Any) -> Any:
    """``node`` with every ``{value, source}`` leaf replaced by its value."""
    if isinstance(node, Mapping):
        if "value" in node and "source" in node and len(node) == 2:
            return _strip_sources(node["value"])
        return {k: _strip_sources(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strip_sources(v) for v in node]
    return node
