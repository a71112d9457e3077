"""``make demo`` end to end (the main job on the bundled defaults), on a small prompt,
through ``attnsim demo --json`` (the tables and progress on stderr, the outcome as JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnsim.cli.main import main


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_writes_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--json", "--text-tokens", "64", "--out", str(out), "--workers", "1"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    sims = doc["simulations"]
    assert [s["hardware"] for s in sims] == ["h100-sxm5-80gb", "a100-sxm4-80gb"]
    assert all(s["latency_s"] > 0 and s["energy_j"] > 0 for s in sims)
    assert Path(doc["workload"]) == (out / "vlm-llava-style.json").resolve()
    assert Path(doc["workload"]).is_file()
    assert (out / "sweep" / "manifest.json").is_file() or any((out / "sweep").iterdir())
    assert (Path(doc["validation"]) / "cases.csv").is_file()
    html = Path(doc["report"]).read_text()
    # the report carries the sweep and the validation beside it, figures embedded
    assert "Pareto front" in html and "data:image/png;base64," in html
    assert "predicted vs measured" in html.lower()
    for step in ("1. bundled", "2. trace", "3. simulate", "5. design-space sweep", "7. design"):
        assert step in captured.err
