"""The results folder: a durable, append-only Parquet log of runs, plus the tables of
the latest sweep.

Layout of ``RESULTS/``::

    manifest.json          the latest sweep: spec, axes, objectives, summary (atomic)
    runs/runs-*.parquet    finished runs, one shard per batch (each written atomically)
    runs/ops-*.parquet     their per-op rows (written before the runs shard they belong to)
    results.parquet        one row per (point, workload) of the latest sweep
    points.parquet         one row per point: weighted metrics of its workloads
    ops.parquet            per-op rows of the latest sweep's runs, keyed by run_key

A run is durable once its row is in a ``runs-*`` shard: shards are written to a unique
temporary file, flushed to disk and renamed, so ``kill -9`` at any moment leaves whole
shards only and loses at most the runs in flight. Reading keeps the first row of each
``run_key`` (a shard compaction killed half-way leaves duplicates, never a gap). The
log is a cache keyed by content (:mod:`attnsim.sweep.digests`): a re-run finds every
finished run by its key and simulates only the rest, and a run whose inputs changed has
a new key, so it is recomputed rather than reused.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from attnsim.errors import one_line
from attnsim.fileio import atomic_write, read_input_text
from attnsim.sweep.errors import SweepError

__all__ = ["ResultsStore", "RESULTS_FORMAT", "RESULTS_VERSION", "read_results"]

RESULTS_FORMAT = "attnsim-sweep-results"
RESULTS_VERSION = 1

#: Shards beyond which a finished sweep compacts the log into one shard.
COMPACT_ABOVE = 16


def _to_parquet_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    table = pa.Table.from_pylist([dict(r) for r in rows])
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _frame_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


class ResultsStore:
    """A results folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs_dir = root / "runs"

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> ResultsStore:
        """Open ``path`` for writing, creating the folder (not its parents) if needed."""
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise SweepError(
                f"-o {one_line(root)}: exists and is not a folder; expected a results folder"
            )
        if not root.exists():
            parent = root.parent if str(root.parent) else Path(".")
            if not parent.is_dir():
                raise SweepError(
                    f"-o {one_line(root)}: folder {one_line(parent)} does not exist; create it first "
                    "(attnsim creates only the results folder itself)"
                )
            try:
                root.mkdir()
            except FileExistsError:
                pass
            except OSError as exc:
                raise SweepError(f"-o {one_line(root)}: {exc.strerror or exc}") from None
        elif (
            any(root.iterdir())
            and not (root / "manifest.json").exists()
            and not (root / "runs").is_dir()
        ):
            raise SweepError(
                f"-o {one_line(root)}: is a folder that holds other files; expected a new folder or "
                "an attnsim results folder"
            )
        store = cls(root)
        store.runs_dir.mkdir(exist_ok=True)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ResultsStore:
        """Open an existing results folder for reading."""
        root = Path(path)
        if not root.is_dir() or not (root / "manifest.json").is_file():
            raise SweepError(
                f"{one_line(root)}: not an attnsim results folder (no manifest.json); expected "
                "the folder given to attnsim sweep -o"
            )
        return cls(root)

    # -- the run log ---------------------------------------------------------------------

    def _shards(self, kind: str) -> list[Path]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p for p in self.runs_dir.glob(f"{kind}-*.parquet") if p.is_file())

    @property
    def shard_count(self) -> int:
        """Run shards in the log."""
        return len(self._shards("runs"))

    def append(self, runs: Sequence[Mapping[str, Any]], ops: Sequence[Mapping[str, Any]]) -> None:
        """Durably add finished runs (and their op rows): ops shard first, then runs."""
        if not runs:
            return
        stem = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if ops:
            atomic_write(self.runs_dir / f"ops-{stem}.parquet", _to_parquet_bytes(ops), option="-o")
        atomic_write(self.runs_dir / f"runs-{stem}.parquet", _to_parquet_bytes(runs), option="-o")

    def load_runs(self) -> dict[str, dict[str, Any]]:
        """Every finished run in the log: run_key -> row (first occurrence wins)."""
        out: dict[str, dict[str, Any]] = {}
        for shard in self._shards("runs"):
            for row in pq.read_table(shard).to_pylist():
                out.setdefault(row["run_key"], row)
        return out

    def load_ops(self, run_keys: set[str]) -> pd.DataFrame:
        """Per-op rows of ``run_keys`` (one copy per (run_key, op_index))."""
        frames = []
        for shard in self._shards("ops"):
            df = pq.read_table(shard).to_pandas()
            df = df[df["run_key"].isin(run_keys)]
            if len(df):
                frames.append(df)
        if not frames:
            return pd.DataFrame({"run_key": pd.Series(dtype=str), "op_index": pd.Series(dtype=int)})
        ops = pd.concat(frames, ignore_index=True)
        return ops.drop_duplicates(["run_key", "op_index"], keep="first").reset_index(drop=True)

    def compact(self) -> None:
        """Fold the log into one runs shard and one ops shard (when it has many)."""
        runs_shards, ops_shards = self._shards("runs"), self._shards("ops")
        if len(runs_shards) <= COMPACT_ABOVE:
            return
        runs = list(self.load_runs().values())
        ops = self.load_ops({r["run_key"] for r in runs})
        stem = f"{time.time_ns():020d}-{os.getpid()}-compact"
        if len(ops):
            atomic_write(self.runs_dir / f"ops-{stem}.parquet", _frame_bytes(ops), option="-o")
        atomic_write(self.runs_dir / f"runs-{stem}.parquet", _to_parquet_bytes(runs), option="-o")
        for old in runs_shards + ops_shards:
            old.unlink(missing_ok=True)

    # -- the latest sweep's tables -------------------------------------------------------

    def write_tables(self, results: pd.DataFrame, points: pd.DataFrame, ops: pd.DataFrame) -> None:
        """Write the latest sweep's tables (each atomically)."""
        atomic_write(self.root / "results.parquet", _frame_bytes(results), option="-o")
        atomic_write(self.root / "points.parquet", _frame_bytes(points), option="-o")
        atomic_write(self.root / "ops.parquet", _frame_bytes(ops), option="-o")

    def write_manifest(self, doc: Mapping[str, Any]) -> None:
        """Write ``manifest.json`` atomically."""
        full = {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, **doc}
        atomic_write(
            self.root / "manifest.json",
            json.dumps(full, indent=2, sort_keys=False, default=str, allow_nan=True) + "\n",
            option="-o",
        )

    def manifest(self) -> dict[str, Any]:
        """The manifest (checked for format and version)."""
        path = self.root / "manifest.json"
        text = read_input_text(path, what="results manifest")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SweepError(
                f"{one_line(path)}: not JSON ({exc.msg}); expected an attnsim results manifest"
            ) from None
        if not isinstance(doc, dict) or doc.get("format") != RESULTS_FORMAT:
            raise SweepError(f"{one_line(path)}: format: expected {RESULTS_FORMAT!r}")
        if doc.get("version", 0) > RESULTS_VERSION:
            raise SweepError(
                f"{one_line(path)}: version {doc.get('version')} is newer than this attnsim reads "
                f"({RESULTS_VERSION}); expected a newer attnsim"
            )
        return doc


def read_results(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(manifest, results, points, ops)`` of a finished sweep's folder."""
    store = ResultsStore.open(path)
    manifest = store.manifest()
    tables = []
    for name in ("results", "points", "ops"):
        file = store.root / f"{name}.parquet"
        if not file.is_file():
            raise SweepError(
                f"{one_line(file)}: missing; expected the tables of a finished sweep (re-run "
                "attnsim sweep with the same spec and -o to finish it)"
            )
        tables.append(pd.read_parquet(file))
    return manifest, tables[0], tables[1], tables[2]
