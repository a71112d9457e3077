"""The design-space report: parsed HTML (self-contained), figures whose plotted data are
the table's points, the Pareto front and knee, the no-effect warning, validation."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from attnsim.reports.design_space import knee_index, pareto_mask, sensitivity

from attnsim.api import report
from attnsim.cli.main import main
from attnsim.sweep import read_results, run_sweep, spec_from_dict
from tests.attnsim.sweep_fixtures import tiny


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.sections: list[str] = []
        self.h2: list[str] = []
        self.warnings: list[str] = []
        self._in: str | None = None
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a)
        if tag in ("a", "link", "script") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src", ""))
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag == "h2":
            self._in = "h2"
        if tag == "div" and a.get("class") == "warn":
            self._in = "warn"
            self.warnings.append("")
        if tag == "table":
            self.tables += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h2", "div"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "h2":
            self.h2.append(data)
        elif self._in == "warn":
            self.warnings[-1] += data


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "results"
    # a power cap between the 2 TB/s points (~142 W) and the 4 TB/s ones (~175 W) and the
    # base (~155 W), so the sweep has both feasible and infeasible points
    doc = tiny(constraints=["power <= 150 W"], report={"x": "latency", "y": "energy"})
    run_sweep(spec_from_dict(doc), out, executor="serial")
    return out


@pytest.fixture(scope="module")
def validation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``attnsim validate -o DIR`` writes (reports/validation.py's columns)."""
    d = tmp_path_factory.mktemp("val")
    pd.DataFrame(
        {
            "name": ["dense-1024", "causal-1024", "window-1024"],
            "kernel": ["numba-flash-cpu"] * 3,
            "target": ["host-cpu"] * 3,
            "measured_s": [0.010, 0.006, 0.003],
            "predicted_s": [0.011, 0.0055, 0.0032],
            "rel_error": [0.1, -0.0833, 0.0667],
        }
    ).to_csv(d / "cases.csv", index=False)
    pd.DataFrame(
        {
            "variant": ["causal-1024", "window-1024"],
            "dense": ["dense-1024", "dense-1024"],
            "measured_speedup": [1.667, 3.333],
            "predicted_speedup": [2.0, 3.4375],
            "rel_error": [0.2, 0.03],
        }
    ).to_csv(d / "speedups.csv", index=False)
    return d


@pytest.fixture(scope="module")
def report_dir(
    sweep_dir: Path, validation_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("rep") / "report"
    report(sweep_dir, out, validation=validation_dir)
    return out


def test_html_is_self_contained_with_every_section(report_dir: Path) -> None:
    page = _Page()
    page.feed((report_dir / "index.html").read_text())
    assert page.sections == [
        "summary",
        "pareto",
        "best",
        "sensitivity",
        "roofline",
        "breakdown",
        "validation",
    ]
    assert any("Pareto front: latency vs energy" in h for h in page.h2)
    assert {img["data-figure"] for img in page.images} == {
        "pareto",
        "sensitivity",
        "roofline",
        "breakdown",
        "validation",
        "speedups",
    }
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert png == (report_dir / "figures" / f"{img['data-figure']}.png").read_bytes()
    assert all(link.startswith("#") for link in page.links), page.links  # nothing to fetch
    assert page.tables >= 5
    md = (report_dir / "index.md").read_text()
    assert "## Pareto front: latency vs energy" in md and "](figures/pareto.png)" in md


def test_pareto_figure_plots_the_tables_points(report_dir: Path, sweep_dir: Path) -> None:
    _, _, points, _ = read_results(sweep_dir)
    data = json.loads((report_dir / "figures" / "pareto.json").read_text())
    assert data["xlabel"] == "latency (s)" and data["ylabel"] == "energy (J)"
    plotted = {}
    for series in data["series"]:
        if series["label"] in ("knee", "base design"):
            continue
        for p, x, y in zip(series["point"], series["x"], series["y"], strict=True):
            assert p not in plotted
            plotted[p] = (x, y)
    assert set(plotted) == set(points["point"])
    for _, row in points.iterrows():
        assert plotted[int(row["point"])] == pytest.approx((row["latency_s"], row["energy_j"]))
    # the front: feasible, and no feasible point dominates a front point
    feas = points[points["feasible"]]
    for p in data["front_points"]:
        r = points[points["point"] == p].iloc[0]
        assert r["feasible"]
        dominated = (
            (feas["latency_s"] <= r["latency_s"])
            & (feas["energy_j"] <= r["energy_j"])
            & ((feas["latency_s"] < r["latency_s"]) | (feas["energy_j"] < r["energy_j"]))
        )
        assert not dominated.any()
    assert data["knee_point"] in data["front_points"] and data["base_point"] == -1
    infeasible = [s for s in data["series"] if s["label"].startswith("infeasible")]
    assert infeasible and set(infeasible[0]["point"]) == set(points[~points["feasible"]]["point"])


def test_sensitivity_warns_about_a_parameter_that_changes_nothing(report_dir: Path) -> None:
    data = json.loads((report_dir / "figures" / "sensitivity.json").read_text())
    assert data["no_effect"] == ["interconnect.bandwidth"]
    assert set(data["params"]) == {
        "units.sm.count",
        "memory.hbm.bandwidth",
        "interconnect.bandwidth",
    }
    row = data["params"].index("interconnect.bandwidth")
    assert all(v == 0 for v in data["effect_percent"][row] if v is not None)
    sm = data["params"].index("units.sm.count")
    area = data["objectives"].index("area")
    assert data["effect_percent"][sm][area] > 10  # more SMs, more silicon
    page = _Page()
    page.feed((report_dir / "index.html").read_text())
    assert any("interconnect.bandwidth changes no objective" in w for w in page.warnings)


def test_roofline_and_breakdown_figures_carry_their_data(report_dir: Path, sweep_dir: Path) -> None:
    roof = json.loads((report_dir / "figures" / "roofline.json").read_text())
    assert (
        roof["xlabel"].startswith("arithmetic intensity") and roof["ylabel"] == "achieved (FLOP/s)"
    )
    labels = [s["label"] for s in roof["series"]]
    assert labels[0] == "point -1 (base)"
    for r in roof["roofs"]:
        for s in roof["series"]:
            if s["label"] == r["label"]:
                # no op above its design's compute roof
                assert all(y <= r["peak_flop_per_s"] * (1 + 1e-9) for y in s["y"])
    brk = json.loads((report_dir / "figures" / "breakdown.json").read_text())
    assert brk["designs"][0] == "point -1 (base)"
    _, results, _, _ = read_results(sweep_dir)
    base = results[results["is_base"]]
    weighted = float((base["latency_s"] * base["workload_weight"]).sum())
    lat_panel = next(v for k, v in brk["panels"].items() if k.startswith("latency"))
    total_ms = sum(seg[0] for seg in lat_panel["segments"].values())
    assert total_ms == pytest.approx(weighted * 1e3, rel=1e-6)


def test_validation_figures_are_the_validation_rows(report_dir: Path, validation_dir: Path) -> None:
    val = json.loads((report_dir / "figures" / "validation.json").read_text())
    cases = pd.read_csv(validation_dir / "cases.csv")
    assert val["series"][0]["x"] == pytest.approx(list(cases["measured_s"] * 1e3))
    assert val["series"][0]["y"] == pytest.approx(list(cases["predicted_s"] * 1e3))
    sp = json.loads((report_dir / "figures" / "speedups.json").read_text())
    assert sp["variants"] == ["causal-1024", "window-1024"]
    assert sp["measured"] == pytest.approx([1.667, 3.333]) and sp["predicted"] == pytest.approx(
        [2.0, 3.4375]
    )


def test_report_cli(sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["report", str(sweep_dir), "-o", str(tmp_path / "r"), "--x", "area", "--y", "latency"])
        == 0
    )
    assert "index.html" in capsys.readouterr().out
    data = json.loads((tmp_path / "r" / "figures" / "pareto.json").read_text())
    assert data["xlabel"] == "area (mm²)" and data["ylabel"] == "latency (s)"
    assert main(["report", str(sweep_dir), "-o", str(tmp_path / "r2"), "--x", "latncy"]) == 2
    assert "did you mean 'latency'" in capsys.readouterr().err


def test_pareto_and_knee_by_brute_force() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random(60), rng.random(60)
    mask = pareto_mask(x, y, "minimize", "maximize")
    for i in range(60):
        dominated = any(
            (x[j] <= x[i] and y[j] >= y[i]) and (x[j] < x[i] or y[j] > y[i]) for j in range(60)
        )
        assert mask[i] == (not dominated)
    front_x, front_y = x[mask], y[mask]
    k = knee_index(front_x, front_y, "minimize", "maximize")
    assert k is not None and 0 <= k < mask.sum()
    assert knee_index([], [], "minimize", "minimize") is None


def test_sensitivity_detects_no_effect_by_matched_points() -> None:
    df = pd.DataFrame({"a": [1, 1, 2, 2], "b": [5, 6, 5, 6], "obj": [10.0, 10.0, 20.0, 20.0]})
    s = sensitivity(df, ["a", "b"], ["obj"])
    assert s.no_effect == ("b",)
    assert s.effect.loc["a", "obj"] == pytest.approx(10 / 15)


def test_an_accelerators_roofline_uses_its_dram_and_its_ternary_peak() -> None:
    from attnsim.hwconfigs import load_hardware
    from attnsim.reports.design_space.figures import roofline_figure
    from attnsim.sim import simulate
    from attnsim.workloads.zoo import build_workload

    from attnsim.sweep.worker import roofs

    hw = load_hardware("vitallm-16nm")
    wl = build_workload(
        "bitnet-b1.58-3b-edge", seq=8, overrides={"num_hidden_layers": 1}, dtype="bf16"
    )
    doc = roofs(hw, wl)
    # the ternary arrays' peak, not BoothFlex's int8 one; LPDDR, not the slower
    # per-unit operand buffer
    assert doc["compute_flop_per_s"]["ternary"] == pytest.approx(hw.peak("matmul", "ternary"))
    assert doc["dram"] == "lpddr"
    assert min(doc["memory_b_per_s"], key=doc["memory_b_per_s"].get) != "lpddr"
    r = simulate(hw, wl)
    ops = pd.DataFrame(
        [
            {"flops": o.flops, "latency_s": o.latency_s, "bytes_lpddr_b": o.bytes.get("lpddr", 0.0)}
            for o in r.ops
        ]
    )
    _, data = roofline_figure([("base", doc, ops)])
    (roof,) = data["roofs"]
    assert roof["dram"] == "lpddr" and roof["peak_flop_per_s"] == pytest.approx(7.68e11)
    assert all(y <= roof["peak_flop_per_s"] * (1 + 1e-9) for y in data["series"][0]["y"])
