"""``make demo`` end to end (the main job on the bundled defaults), on a small prompt."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from attnsim.demo import DemoConfig, run_demo


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    console = Console(width=160, record=True, file=io.StringIO())
    results = run_demo(DemoConfig(text_tokens=64, out_dir=out, workers=1), console)
    text = console.export_text()
    assert [r.hardware for r in results] == ["h100-sxm5-80gb", "a100-sxm4-80gb"]
    assert all(r.latency_s > 0 for r in results)
    assert (out / "vlm-llava-style.json").is_file()
    assert (out / "sweep" / "manifest.json").is_file() or any((out / "sweep").iterdir())
    assert (out / "validation" / "cases.csv").is_file()
    html = (out / "report" / "index.html").read_text()
    # the report carries the sweep and the validation beside it, figures embedded
    assert "Pareto front" in html and "data:image/png;base64," in html
    assert "predicted vs measured" in html.lower()
    for step in ("1. bundled", "2. trace", "3. simulate", "5. design-space sweep", "7. design"):
        assert step in text
