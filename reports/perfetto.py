"""Perfetto / Chrome trace export of a simulated timeline.

The Chrome trace-event JSON format (``{"traceEvents": [...]}``, complete events ``"ph":
"X"`` with microsecond ``ts``/``dur``) opens in ui.perfetto.dev and chrome://tracing.
Each :class:`sim.result.TimelineEvent` track becomes a named thread of one process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attnsim.sim.result import Result, TimelineEvent

from attnsim.fileio import atomic_write

_TRACK_ORDER = ("ops", "kernels")


def _track_key(track: str) -> tuple[int, str, int, int]:
    if track in _TRACK_ORDER:
        return (_TRACK_ORDER.index(track), track, 0, 0)
    parts = track.split()
    numbers = [int(p) for p in parts if p.isdigit()]
    return (len(_TRACK_ORDER), parts[0], *(numbers + [0, 0])[:2])  # type: ignore[return-value]


def trace_events(result: Result) -> dict[str, Any]:
    """The trace-event JSON object for ``result.timeline`` (empty if none was recorded)."""
    events: Sequence[TimelineEvent] = result.timeline
    tracks = sorted({e.track for e in events}, key=_track_key)
    tid = {track: i + 1 for i, track in enumerate(tracks)}
    out: list[dict[str, Any]] = [
        {
            "name": "process_name",
            "ph": "M",
            "pid": 1,
            "args": {"name": f"{result.hardware}: {result.workload}"},
        }
    ]
    for track, i in tid.items():
        out.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": i, "args": {"name": track}})
        out.append(
            {"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": i, "args": {"sort_index": i}}
        )
    for e in events:
        out.append(
            {
                "name": e.name,
                "ph": "X",
                "pid": 1,
                "tid": tid[e.track],
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
            "generator": "attnsim",
        },
    }


def write_trace(result: Result, path: str | os.PathLike[str], *, option: str = "timeline") -> Path:
    """Write the trace JSON of ``result`` to ``path`` through
    :func:`attnsim.fileio.atomic_write` (no folder created, no link followed); returns the
    path. A destination that cannot be written is an :class:`~attnsim.errors.OutputFileError`
    naming ``option``."""
    return atomic_write(path, json.dumps(trace_events(result)), option=option)
