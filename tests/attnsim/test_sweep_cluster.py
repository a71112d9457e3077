"""The same sweep on a real Dask LocalCluster, and a sweep killed with SIGKILL that
resumes to the full, duplicate-free table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from attnsim.sweep import ResultsStore, run_sweep, spec_from_dict
from tests.attnsim.sweep_fixtures import comparable, tiny, write_spec

pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_table_as_the_process_pool(tmp_path: Path) -> None:
    spec = spec_from_dict(tiny())
    local = run_sweep(spec, tmp_path / "local", executor="local", workers=2)
    dask = run_sweep(spec, tmp_path / "dask", executor="dask", workers=2)
    assert dask.summary["executor"] == "dask" and dask.summary["simulated_runs"] > 0
    pd.testing.assert_frame_equal(comparable(dask.results), comparable(local.results))
    pd.testing.assert_frame_equal(comparable(dask.points), comparable(local.points))
    pd.testing.assert_frame_equal(comparable(dask.ops), comparable(local.ops))


_CHILD = """
import sys
from attnsim.sweep import run_sweep
run_sweep(sys.argv[1], sys.argv[2], executor="local", workers=1)
"""


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_resumes_to_the_full_table(tmp_path: Path) -> None:
    doc = tiny(
        axes=[
            {"path": "units.sm.count", "range": {"from": 60, "to": 192, "step": 12}},
            {"path": "memory.hbm.bandwidth", "values": ["2 TB/s", "3 TB/s", "4 TB/s"]},
        ]
    )
    spec = write_spec(tmp_path / "spec.yaml", doc)
    out = tmp_path / "results"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(spec), str(out)],
        start_new_session=True,  # its own process group: the kill takes the workers too
        stderr=subprocess.DEVNULL,
    )
    store = ResultsStore(out)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and store.shard_count < 3:
            assert child.poll() is None, "the sweep finished before it could be killed"
            time.sleep(0.02)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert not (out / "results.parquet").exists()  # killed mid-way
    done_before = len(store.load_runs())
    assert 0 < done_before < (12 * 3 + 1) * 2
    resumed = run_sweep(spec, out, executor="serial")
    assert resumed.summary["reused_runs"] >= done_before - 2  # the base may share keys
    assert (
        resumed.summary["simulated_runs"] + resumed.summary["reused_runs"]
        >= len(resumed.results) - 12
    )
    r = resumed.results
    assert len(r) == (12 * 3 + 1) * 2 and not r.duplicated(["point", "workload"]).any()
    assert set(r["status"]) == {"ok"}
    fresh = run_sweep(spec, tmp_path / "fresh", executor="serial")
    pd.testing.assert_frame_equal(comparable(resumed.results), comparable(fresh.results))
    pd.testing.assert_frame_equal(comparable(resumed.ops), comparable(fresh.ops))
