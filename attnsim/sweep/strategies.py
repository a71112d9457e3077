"""How a sweep chooses points: every strategy behind one ask/tell interface.

* ``grid`` -- every point, first axis slowest;
* ``random`` -- ``budget`` distinct points drawn uniformly with ``seed``;
* ``sobol`` / ``lhs`` -- ``budget`` quasi-random points (``scipy.stats.qmc`` Sobol
  sequence or Latin hypercube, scrambled with ``seed``) mapped onto the axes' values;
  repeats (several samples landing on one grid point) are asked once;
* ``optuna`` -- multi-objective search (``sampler: nsga2`` or ``tpe``) over ``budget``
  trials, with the spec's constraints passed to the sampler.

A strategy is *adaptive* when it needs the outcome of earlier points before it can
propose more (optuna); the runner then asks a batch of ``batch`` points, waits for all,
and tells them in the order they were asked, so the points chosen depend only on the
seed and the batch size, never on the number of workers or on which finishes first.

A new strategy is one class plus one ``STRATEGIES.register`` line.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from attnsim.registry import Registry
from attnsim.sweep.errors import SweepError
from attnsim.sweep.objectives import Constraint, Objective
from attnsim.sweep.space import DesignSpace, Point
from attnsim.sweep.spec import Dimension, StrategySpec

__all__ = ["Candidate", "Outcome", "Strategy", "STRATEGIES"]

#: Default points per batch of an adaptive strategy (and NSGA-II's population).
DEFAULT_BATCH = 8


@dataclass(frozen=True)
class Candidate:
    """A point a strategy asks for; ``order`` is its position in the ask sequence."""

    order: int
    point: Point
    trial: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Outcome:
    """What became of a candidate, as the strategy sees it.

    ``status``: ``ok``, ``infeasible`` (simulated, but breaks a constraint or does not
    fit), ``pruned`` (breaks a target-only constraint; not simulated), or a failure
    (``invalid``, ``failed``, ``timeout``). ``metrics``: the point's metrics (SI, by
    column) when simulated. ``violations``: one value per spec constraint, <= 0 when
    it holds.
    """

    status: str
    metrics: dict[str, float] | None
    violations: tuple[float, ...] = ()


class Strategy(ABC):
    """Chooses points: :meth:`ask` for more, :meth:`tell` what came of them."""

    adaptive: ClassVar[bool] = False

    def __init__(
        self,
        spec: StrategySpec,
        space: DesignSpace,
        objectives: Sequence[tuple[Objective, str]],
        constraints: Sequence[Constraint],
    ) -> None:
        self.spec = spec
        self.space = space
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)

    @classmethod
    def check(cls, spec: StrategySpec, dims: Sequence[Dimension]) -> list[str]:
        """Problem lines of ``spec`` for this strategy (``[]`` when it is fine)."""
        return []

    @property
    def batch(self) -> int:
        """Points asked at once by an adaptive strategy."""
        return self.spec.batch or DEFAULT_BATCH

    @abstractmethod
    def total(self) -> int:
        """Most points this strategy will ask."""

    @abstractmethod
    def ask(self, n: int) -> list[Candidate]:
        """Up to ``n`` more candidates; ``[]`` when the strategy is done."""

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:  # noqa: B027
        """What came of ``candidate`` (non-adaptive strategies ignore it)."""


def _budget_problems(spec: StrategySpec, name: str) -> list[str]:
    if spec.budget is None:
        return [f"budget: missing; expected the number of points {name} tries (budget: 100)"]
    if spec.budget < 1:
        return [f"budget: {spec.budget}; expected at least 1 point"]
    return []


class _ListStrategy(Strategy):
    """A strategy whose points are known up front (a list of grid indices)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._indices = self._choose()
        self._next = 0

    @abstractmethod
    def _choose(self) -> list[int]: ...

    def total(self) -> int:
        return len(self._indices)

    def ask(self, n: int) -> list[Candidate]:
        out = []
        while n > 0 and self._next < len(self._indices):
            out.append(Candidate(self._next, self.space.from_grid_index(self._indices[self._next])))
            self._next += 1
            n -= 1
        return out


class GridStrategy(_ListStrategy):
    """Every point of the grid, first axis slowest."""

    @classmethod
    def check(cls, spec: StrategySpec, dims: Sequence[Dimension]) -> list[str]:
        out = []
        if spec.budget is not None:
            out.append(
                "budget: not used by the grid (it runs every point); expected no budget, or kind random/sobol/lhs/optuna"
            )
        if spec.sampler is not None:
            out.append("sampler: only for kind optuna")
        return out

    def _choose(self) -> list[int]:
        return list(range(self.space.size))


class RandomStrategy(_ListStrategy):
    """``budget`` distinct grid points, uniformly at random (numpy, ``seed``)."""

    @classmethod
    def check(cls, spec: StrategySpec, dims: Sequence[Dimension]) -> list[str]:
        return _budget_problems(spec, "random") + (
            ["sampler: only for kind optuna"] if spec.sampler else []
        )

    def _choose(self) -> list[int]:
        assert self.spec.budget is not None
        rng = np.random.default_rng(self.spec.seed)
        n = min(self.spec.budget, self.space.size)
        return [int(i) for i in rng.choice(self.space.size, size=n, replace=False)]


class _QmcStrategy(_ListStrategy):
    """Quasi-random points on the unit cube, one coordinate per dimension, mapped to
    the dimension's values (``floor(u * size)``); repeats are dropped, order kept."""

    @classmethod
    def check(cls, spec: StrategySpec, dims: Sequence[Dimension]) -> list[str]:
        out = _budget_problems(spec, "a quasi-random strategy")
        if not dims:
            out.append(
                "kind: a quasi-random strategy needs at least one axis; expected axes or kind grid"
            )
        if spec.sampler is not None:
            out.append("sampler: only for kind optuna")
        return out

    @abstractmethod
    def _engine(self, d: int) -> Any: ...

    def _choose(self) -> list[int]:
        assert self.spec.budget is not None
        d = len(self.space.sizes)
        u = self._engine(d).random(self.spec.budget)
        seen: dict[int, None] = {}
        sizes = np.asarray(self.space.sizes)
        idx = np.minimum((u * sizes).astype(np.int64), sizes - 1)
        for row in idx:
            seen.setdefault(self.space.grid_index(Point(tuple(int(i) for i in row))), None)
        return list(seen)


class SobolStrategy(_QmcStrategy):
    """A scrambled Sobol sequence (``scipy.stats.qmc.Sobol``); a budget that is a power
    of two keeps its balance properties."""

    def _engine(self, d: int) -> Any:
        import warnings

        from scipy.stats import qmc

        warnings.filterwarnings("ignore", message=".*balance properties.*")
        return qmc.Sobol(d, scramble=True, rng=np.random.default_rng(self.spec.seed))


class LatinHypercubeStrategy(_QmcStrategy):
    """A Latin hypercube (``scipy.stats.qmc.LatinHypercube``): each dimension's range is
    cut into ``budget`` strata, each hit once."""

    def _engine(self, d: int) -> Any:
        from scipy.stats import qmc

        return qmc.LatinHypercube(d, rng=np.random.default_rng(self.spec.seed))


_SAMPLERS = ("nsga2", "tpe")


class OptunaStrategy(Strategy):
    """Multi-objective search with optuna (NSGA-II or TPE), the spec's objectives and
    directions, and its constraints handed to the sampler (a point that breaks one is
    never preferred to one that does not).

    Each dimension is an integer parameter (the index of its value), so the samplers
    see the values' order. A point that failed is told as a failed trial; one pruned
    before simulation is told with the worst values and its constraint violations. A
    point optuna proposes again is told the known values without a new row.
    """

    adaptive = True

    @classmethod
    def check(cls, spec: StrategySpec, dims: Sequence[Dimension]) -> list[str]:
        out = _budget_problems(spec, "optuna")
        if spec.sampler is not None and spec.sampler not in _SAMPLERS:
            out.append(
                f"sampler: unknown sampler {spec.sampler!r}; expected one of {', '.join(_SAMPLERS)}"
            )
        if spec.batch is not None and spec.batch < 2:
            out.append(f"batch: {spec.batch}; expected at least 2 points per batch")
        if not dims:
            out.append("kind: optuna needs at least one axis to search; expected axes or kind grid")
        return out

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        sampler_name = self.spec.sampler or "nsga2"

        def constraints(trial: Any) -> Sequence[float]:
            return trial.user_attrs.get("constraints", [1.0] * max(1, len(self.constraints)))

        # optuna >= 5 records constraints on the trial; older versions read them through
        # a constraints_func
        self._per_trial = hasattr(optuna.trial.Trial, "set_constraint")
        cf = constraints if self.constraints and not self._per_trial else None
        if sampler_name == "nsga2":
            sampler: Any = optuna.samplers.NSGAIISampler(
                population_size=self.batch, seed=self.spec.seed, constraints_func=cf
            )
        else:
            sampler = optuna.samplers.TPESampler(
                seed=self.spec.seed,
                constraints_func=cf,
                multivariate=True,
                n_startup_trials=self.batch,
            )
        self._study = optuna.create_study(
            directions=[d for _, d in self.objectives],  # type: ignore[misc]
            sampler=sampler,
        )
        self._dists: dict[str, Any] = {
            self.space.label(i): optuna.distributions.IntDistribution(0, size - 1)
            for i, size in enumerate(self.space.sizes)
        }
        self._asked = 0
        self._points = 0
        self._known: dict[tuple[int, ...], Outcome] = {}

    def total(self) -> int:
        assert self.spec.budget is not None
        return self.spec.budget

    def ask(self, n: int) -> list[Candidate]:
        assert self.spec.budget is not None
        out: list[Candidate] = []
        while len(out) < n and self._asked < self.spec.budget:
            trial = self._study.ask(self._dists)
            self._asked += 1
            point = Point(tuple(int(trial.params[k]) for k in self._dists))
            if point.indices in self._known:
                self._tell(trial, self._known[point.indices])
                continue
            if any(c.point == point for c in out):
                # asked twice in one batch: told when the first one is
                out.append(Candidate(-1, point, trial))
                continue
            out.append(Candidate(self._points, point, trial))
            self._points += 1
        return out

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        self._known[candidate.point.indices] = outcome
        self._tell(candidate.trial, outcome)

    def _tell(self, trial: Any, outcome: Outcome) -> None:
        TrialState = self._optuna.trial.TrialState
        if self.constraints:
            violations = list(outcome.violations) or [1.0] * len(self.constraints)
            if self._per_trial:
                for c, v in zip(self.constraints, violations, strict=True):
                    trial.set_constraint(c.text, float(v))
            else:
                trial.set_user_attr("constraints", violations)
        worst = [math.inf if d == "minimize" else -math.inf for _, d in self.objectives]
        if outcome.status == "pruned" or (
            outcome.status == "infeasible" and outcome.metrics is None
        ):
            self._study.tell(trial, worst)
            return
        if outcome.status not in ("ok", "infeasible") or outcome.metrics is None:
            self._study.tell(trial, state=TrialState.FAIL)
            return
        values = [outcome.metrics.get(o.column, math.nan) for o, _ in self.objectives]
        if any(not math.isfinite(v) for v in values):
            self._study.tell(trial, state=TrialState.FAIL)
            return
        self._study.tell(trial, values)


STRATEGIES: Registry[type[Strategy]] = Registry("sweep strategy", SweepError)
STRATEGIES.register("grid", GridStrategy)
STRATEGIES.register("random", RandomStrategy)
STRATEGIES.register("sobol", SobolStrategy)
STRATEGIES.register("lhs", LatinHypercubeStrategy)
STRATEGIES.register("optuna", OptunaStrategy)
