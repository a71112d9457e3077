"""Engines whose cost comes from a unit model: the bridge from a target's YAML ``params``
to :mod:`rtl_models`.

An engine names its unit model in ``params.model`` (any name registered in
``rtl_models.UNIT_MODELS``: ``ternary_mac_array``, ``booth_array``, ``softmax_unit``,
``lop_pruner``, ...); the rest of its ``params`` configure it:

* a key that is a field of the model's parameter dataclass sets that field (``rows``,
  ``cols``, ``acc_depth``, ``keep``, ...); ``a_distribution: "gaussian 38.1"`` sets an
  operand distribution (kind and scale in LSB);
* ``mode`` is the model's default mode;
* ``energy_<event>`` (the event name with ``.`` written ``_``: ``energy_tint_add``) is the
  energy of one activity event, a text with a unit (``"0.012 pJ"``), each with a source;
* ``area_<component>`` (``area_tint_lane``) and ``area_overhead`` price the model's
  components, ``leakage_density`` its leakage per mm²; the loader turns them into the
  engine's area and static power (:mod:`hwconfigs.derived`);
* keys a lowering family declares for itself (``extra_keys``) are kept for it.

Anything else is refused with the accepted keys. A new unit is one module in
``rtl_models`` plus its registration; no simulator code changes (the family that uses
it finds engines by model name, :func:`engines_with_model`).

A tile's seconds are the model's cycles at the engine's clock; its dynamic energy is the
model's activity counts times the YAML's energy per event (an event without an energy is
an error naming the parameter to add); its port bytes are charged by the family at the
memory level each port reads or writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from attnsim.hwconfigs.model import Hardware
from attnsim.hwconfigs.units import QuantityError, parse_quantity
from attnsim.rtl_models import UNIT_MODELS, Int8Distribution, RtlModelError, TileShape, UnitCost
from attnsim.rtl_models.unit import UnitModel, UnitParams
from attnsim.sim.lowering.target import LoweringError, TargetView

__all__ = ["UnitBinding", "bind_unit", "engines_with_model", "event_param"]

#: Keys every unit-model engine may give besides its model's fields.
COMMON_KEYS = ("model", "mode")


def event_param(event: str) -> str:
    """The ``params`` key holding the energy of ``event`` (``tint.add`` -> ``energy_tint_add``)."""
    return "energy_" + event.replace(".", "_")


@dataclass(frozen=True)
class UnitBinding:
    """One engine of a target bound to its unit model.

    Attributes:
        engine: the engine's name in the target.
        clock_hz: its clock.
        model: the unit model.
        params: the model's parameters built from the YAML.
        mode: the default mode (None: the model's first).
        per_event_j: event -> joules, from the YAML.
        extra: the family's own keys, as written.
        where: ``"TARGET: engines.NAME.params"`` for messages.
    """

    engine: str
    clock_hz: float
    model: UnitModel
    params: UnitParams
    mode: str | None
    per_event_j: Mapping[str, float]
    extra: Mapping[str, Any]
    where: str

    def cost(self, tile: TileShape, mode: str | None = None) -> UnitCost:
        """The model's cost of one tile (cached by the model)."""
        try:
            return self.model.tile_cost(self.params, tile, mode or self.mode)
        except RtlModelError as exc:
            raise LoweringError([f"{self.where}: {p}" for p in exc.problems]) from exc

    def seconds(self, cost: UnitCost) -> float:
        """Seconds the engine is busy for ``cost``."""
        return cost.cycles / self.clock_hz

    def energy_j(self, cost: UnitCost) -> float:
        """Dynamic joules of ``cost`` (every event needs its ``energy_<event>`` param)."""
        missing = sorted(e for e, n in cost.events.items() if n and e not in self.per_event_j)
        if missing:
            raise LoweringError(
                f"{self.where}: no energy for event(s) {', '.join(missing)}; expected "
                + ", ".join(f"{event_param(e)}: '<energy> pJ'" for e in missing)
                + " (each with a source)"
            )
        return cost.energy_j(self.per_event_j)


def _distribution(text: object, where: str) -> Int8Distribution:
    parts = str(text).split()
    try:
        if len(parts) != 2:
            raise ValueError
        return Int8Distribution(parts[0], float(parts[1]))  # type: ignore[arg-type]
    except (ValueError, RtlModelError) as exc:
        raise LoweringError(
            f"{where}.a_distribution: {text!r} is not a distribution; expected "
            "'KIND SCALE' with KIND gaussian, laplace or uniform and SCALE in LSB, "
            "such as 'gaussian 38.1'"
        ) from exc


@cache
def _bind(hw: Hardware, engine: str, extra_keys: tuple[str, ...]) -> UnitBinding:
    e = hw.engines[engine]
    where = f"{hw.name}: engines.{engine}.params"
    raw = dict(e.params)
    name = raw.get("model")
    if not isinstance(name, str):
        raise LoweringError(
            f"{where}.model: missing; expected the name of a unit model, one of "
            f"{', '.join(UNIT_MODELS)}"
        )
    try:
        model = UNIT_MODELS.lookup(name, where=f"{where}.model")
    except RtlModelError as exc:
        raise LoweringError(exc.problems) from exc
    base = model.default_params()
    fields = {f.name for f in dataclasses.fields(base)}
    values: dict[str, Any] = {}
    per_event: dict[str, float] = {}
    extra: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        if key in COMMON_KEYS:
            continue
        if key in extra_keys:
            extra[key] = value
        elif key.startswith("area_") or key == "leakage_density":
            continue  # priced by the loader (hwconfigs.derived): the engine's area, leakage
        elif key.startswith("energy_"):
            try:
                per_event[key] = parse_quantity(value, "energy_per_op")
            except QuantityError as exc:
                problems.append(f"{where}.{key}: {exc.what}; {exc.expected}")
        elif key == "a_distribution" and key in fields:
            values[key] = _distribution(value, where)
        elif key in fields:
            values[key] = value
        else:
            accepted = sorted(fields | set(COMMON_KEYS) | set(extra_keys)) + [
                "energy_<event>",
                "area_<component>",
                "leakage_density",
            ]
            problems.append(
                f"{where}.{key}: unknown parameter of unit model {name!r}; expected one of "
                f"{', '.join(accepted)}"
            )
    if problems:
        raise LoweringError(problems)
    try:
        params = dataclasses.replace(base, **values)
    except RtlModelError as exc:
        raise LoweringError([f"{where}: {p}" for p in exc.problems]) from exc
    mode = raw.get("mode")
    if mode is not None:
        if mode not in model.modes:
            raise LoweringError(
                f"{where}.mode: unknown mode {mode!r}; expected one of {', '.join(model.modes)}"
            )
    # event names as the model spells them: "energy_tint_add" -> "tint.add"
    per_event_j: dict[str, float] = {}
    for key, joules in per_event.items():
        stem = key[len("energy_") :]
        head, _, tail = stem.partition("_")
        per_event_j[f"{head}.{tail}" if tail else head] = joules
    return UnitBinding(
        engine=engine,
        clock_hz=e.clock_hz,
        model=model,
        params=params,
        mode=mode if isinstance(mode, str) else None,
        per_event_j=per_event_j,
        extra=extra,
        where=where,
    )


def bind_unit(view: TargetView, engine: str, *, extra_keys: Iterable[str] = ()) -> UnitBinding:
    """The unit model of ``engine`` configured from its ``params`` (cached per target)."""
    view.engine(engine)  # a clear error if there is no such engine
    return _bind(view.hw, engine, tuple(sorted(extra_keys)))


def engines_with_model(view: TargetView, model: str) -> list[str]:
    """Engines of the target whose ``params.model`` is ``model``, in YAML order."""
    return [n for n, e in view.hw.engines.items() if e.params.get("model") == model]
