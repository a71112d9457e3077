"""``attnsim sweep plan``: counts without simulating (beyond a few timed points)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnsim.cli.main import main
from attnsim.sweep import plan_sweep, run_sweep, spec_from_dict
from tests.attnsim.sweep_fixtures import tiny, write_spec


def test_plan_counts_points_pruned_and_cached(tmp_path: Path) -> None:
    doc = tiny(constraints=["area <= 700 mm2"])
    spec = spec_from_dict(doc)
    plan = plan_sweep(spec, timed_points=1, workers=2)
    assert plan.points == plan.grid_size == 8 and plan.workloads == 2
    assert plan.pruned == 4  # the 132-SM points: 814 mm2
    assert plan.invalid == 0 and plan.cached_runs == 0
    assert plan.runs_to_simulate == 4 * 2
    assert plan.timed_runs == 2 and plan.seconds_per_run > 0
    assert plan.estimate_s == pytest.approx(8 * plan.seconds_per_run / 2)
    run_sweep(spec, tmp_path / "r", executor="serial")
    again = plan_sweep(spec, timed_points=0, results=tmp_path / "r")
    assert again.cached_runs == 8 and again.runs_to_simulate == 0 and again.timed_runs == 0


def test_plan_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_spec(tmp_path / "s.yaml", tiny())
    assert main(["sweep", "plan", str(path), "--timed-points", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["points"] == 8 and doc["runs_to_simulate"] == 16
    assert main(["sweep", "plan", str(path), "--timed-points", "0"]) == 0
    out = capsys.readouterr().out
    assert "pruned before simulation" in out and "estimated time" in out
    assert main(["sweep", "run", str(path)]) == 2
    assert "expected 'attnsim sweep SPEC -o RESULTS'" in capsys.readouterr().err
    assert main(["sweep", str(path)]) == 2
    assert "-o: missing" in capsys.readouterr().err


def test_sweep_cli_runs_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_spec(
        tmp_path / "s.yaml", tiny(axes=[{"path": "units.sm.count", "values": [66, 132]}])
    )
    out = tmp_path / "res"
    argv = ["sweep", str(path), "-o", str(out), "--executor", "serial", "--no-progress"]
    assert main(argv) == 0
    assert "simulated 4 runs, reused 0" in capsys.readouterr().err
    assert main(argv) == 0
    assert "simulated 0 runs, reused 6" in capsys.readouterr().err
    assert main([*argv[:4], "--executor", "locl", "--no-progress"]) == 2
    assert "did you mean 'local'" in capsys.readouterr().err
