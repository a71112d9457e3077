"""The built hardware description: frozen dataclasses holding SI floats.

Units are in the field names (``capacity_bytes``, ``clock_hz``) or stated in the docstring.
Nothing here reads or writes files: :mod:`hwconfigs.loader` builds these objects and
``Hardware.to_dict`` gives back a plain dict that the loader reads again to an equal object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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


@dataclass(frozen=True)
class Engine:
    """A group of identical compute engines (e.g. the tensor cores of every SM).

    ``unit`` names the replicated compute unit the engine lives in (``"sm"`` on a GPU);
    engines with the same unit are co-located in each of ``count`` instances.
    ``throughput[op_class][precision]`` is in ops/s for the whole group (a multiply-
    accumulate counts as 2 ops); ``clock_hz`` is the clock those rates assume.
    """

    name: str
    kind: str
    unit: str
    count: int
    clock_hz: float
    throughput: Mapping[str, Mapping[str, float]]

    def per_unit(self, op_class: str, precision: str) -> float:
        """Ops/s of one instance for ``op_class``/``precision`` (0.0 if it cannot run it)."""
        return self.throughput.get(op_class, {}).get(precision, 0.0) / self.count

    def precisions(self, op_class: str) -> tuple[str, ...]:
        """Precisions this engine runs ``op_class`` in, as listed."""
        return tuple(self.throughput.get(op_class, {}))


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
    """Energy per op (J/op, by op class then precision), static power and TDP (W)."""

    op_energy_j: Mapping[str, Mapping[str, float]]
    static_power_w: float
    tdp_w: float | None = None


@dataclass(frozen=True)
class Area:
    """Die area in mm², with an optional breakdown (mm² by block) and process name."""

    total_mm2: float
    breakdown_mm2: Mapping[str, float]
    process: str | None = None


@dataclass(frozen=True)
class Hardware:
    """One device: engines, memory hierarchy (nearest -> farthest), energy and area.

    ``sources`` maps the dotted key path of every number in the file
    (``"engines.tensor.throughput.matmul.fp16"``) to where the number comes from.
    ``calibration`` holds named constants in SI units (e.g. ``launch_overhead`` in s).
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

    def peak(self, op_class: str, precision: str) -> float:
        """Peak ops/s for ``op_class`` in ``precision``, summed over engines (0.0 if none)."""
        return float(
            sum(e.throughput.get(op_class, {}).get(precision, 0.0) for e in self.engines.values())
        )

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
        engines: dict[str, Any] = {}
        for e in self.engines.values():
            p = f"engines.{e.name}"
            engines[e.name] = {
                "kind": e.kind,
                "unit": e.unit,
                "count": _with_source(e.count, s, f"{p}.count"),
                "clock": _with_source(format_quantity(e.clock_hz, "frequency"), s, f"{p}.clock"),
                "throughput": {
                    op: {
                        prec: _with_source(
                            format_quantity(v, "throughput"), s, f"{p}.throughput.{op}.{prec}"
                        )
                        for prec, v in precs.items()
                    }
                    for op, precs in e.throughput.items()
                },
            }
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
            area: dict[str, Any] = {
                "total": _with_source(format_quantity(self.area.total_mm2, "area"), s, "area.total")
            }
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
                k: _with_source(v, s, f"calibration.{k}") for k, v in self.calibration.items()
            }
        return out
