"""What a sweep optimises and constrains: objectives (a registry), constraints, and the
metrics of one run and of one design point.

Every metric is an SI float whose unit is in its column name (``latency_s``,
``energy_j``, ``area_mm2``). A design point runs one or more workloads, each with a
weight; its metrics are the weighted sums of the additive quantities (time, energy,
FLOPs, tokens) and the ratios of those sums (power = energy / time, tokens/s =
tokens / time), so a point's figures are those of running the weighted mix.

Objectives that depend only on the target (``area``, ``static_power``) are
``target_only``: a constraint on them is checked before simulating, and a point that
breaks it is *pruned* (never simulated).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnsim.hwconfigs.units import QuantityError, parse_quantity
from attnsim.registry import Registry
from attnsim.sweep.errors import SweepError

__all__ = [
    "Objective",
    "OBJECTIVES",
    "Constraint",
    "parse_constraint",
    "point_metrics",
    "ADDITIVE",
]


@dataclass(frozen=True)
class Objective:
    """One figure of merit.

    Attributes:
        name: what a spec writes (``latency``).
        column: the metric column holding it, unit in the name (``latency_s``).
        unit: the unit shown in reports (``s``).
        direction: ``"minimize"`` or ``"maximize"`` (the default for this objective).
        dimension: the hwconfigs unit dimension a constraint bound is written in
            (``"time"`` for ``latency <= 10 ms``); ``"dimensionless"`` for plain numbers.
        target_only: depends only on the target (checked before simulating).
        doc: one line for ``--help`` and docs.
    """

    name: str
    column: str
    unit: str
    direction: str
    dimension: str
    target_only: bool
    doc: str

    def parse_bound(self, text: str) -> float:
        """The SI value of a constraint bound (``"400 mm2"`` -> 400.0); ``ValueError``
        with a finished message when the unit does not fit this objective."""
        t = text.strip()
        if self.dimension == "dimensionless":
            t = re.sub(r"\s*(tokens?/s|tokens?/J|FLOP/J|FLOP/s/mm2|J\s*s)$", "", t)
        try:
            return parse_quantity(
                t if self.dimension != "dimensionless" else _plain(t), self.dimension
            )
        except QuantityError as exc:
            raise ValueError(f"{exc.what} for {self.name}; {exc.expected}") from None


def _plain(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


OBJECTIVES: Registry[Objective] = Registry("objective", SweepError)
for _o in (
    Objective(
        "latency",
        "latency_s",
        "s",
        "minimize",
        "time",
        False,
        "end-to-end time of the weighted workloads",
    ),
    Objective(
        "tokens_per_s",
        "tokens_per_s",
        "tokens/s",
        "maximize",
        "dimensionless",
        False,
        "tokens processed per second",
    ),
    Objective(
        "throughput",
        "throughput_flop_per_s",
        "FLOP/s",
        "maximize",
        "throughput",
        False,
        "useful FLOP/s achieved",
    ),
    Objective(
        "energy",
        "energy_j",
        "J",
        "minimize",
        "energy",
        False,
        "energy of the weighted workloads (compute + memory + static)",
    ),
    Objective(
        "power",
        "power_w",
        "W",
        "minimize",
        "power",
        False,
        "average power while running (energy / time)",
    ),
    Objective(
        "area", "area_mm2", "mm²", "minimize", "area", True, "modelled die area of the design"
    ),
    Objective(
        "static_power",
        "static_power_w",
        "W",
        "minimize",
        "power",
        True,
        "leakage of the design (engines, memories, rest of chip)",
    ),
    Objective("edp", "edp_j_s", "J·s", "minimize", "dimensionless", False, "energy-delay product"),
    Objective(
        "perf_per_w",
        "perf_per_w_flop_per_j",
        "FLOP/J",
        "maximize",
        "dimensionless",
        False,
        "useful FLOP/s per watt (= FLOP per joule)",
    ),
    Objective(
        "perf_per_mm2",
        "perf_per_mm2_flop_per_s_mm2",
        "FLOP/s/mm²",
        "maximize",
        "dimensionless",
        False,
        "useful FLOP/s per mm² of die",
    ),
    Objective(
        "tokens_per_j",
        "tokens_per_j",
        "tokens/J",
        "maximize",
        "dimensionless",
        False,
        "tokens per joule",
    ),
    Objective(
        "die_power",
        "die_power_w",
        "W",
        "minimize",
        "power",
        False,
        "average power of the die alone (off-chip memory's energy excluded): what an edge "
        "accelerator's power budget bounds",
    ),
    Objective(
        "fom",
        "fom_tops_per_mm2_w",
        "TOPS/mm²/W",
        "maximize",
        "dimensionless",
        False,
        "peak TOPS (a MAC = 2 ops) per mm² of die per W of die power",
    ),
):
    OBJECTIVES.register(_o.name, _o)

_OPS = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``objective op bound`` (``area <= 400 mm2``), the bound in SI units."""

    text: str
    objective: Objective
    op: str
    bound: float

    @property
    def target_only(self) -> bool:
        """Checked before simulating (depends only on the target)."""
        return self.objective.target_only

    def holds(self, value: float | None) -> bool:
        """True when ``value`` satisfies the constraint (None/NaN never does)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return bool(_OPS[self.op](value, self.bound))

    def violation(self, value: float | None) -> float:
        """How far ``value`` is past the bound, relative to it (<= 0 when it holds): the
        constraint value optuna's samplers read."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return 1.0
        scale = abs(self.bound) or 1.0
        if self.op in ("<=", "<"):
            return (value - self.bound) / scale
        return (self.bound - value) / scale

    def reason(self, value: float | None) -> str:
        """One line saying how the constraint is broken."""
        shown = "unknown" if value is None else f"{value:.4g} {self.objective.unit}"
        return f"{self.objective.name} {shown} breaks '{self.text}'"


def parse_constraint(text: object, where: str) -> Constraint:
    """A constraint from its text; :class:`SweepError` naming ``where`` otherwise."""
    if not isinstance(text, str):
        raise SweepError(
            f"{where}: {text!r} is not text; expected a constraint such as 'area <= 400 mm2'"
        )
    m = _CONSTRAINT.match(text)
    if m is None:
        raise SweepError(
            f"{where}: {text!r} is not a constraint; expected 'OBJECTIVE <= BOUND' or '>=', "
            "such as 'area <= 400 mm2' or 'power <= 700 W'"
        )
    name, op, bound_text = m.groups()
    objective = OBJECTIVES.lookup(name, where=where)
    try:
        bound = objective.parse_bound(bound_text)
    except ValueError as exc:
        raise SweepError(f"{where}: {exc}") from None
    return Constraint(text.strip(), objective, op, bound)


#: Metrics that add up over the weighted workloads of a point.
ADDITIVE = (
    "latency_s",
    "energy_j",
    "energy_compute_j",
    "energy_memory_j",
    "energy_static_j",
    "energy_die_j",
    "flops",
    "tokens",
)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def derived(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Ratios and products of the additive metrics and the area (for one run or a
    point): tokens/s, FLOP/s, power, EDP, FLOP/J, FLOP/s/mm², tokens/J, die power, FOM."""
    t = float(metrics.get("latency_s", math.nan))
    e = float(metrics.get("energy_j", math.nan))
    f = float(metrics.get("flops", math.nan))
    tok = metrics.get("tokens")
    area = metrics.get("area_mm2")
    tok_f = (
        float(tok)
        if tok is not None and not (isinstance(tok, float) and math.isnan(tok))
        else math.nan
    )
    thr = _ratio(f, t)
    return {
        "tokens_per_s": _ratio(tok_f, t),
        "throughput_flop_per_s": thr,
        "power_w": _ratio(e, t),
        "edp_j_s": e * t,
        "perf_per_w_flop_per_j": _ratio(f, e),
        "perf_per_mm2_flop_per_s_mm2": _ratio(thr, float(area)) if area else math.nan,
        "tokens_per_j": _ratio(tok_f, e),
        **_die_figures(metrics, t, area),
    }


def _die_figures(metrics: Mapping[str, Any], t: float, area: Any) -> dict[str, float]:
    """Die power (die energy over time: off-chip memory's energy excluded) and the FOM
    (peak TOPS per mm² per W of die power, the peak as the target's own FOM convention
    counts it when it states one); nothing without a die energy."""
    if "energy_die_j" not in metrics:
        return {}
    die_w = _ratio(float(metrics["energy_die_j"]), t)
    peak = float(metrics.get("fom_peak_ops_per_s", math.nan))
    if not peak > 0:
        peak = float(metrics.get("peak_ops_per_s", math.nan))
    fom = peak / 1e12 / float(area) / die_w if area and die_w > 0 else math.nan
    return {"die_power_w": die_w, "fom_tops_per_mm2_w": fom}


def point_metrics(rows: Sequence[Mapping[str, Any]], weights: Sequence[float]) -> dict[str, float]:
    """The metrics of a design point from its runs (one per workload) and the workloads'
    weights: weighted sums of :data:`ADDITIVE`, target figures from the first row, and
    the derived ratios of the sums."""
    out: dict[str, float] = {}
    for col in ADDITIVE:
        total = 0.0
        for row, w in zip(rows, weights, strict=True):
            v = row.get(col)
            total += w * (float(v) if v is not None else math.nan)
        out[col] = total
    for col in ("area_mm2", "static_power_w", "peak_ops_per_s", "fom_peak_ops_per_s"):
        v = rows[0].get(col) if rows else None
        out[col] = float(v) if v is not None else math.nan
    out.update(derived(out))
    return out
