"""Bit- and cycle-accurate models of accelerator units: the ternary MAC array (TINT core),
the radix-4 Booth multiplier array (BoothFlex core, with ternary and bit-serial modes),
the exp/softmax unit and the leading-one-prediction (LOP) KV pruner.

The simulator reaches every unit through one interface (docs/INTERFACES.md):
``UNIT_MODELS.lookup(name).tile_cost(params, TileShape(m, k, n), mode) -> UnitCost``,
cached by tile shape and mode. Each unit also has a bit-exact ``*_run`` function that
computes real outputs and the exact cost for given operands. Microarchitectures,
assumptions, error bounds and sources: docs/RTL_MODELS.md.

This is the lowest layer: it imports only :mod:`attnsim.errors`, :mod:`attnsim.registry`
and numpy.

>>> from attnsim.rtl_models import UNIT_MODELS, TernaryMacParams, TileShape
>>> tint = UNIT_MODELS.lookup("ternary_mac_array")
>>> cost = tint.tile_cost(TernaryMacParams(rows=32, cols=8), TileShape(1, 3200, 3200))
>>> cost.cycles, cost.ops[("matmul", "ternary")], cost.port_bytes["weight_in"]
(40006, 20480000.0, 2048000.0)
>>> energy = {e: 0.01e-12 for e in cost.events}   # joules per event, from the target
>>> round(cost.energy_j(energy) * 1e9, 3)           # nJ
106.0
"""

from .booth import (
    BOOTH_ARRAY,
    BOOTH_MODES,
    BoothArray,
    BoothArrayParams,
    booth_array_run,
    booth_digits,
    booth_multiply,
    booth_nonzero_digits,
    expected_serial_step_cycles,
)
from .cost import RtlModelError, TileShape, UnitCost
from .distributions import Int8Distribution, absmax_gaussian_sigma
from .lop import (
    LOP_PRUNER,
    LopFetchStats,
    LopParams,
    LopPruner,
    LopResult,
    QKDistribution,
    lo_plane_bytes,
    lop_fetch_stats,
    lop_run,
)
from .softmax_unit import (
    SOFTMAX_UNIT,
    SoftmaxParams,
    SoftmaxResult,
    SoftmaxUnit,
    exp_relative_error,
    softmax_error_bound,
    softmax_run,
)
from .ternary_mac import (
    TERNARY_MAC_ARRAY,
    TernaryColumnModel,
    TernaryMacArray,
    TernaryMacParams,
    absmean_zero_fraction,
    ternary_mac_run,
)
from .unit import UNIT_MODELS, UnitModel, UnitModelBase, UnitParams

__all__ = [
    "BOOTH_ARRAY",
    "BOOTH_MODES",
    "BoothArray",
    "BoothArrayParams",
    "Int8Distribution",
    "LOP_PRUNER",
    "LopFetchStats",
    "LopParams",
    "LopPruner",
    "LopResult",
    "QKDistribution",
    "RtlModelError",
    "SOFTMAX_UNIT",
    "SoftmaxParams",
    "SoftmaxResult",
    "SoftmaxUnit",
    "TERNARY_MAC_ARRAY",
    "TernaryColumnModel",
    "TernaryMacArray",
    "TernaryMacParams",
    "TileShape",
    "UNIT_MODELS",
    "UnitCost",
    "UnitModel",
    "UnitModelBase",
    "UnitParams",
    "absmax_gaussian_sigma",
    "absmean_zero_fraction",
    "booth_array_run",
    "booth_digits",
    "booth_multiply",
    "booth_nonzero_digits",
    "expected_serial_step_cycles",
    "exp_relative_error",
    "lo_plane_bytes",
    "lop_fetch_stats",
    "lop_run",
    "softmax_error_bound",
    "softmax_run",
    "ternary_mac_run",
]
