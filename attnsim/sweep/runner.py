"""Running a sweep: strategy -> design points -> runs on an executor -> results folder.

For each point the strategy asks for, the runner builds the variant through the target
loader (a variant it refuses is an ``invalid`` point), checks the constraints that
depend only on the target (breaking one *prunes* the point: it is never simulated),
keys each (point, workload) run by its content (:mod:`attnsim.sweep.digests`), reuses
runs already in the results folder, and hands the rest to the executor. Finished runs
are appended to the folder's log as they arrive, so a killed sweep resumes where it
stopped. The base target itself is always run as a reference point (``is_base``).

Constraints that need a simulation (``power <= 700 W``) are checked per run: a point is
feasible when every workload it runs satisfies them. They are applied when the tables
are assembled, never stored with the run, so changing a constraint re-uses every run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from attnsim.hwconfigs import Hardware, HardwareConfigError, load_hardware
from attnsim.sweep.digests import model_digest, point_key, run_key
from attnsim.sweep.executors import make_executor
from attnsim.sweep.objectives import point_metrics
from attnsim.sweep.space import DesignSpace, Point
from attnsim.sweep.spec import SweepSpec, load_spec
from attnsim.sweep.store import ResultsStore
from attnsim.sweep.strategies import STRATEGIES, Candidate, Outcome, Strategy
from attnsim.sweep.worker import RunResult, RunTask, WorkerContext, roofs_json
from attnsim.sweep.workloads import WorkloadCase, build_workloads, with_precision, workload_digest

__all__ = ["SweepRun", "run_sweep", "as_spec", "STATUS_ORDER", "base_params"]

#: Statuses from best to worst; a point takes the worst status of its runs.
STATUS_ORDER = ("ok", "infeasible", "pruned", "invalid", "timeout", "failed")

#: Most runs handed to one worker at once (fewer round trips to the workers).
CHUNK = 8

#: Run statuses stored in the log and re-used on a re-run (``failed`` and ``timeout``
#: are retried on request, see ``retry_failed``).
FINAL = ("ok", "infeasible")


@dataclass(frozen=True)
class SweepRun:
    """The outcome of :func:`run_sweep`: the tables and the summary."""

    results: pd.DataFrame
    points: pd.DataFrame
    ops: pd.DataFrame
    summary: Mapping[str, Any]
    path: Path


@dataclass
class _PointState:
    cand: Candidate
    grid_index: int
    is_base: bool
    overrides: dict[str, Any]
    precision: str | None
    params: dict[str, Any]
    hw: Hardware | None = None
    status: str | None = None  # "invalid" / "pruned" for the whole point
    reason: str = ""
    key: str = ""
    run_keys: list[str] = field(default_factory=list)
    wdigests: list[str] = field(default_factory=list)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def point_id(self) -> int:
        return self.cand.order

    def complete(self, n_workloads: int) -> bool:
        return self.status is not None or len(self.runs) == n_workloads


def as_spec(spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any]) -> SweepSpec:
    """A checked spec from a file path, a parsed mapping or a :class:`SweepSpec`."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, Mapping):
        from attnsim.sweep.spec import spec_from_dict

        return spec_from_dict(spec)
    return load_spec(spec)


def _dig(doc: Any, path: str) -> Any:
    node = doc
    for key in path.split("."):
        if isinstance(node, Mapping) and "value" in node and "source" in node:
            node = node["value"]
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if isinstance(node, Mapping) and "value" in node:
        node = node["value"]
    return node


def base_params(spec: SweepSpec, hw: Hardware) -> dict[str, Any]:
    """The base target's value of every swept key path (SI; NaN where the path is not
    written out in the target, e.g. a quoted throughput)."""
    from attnsim.sweep.quantities import si_value

    doc = hw.to_dict()
    out: dict[str, Any] = {}
    for axis in spec.axes:
        value = _dig(doc, axis.path)
        if value is None:
            out[axis.column] = math.nan if axis.numeric else ""
        else:
            out[axis.column] = si_value(value)
    return out


class _Runner:
    def __init__(
        self,
        spec: SweepSpec,
        store: ResultsStore,
        cases: tuple[WorkloadCase, ...],
        executor: str,
        workers: int | None,
        scheduler: str | None,
        progress: bool,
        retry_failed: bool,
        log: Callable[[str], None] | None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.cases = cases
        self.space = DesignSpace(spec.dimensions)
        self.strategy: Strategy = STRATEGIES[spec.strategy.kind](
            spec.strategy, self.space, spec.objectives, spec.constraints
        )
        self.model = model_digest()
        self.options = {"block_q": spec.block_q, "block_k": spec.block_k}
        self.executor = make_executor(executor, workers, scheduler)
        self.progress = progress
        self.log = log or (lambda _msg: None)
        self.done = self._load_done(retry_failed)
        self.reused_at_start = 0
        self.simulated = 0
        self.sim_wall_s = 0.0
        self.sim_cpu_s = 0.0
        self._wdigest: dict[tuple[int, str | None], str] = {}
        self._waiters: dict[str, list[tuple[_PointState, int]]] = {}
        self._queue: list[RunTask] = []
        self._in_flight: dict[Any, list[RunTask]] = {}
        self._base_hw = load_hardware(spec.base)

    def _load_done(self, retry_failed: bool) -> dict[str, dict[str, Any]]:
        done = self.store.load_runs()
        keep = {}
        for key, row in done.items():
            status = row.get("status")
            if status in FINAL:
                keep[key] = row
            elif status == "timeout":
                limit = row.get("timeout_s")
                now = self.spec.timeout_s
                # re-run a time-out only when the limit grew (or is gone)
                if not retry_failed and limit is not None and now is not None and now <= limit:
                    keep[key] = row
            elif status == "failed" and not retry_failed:
                keep[key] = row
        return keep

    # -- points --------------------------------------------------------------------------

    def _workload_digest(self, widx: int, precision: str | None) -> str:
        key = (widx, precision)
        if key not in self._wdigest:
            case = self.cases[widx]
            self._wdigest[key] = (
                case.digest
                if precision is None
                else workload_digest(with_precision(case.workload, precision))
            )
        return self._wdigest[key]

    def prepare(self, cand: Candidate, is_base: bool = False) -> _PointState:
        if is_base:
            state = _PointState(cand, -1, True, {}, None, {})
        else:
            p = cand.point
            state = _PointState(
                cand,
                self.space.grid_index(p),
                False,
                self.space.overrides(p),
                self.space.precision(p),
                self.space.params(p),
            )
        try:
            hw = (
                self._base_hw
                if is_base
                else load_hardware(
                    self.spec.base,
                    state.overrides,
                    origin=f"{self.spec.source}: point {state.grid_index}",
                )
            )
        except HardwareConfigError as exc:
            state.status = "invalid"
            lines = exc.problems
            more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
            state.reason = f"{lines[0]}{more}"
            state.key = point_key(
                f"{self.spec.base}|{sorted(state.overrides.items())!r}",
                state.precision,
                self.spec.family,
                self.options,
            )
            return state
        state.hw = hw
        if is_base:
            state.params = base_params(self.spec, hw)
        state.key = point_key(hw.digest, state.precision, self.spec.family, self.options)
        for c in self.spec.constraints:
            if c.target_only:
                value = hw.area_mm2 if c.objective.column == "area_mm2" else hw.static_power_w
                if not c.holds(value):
                    state.status = "pruned"
                    state.reason = c.reason(value)
                    return state
        for widx in range(len(self.cases)):
            wd = self._workload_digest(widx, state.precision)
            key = run_key(hw.digest, wd, self.spec.family, self.options, self.model)
            state.run_keys.append(key)
            state.wdigests.append(wd)
            if key in self.done:
                state.runs[widx] = self.done[key]
                self.reused_at_start += 1
                continue
            if key in self._waiters:
                self._waiters[key].append((state, widx))
                continue
            self._waiters[key] = [(state, widx)]
            self._queue.append(
                RunTask(
                    key,
                    hw,
                    self.cases[widx].digest,
                    state.precision,
                    self.spec.family,
                    self.spec.block_q,
                    self.spec.block_k,
                    self.spec.timeout_s,
                )
            )
        return state

    # -- execution -----------------------------------------------------------------------

    def _stored_row(self, result: RunResult, task: RunTask) -> dict[str, Any]:
        from attnsim import __version__

        row: dict[str, Any] = {
            "run_key": result.run_key,
            "hw_digest": task.hardware.digest,
            "workload_digest": self._workload_digest_of(task),
            "family": task.family or "best",
            "block_q": task.block_q,
            "block_k": task.block_k,
            "model_digest": self.model,
            "attnsim_version": __version__,
            "status": result.status,
            "reason": result.reason,
            "families_used": result.families,
            "timeout_s": result.timeout_s,
            "sim_wall_s": result.wall_s,
            "sim_cpu_s": float(result.extra.get("cpu_s", math.nan)),
            "policy": str(result.extra.get("policy", "")),
            "precision_fallbacks": str(result.extra.get("precision_fallbacks", "")),
            "roofs_json": roofs_json(result.roofs) if result.roofs else "",
        }
        row.update({k: float(v) for k, v in result.metrics.items()})
        return row

    def _workload_digest_of(self, task: RunTask) -> str:
        waiters = self._waiters.get(task.run_key) or []
        if waiters:
            state, widx = waiters[0]
            return state.wdigests[widx]
        return task.workload_digest

    def _submit_some(self, limit: int) -> None:
        """Hand out chunks of consecutive runs while fewer than ``limit`` chunks are out.
        A chunk runs on one worker (fewer round trips); chunks shrink as the queue drains
        to keep every worker busy to the end."""
        workers = self.executor.workers
        while self._queue and len(self._in_flight) < limit:
            size = max(1, min(CHUNK, len(self._queue) // (2 * workers) or 1))
            chunk, self._queue = self._queue[:size], self._queue[size:]
            self._in_flight[self.executor.submit(chunk)] = chunk

    def _collect(self, timeout: float) -> int:
        if not self._in_flight:
            return 0
        finished = self.executor.wait(list(self._in_flight), timeout=timeout)
        if not finished:
            return 0
        rows: list[dict[str, Any]] = []
        ops: list[Mapping[str, Any]] = []
        results = []
        for fut in finished:
            chunk = self._in_flight.pop(fut)
            for task, result in zip(chunk, self.executor.result(fut, chunk), strict=True):
                row = self._stored_row(result, task)
                results.append((task, row))
                rows.append(row)
                ops.extend(result.ops)
                self.simulated += 1
                self.sim_wall_s += result.wall_s
                self.sim_cpu_s += float(result.extra.get("cpu_s", 0.0))
        self.store.append(rows, ops)
        n = 0
        for task, row in results:
            for state, widx in self._waiters.pop(task.run_key, []):
                state.runs[widx] = row
                n += 1
            if row["status"] in FINAL or row["status"] in ("failed", "timeout"):
                self.done[task.run_key] = row
        return n

    # -- outcome for the strategy -------------------------------------------------------

    def outcome(self, state: _PointState) -> Outcome:
        cons = self.spec.constraints
        if state.status == "invalid":
            return Outcome("invalid", None, tuple(1.0 for _ in cons))
        if state.status == "pruned":
            assert state.hw is not None
            viol = []
            for c in cons:
                if c.target_only:
                    value = (
                        state.hw.area_mm2
                        if c.objective.column == "area_mm2"
                        else state.hw.static_power_w
                    )
                    viol.append(c.violation(value))
                else:
                    viol.append(1.0)
            return Outcome("pruned", None, tuple(viol))
        runs = [state.runs[i] for i in range(len(self.cases))]
        statuses = [r["status"] for r in runs]
        if any(s not in FINAL for s in statuses):
            worst = max(statuses, key=STATUS_ORDER.index)
            return Outcome(worst, None, tuple(1.0 for _ in cons))
        if any(s == "infeasible" for s in statuses):
            return Outcome("infeasible", None, tuple(1.0 for _ in cons))
        metrics = point_metrics(runs, [c.weight for c in self.cases])
        worst_viol = tuple(max(c.violation(r.get(c.objective.column)) for r in runs) for c in cons)
        status = "ok" if all(v <= 0 for v in worst_viol) else "infeasible"
        return Outcome(status, metrics, worst_viol)

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> tuple[list[_PointState], dict[str, Any]]:
        from tqdm import tqdm

        n_w = len(self.cases)
        total_runs = (self.strategy.total() + 1) * n_w
        bar = tqdm(
            total=total_runs,
            unit="run",
            desc=f"sweep {self.spec.name}",
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        counted: set[int] = set()
        states: list[_PointState] = []
        limit = max(2, self.executor.workers * 2)  # chunks out at once

        def tick() -> None:
            for st in states:
                if id(st) not in counted and st.complete(n_w):
                    counted.add(id(st))
                    bar.update(n_w)
            ok = sum(1 for st in states if st.complete(n_w) and st.status is None)
            bar.set_postfix_str(
                f"simulated={self.simulated} reused={self.reused_at_start} points_done={ok}",
                refresh=False,
            )

        started = time.perf_counter()
        self.executor.start(WorkerContext({c.digest: c.workload for c in self.cases}))
        try:
            base = self.prepare(Candidate(-1, Point(())), is_base=True)
            states.append(base)
            if self.strategy.adaptive:
                self._run_adaptive(states, limit, tick)
            else:
                exhausted = False
                while True:
                    while not exhausted and len(self._queue) < limit * CHUNK:
                        asked = self.strategy.ask(limit * CHUNK)
                        if not asked:
                            exhausted = True
                        states.extend(self.prepare(c) for c in asked)
                    self._submit_some(limit)
                    tick()
                    if exhausted and not self._queue and not self._in_flight:
                        break
                    self._collect(timeout=1.0)
            while self._in_flight or self._queue:
                self._submit_some(limit)
                self._collect(timeout=1.0)
            tick()
        finally:
            bar.close()
            self.executor.close()
        elapsed = time.perf_counter() - started
        return states, {"elapsed_s": elapsed}

    def _run_adaptive(
        self, states: list[_PointState], limit: int, tick: Callable[[], None]
    ) -> None:
        n_w = len(self.cases)
        by_point: dict[tuple[int, ...], _PointState] = {}
        while True:
            asked = self.strategy.ask(self.strategy.batch)
            if not asked:
                break
            batch: list[tuple[Candidate, _PointState]] = []
            for cand in asked:
                if cand.order < 0 or cand.point.indices in by_point:
                    batch.append((cand, by_point[cand.point.indices]))
                    continue
                st = self.prepare(cand)
                by_point[cand.point.indices] = st
                states.append(st)
                batch.append((cand, st))
            while not all(st.complete(n_w) for _, st in batch):
                self._submit_some(limit)
                self._collect(timeout=1.0)
                tick()
            for cand, st in batch:
                self.strategy.tell(cand, self.outcome(st))
            tick()


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_ORDER.index) if statuses else "ok"


def _assemble(
    runner: _Runner, states: list[_PointState]
) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    spec = runner.spec
    cases = runner.cases
    rows: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    run_keys: set[str] = set()
    ordered = sorted(states, key=lambda s: s.point_id)
    for st in ordered:
        head = {
            "point": st.point_id,
            "grid_index": st.grid_index,
            "is_base": st.is_base,
            "point_key": st.key,
            "precision": st.precision or "",
            **st.params,
        }
        point_rows = []
        for widx, case in enumerate(cases):
            row: dict[str, Any] = {
                **head,
                "workload": case.label,
                "workload_weight": case.weight,
                "strategy": spec.strategy.kind,
                "seed": spec.strategy.seed,
            }
            if st.status is not None:
                row.update(
                    {
                        "status": st.status,
                        "reason": st.reason,
                        "run_key": "",
                        "hw_digest": st.hw.digest if st.hw is not None else "",
                        "workload_digest": case.digest,
                        "family": spec.family or "best",
                    }
                )
                if st.hw is not None:
                    row["area_mm2"] = (
                        float(st.hw.area_mm2) if st.hw.area_mm2 is not None else math.nan
                    )
                    row["static_power_w"] = float(st.hw.static_power_w)
            else:
                run = dict(st.runs[widx])
                run_keys.add(run["run_key"])
                row.update(run)
                if row["status"] == "ok":
                    for c in spec.constraints:
                        if not c.target_only and not c.holds(row.get(c.objective.column)):
                            row["status"] = "infeasible"
                            row["reason"] = c.reason(row.get(c.objective.column))
                            break
            point_rows.append(row)
        rows.extend(point_rows)
        prow = dict(head)
        statuses = [r["status"] for r in point_rows]
        prow["status"] = _worst(statuses)
        prow["reason"] = next((r["reason"] for r in point_rows if r.get("reason")), "")
        prow["feasible"] = prow["status"] == "ok"
        if all(
            r["status"] in ("ok", "infeasible") and "latency_s" in r for r in point_rows
        ) and all(not _isnan(r.get("latency_s")) for r in point_rows):
            prow.update(point_metrics(point_rows, [c.weight for c in cases]))
        else:
            for col in ("area_mm2", "static_power_w"):
                if point_rows and col in point_rows[0]:
                    prow[col] = point_rows[0][col]
        points.append(prow)
    return pd.DataFrame(rows), pd.DataFrame(points), run_keys


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def sweep_metadata(
    spec: SweepSpec, cases: tuple[WorkloadCase, ...], base_name: str
) -> dict[str, Any]:
    """What a report needs to know about the sweep beside its tables."""
    return {
        "spec": {
            "name": spec.name,
            "description": spec.description,
            "source": spec.source,
            "base": spec.base,
            "base_name": base_name,
            "family": spec.family or "best",
            "strategy": {
                "kind": spec.strategy.kind,
                "budget": spec.strategy.budget,
                "seed": spec.strategy.seed,
                "sampler": spec.strategy.sampler,
                "batch": spec.strategy.batch,
            },
            "timeout_s": spec.timeout_s,
            "document": spec.document,
        },
        "axes": [
            {
                "path": a.path,
                "column": a.column,
                "unit": a.unit,
                "numeric": a.numeric,
                "values": list(a.values),
                "si": list(a.si),
            }
            for a in spec.axes
        ],
        "objectives": [
            {"name": o.name, "column": o.column, "unit": o.unit, "direction": d}
            for o, d in spec.objectives
        ],
        "constraints": [
            {
                "text": c.text,
                "objective": c.objective.name,
                "column": c.objective.column,
                "op": c.op,
                "bound": c.bound,
                "target_only": c.target_only,
            }
            for c in spec.constraints
        ],
        "report": {"x": spec.report_x, "y": spec.report_y},
        "workloads": [
            {
                "label": c.label,
                "weight": c.weight,
                "digest": c.digest,
                "name": c.workload.name,
                "tokens": c.workload.tokens,
                "flops": c.workload.total_flops(),
            }
            for c in cases
        ],
    }


def run_sweep(
    spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any],
    out: str | os.PathLike[str],
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    retry_failed: bool = False,
    log: Callable[[str], None] | None = None,
) -> SweepRun:
    """Run (or resume) the sweep of ``spec`` into the results folder ``out``.

    Args:
        executor: ``local`` (process pool), ``dask`` or ``serial``.
        workers: worker processes (default: the CPUs available).
        scheduler: a Dask scheduler address (``--executor dask`` only).
        progress: show a progress bar (rate and ETA) on stderr.
        retry_failed: simulate again the runs that failed or timed out before.
    """
    from attnsim import __version__

    spec = as_spec(spec)
    wall0 = time.time()
    load0 = os.getloadavg()
    store = ResultsStore.create(out)
    cases = build_workloads(spec.workloads, spec.source)
    runner = _Runner(spec, store, cases, executor, workers, scheduler, progress, retry_failed, log)
    meta = sweep_metadata(spec, cases, runner._base_hw.name)
    store.write_manifest({"state": "running", "started": wall0, **meta})
    cpu0 = time.process_time()  # the parent's own work: targets, keys, shards, tables
    states, timing = runner.run()
    results, points, run_keys = _assemble(runner, states)
    ops = store.load_ops(run_keys)
    sweep_points = points[~points["is_base"]] if len(points) else points
    elapsed = timing["elapsed_s"]
    counts = (
        {s: int((sweep_points["status"] == s).sum()) for s in STATUS_ORDER} if len(points) else {}
    )
    summary = {
        "points": int(len(sweep_points)),
        "runs": int(len(results)),
        "workloads": len(cases),
        "points_by_status": counts,
        "runs_by_status": {s: int((results["status"] == s).sum()) for s in STATUS_ORDER},
        "simulated_runs": runner.simulated,
        "reused_runs": runner.reused_at_start,
        "elapsed_s": elapsed,
        "points_per_s": len(sweep_points) / elapsed if elapsed > 0 else math.nan,
        "simulated_runs_per_s": runner.simulated / elapsed if elapsed > 0 else math.nan,
        "sim_wall_s": runner.sim_wall_s,
        "sim_cpu_s": runner.sim_cpu_s,
        "parent_cpu_s": time.process_time() - cpu0,
        "executor": runner.executor.name,
        "workers": runner.executor.workers,
        "loadavg_start": list(load0),
        "loadavg_end": list(os.getloadavg()),
        "attnsim_version": __version__,
        "model_digest": runner.model,
        "grid_size": runner.space.size,
    }
    store.write_tables(results, points, ops)
    store.compact()
    store.write_manifest(
        {"state": "complete", "started": wall0, "finished": time.time(), **meta, "summary": summary}
    )
    return SweepRun(results, points, ops, summary, store.root)
