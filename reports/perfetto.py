"""Perfetto / Chrome trace export of a simulated timeline.

The Chrome trace-event JSON format (``{"traceEvents": [...]}``, complete events ``"ph":
"X"`` with microsecond ``ts``/``dur``) opens in ui.perfetto.dev and chrome://tracing.

Layout: process 1 is the chip (rows ``ops`` and ``kernels``/``tasks UNIT``, and a GPU's
``unit I slot K`` rows); a multi-engine target gets one more process per engine (unit
kind), holding that engine's task row and one row per instance and slot, so the engines
of a chip sit one under the other and their overlap is visible. Complete events on one
row must nest, so spans that overlap without nesting (two ops pipelined through
different engines) are spread over extra rows ``NAME #2``, ``NAME #3`` (first fit).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attnsim.sim.result import Result, TimelineEvent

_TRACK_ORDER = ("ops", "kernels")


def _track_key(track: str) -> tuple[int, str, int, int]:
    base, _, lane = track.partition(" #")
    if base in _TRACK_ORDER:
        return (_TRACK_ORDER.index(base), base, int(lane or 1), 0)
    parts = base.split()
    numbers = [int(p) for p in parts if p.isdigit()]
    if parts and parts[0] == "tasks":
        return (len(_TRACK_ORDER), base, int(lane or 1), 0)
    return (len(_TRACK_ORDER) + 1, parts[0], *(numbers + [0, 0])[:2])  # type: ignore[return-value]


def _lanes(events: Sequence[TimelineEvent]) -> list[str]:
    """The row of each event: its track, or ``track #k`` when it overlaps without
    nesting an earlier event of the track (first fit, in time order)."""
    rows = [e.track for e in events]
    by_track: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, e in enumerate(events):
        by_track[(e.group, e.track)].append(i)
    for indices in by_track.values():
        indices.sort(key=lambda i: (events[i].start_s, -events[i].duration_s, i))
        lane_end: list[float] = []
        for i in indices:
            e = events[i]
            tol = 1e-12 * max(1.0, abs(e.start_s))
            for k, end in enumerate(lane_end):
                if e.start_s >= end - tol:
                    lane_end[k] = e.start_s + e.duration_s
                    rows[i] = e.track if k == 0 else f"{e.track} #{k + 1}"
                    break
            else:
                lane_end.append(e.start_s + e.duration_s)
                k = len(lane_end) - 1
                rows[i] = e.track if k == 0 else f"{e.track} #{k + 1}"
    return rows


def trace_events(result: Result) -> dict[str, Any]:
    """The trace-event JSON object for ``result.timeline`` (empty if none was recorded)."""
    events: Sequence[TimelineEvent] = result.timeline
    rows = _lanes(events)
    groups = sorted({e.group for e in events}, key=lambda g: (g != "", g))
    pid = {g: i + 1 for i, g in enumerate(groups)} or {"": 1}
    out: list[dict[str, Any]] = []
    for g, p in pid.items():
        label = f"{result.hardware}: {result.workload}" if g == "" else f"engine {g}"
        out.append({"name": "process_name", "ph": "M", "pid": p, "args": {"name": label}})
        out.append({"name": "process_sort_index", "ph": "M", "pid": p, "args": {"sort_index": p}})
    tracks = sorted(
        {(e.group, row) for e, row in zip(events, rows, strict=True)},
        key=lambda gt: (pid[gt[0]], _track_key(gt[1])),
    )
    tid = {gt: i + 1 for i, gt in enumerate(tracks)}
    for (g, row), i in tid.items():
        out.append(
            {"name": "thread_name", "ph": "M", "pid": pid[g], "tid": i, "args": {"name": row}}
        )
        out.append(
            {
                "name": "thread_sort_index",
                "ph": "M",
                "pid": pid[g],
                "tid": i,
                "args": {"sort_index": i},
            }
        )
    for e, row in zip(events, rows, strict=True):
        out.append(
            {
                "name": e.name,
                "ph": "X",
                "pid": pid[e.group],
                "tid": tid[(e.group, row)],
                "ts": e.start_s * 1e6,
                "dur": e.duration_s * 1e6,
                "args": dict(e.args),
            }
        )
    return {
        "traceEvents": out,
        "displayTimeUnit": "ns",
        "otherData": {
            "hardware": result.hardware,
            "workload": result.workload,
            "latency_s": result.latency_s,
            "policy": result.policy,
            "generator": "attnsim",
        },
    }


def write_trace(result: Result, path: str | os.PathLike[str]) -> Path:
    """Write the trace JSON of ``result`` to ``path`` (parents created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(trace_events(result)))
    tmp.replace(target)
    return target
