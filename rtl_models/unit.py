"""The one interface the simulator calls: a unit model turns (params, tile, mode) into a
:class:`~attnsim.rtl_models.cost.UnitCost`, cached, and the registry that names them.

A unit model is one module with a frozen ``UnitParams`` dataclass (the unit's
configuration: rows, columns, pipeline depth, operand statistics), a ``UnitModelBase``
subclass and one ``UNIT_MODELS.register(...)`` line. ``tile_cost`` is cached by
``(params, tile, mode)``: identical tiles cost one computation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from attnsim.registry import Registry

from .cost import RtlModelError, TileShape, UnitCost

__all__ = ["UnitParams", "UnitModel", "UnitModelBase", "UNIT_MODELS", "TILE_COST_CACHE_SIZE"]

#: Distinct (params, tile, mode) costs each unit model keeps (least recently used go).
TILE_COST_CACHE_SIZE = 65536


@dataclass(frozen=True)
class UnitParams:
    """Base of every unit's configuration (a frozen, hashable dataclass; each subclass
    checks its fields in ``__post_init__`` and raises :class:`RtlModelError`)."""


P = TypeVar("P", bound=UnitParams)


@runtime_checkable
class UnitModel(Protocol):
    """What the simulator may call on any unit model."""

    @property
    def name(self) -> str:
        """The registered name ("ternary_mac_array")."""
        ...

    @property
    def modes(self) -> tuple[str, ...]:
        """Modes the unit runs; the first is the default."""
        ...

    def default_params(self) -> UnitParams:
        """The unit's configuration with every field at its documented default."""
        ...

    def tile_cost(self, params: Any, tile: TileShape, mode: str | None = None) -> UnitCost:
        """Cost of one tile (cached by params, tile and mode); ``mode=None`` is the
        unit's first mode."""
        ...

    def peak_ops_per_cycle(self, params: Any) -> dict[tuple[str, str], float]:
        """(op class, precision) -> the most operations of that kind the unit completes
        in one cycle in any mode (a MAC counts 2): the datapath's peak, which no tile's
        ``ops / cycles`` exceeds. A target's ``ops_per_cycle`` for these entries is
        derived from it (:mod:`hwconfigs.derived`)."""
        ...

    def components(self, params: Any) -> dict[str, float]:
        """Component -> how many the unit has at ``params`` ("tint.lane": rows x cols
        adder lanes, "tint.acc_bit": accumulator flip-flops, ...): the inventory a target
        prices with an area per component (``area_<component>`` params) so that the
        engine's area follows its size. Empty: the unit gives none (state ``area:``)."""
        ...


class UnitModelBase(Generic[P]):
    """Checks arguments, resolves the default mode and caches :meth:`_cost`."""

    name: ClassVar[str]
    modes: ClassVar[tuple[str, ...]]
    params_type: ClassVar[type[UnitParams]]

    def __init__(self) -> None:
        self._cached = functools.lru_cache(maxsize=TILE_COST_CACHE_SIZE)(self._cost)

    def default_params(self) -> P:
        """The unit's configuration with every field at its documented default."""
        return self.params_type()  # type: ignore[return-value]

    def resolve_mode(self, mode: str | None) -> str:
        """``mode`` checked against :attr:`modes` (``None`` = the first)."""
        if mode is None:
            return self.modes[0]
        if mode not in self.modes:
            raise RtlModelError(
                f"rtl_models: {self.name}.mode: unknown mode {mode!r}; "
                f"expected one of {', '.join(self.modes)}"
            )
        return mode

    def tile_cost(self, params: P, tile: TileShape, mode: str | None = None) -> UnitCost:
        """Cost of one tile on this unit (cached by ``(params, tile, mode)``)."""
        if not isinstance(params, self.params_type):
            raise RtlModelError(
                f"rtl_models: {self.name}.params: got {type(params).__name__}; "
                f"expected {self.params_type.__name__}"
            )
        if not isinstance(tile, TileShape):
            raise RtlModelError(
                f"rtl_models: {self.name}.tile: got {type(tile).__name__}; expected TileShape"
            )
        return self._cached(params, tile, self.resolve_mode(mode))

    def peak_ops_per_cycle(self, params: P) -> dict[tuple[str, str], float]:
        """See :meth:`UnitModel.peak_ops_per_cycle`."""
        raise NotImplementedError

    def components(self, params: P) -> dict[str, float]:
        """See :meth:`UnitModel.components` (default: no inventory)."""
        return {}

    def cache_info(self) -> Any:
        """Hits and misses of the tile-cost cache (``functools`` cache info)."""
        return self._cached.cache_info()

    def _cost(self, params: P, tile: TileShape, mode: str) -> UnitCost:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<unit model {self.name!r} modes={self.modes}>"


#: Registered unit models by name ("ternary_mac_array", "booth_array", "softmax_unit",
#: "lop_pruner"); a new unit is one module plus one ``UNIT_MODELS.register`` line.
UNIT_MODELS: Registry[UnitModel] = Registry("unit model", RtlModelError)
