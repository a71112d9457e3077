"""Tiny sweep specs shared by the sweep and report tests (a few points, small workloads,
so a sweep takes a fraction of a second in one process)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

TINY: dict[str, Any] = {
    "version": 1,
    "name": "tiny",
    "base": "h100-sxm5-80gb",
    "axes": [
        {"path": "units.sm.count", "values": [66, 132]},
        {"path": "memory.hbm.bandwidth", "values": ["2 TB/s", "4 TB/s"]},
        # the simulator never reads the interconnect of one device: a parameter that
        # changes no objective (the report must warn about it)
        {"path": "interconnect.bandwidth", "values": ["900 GB/s", "1800 GB/s"]},
    ],
    "workloads": [
        {"attention": {"heads": 8, "seq": 1024, "head_dim": 64, "mask": "causal", "dtype": "bf16"}},
        {
            "name": "decode",
            "attention": {
                "batch": 4,
                "heads": 8,
                "seq": 1,
                "kv_seq": 4096,
                "head_dim": 64,
                "phase": "decode",
                "dtype": "bf16",
            },
            "weight": 2,
        },
    ],
    "objectives": ["latency", "energy", "area"],
    "strategy": {"kind": "grid"},
}


def tiny(**changes: Any) -> dict[str, Any]:
    """A copy of :data:`TINY` with top-level keys replaced."""
    doc = copy.deepcopy(TINY)
    doc.update(changes)
    return doc


def write_spec(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


#: Columns that hold wall-clock figures (differ between runs of the same sweep).
TIMING_COLUMNS = ("sim_wall_s", "sim_cpu_s")


def comparable(df: Any) -> Any:
    """``df`` without timing columns, rows in (point, workload) order."""
    out = df.drop(columns=[c for c in TIMING_COLUMNS if c in df.columns])
    keys = [c for c in ("point", "workload", "run_key", "op_index") if c in out.columns]
    return out.sort_values(keys).reset_index(drop=True)
