"""Assemble the design-space report of a sweep: figures, tables, Markdown and HTML.

``build_report`` reads nothing but what it is given (the sweep's manifest and tables,
and optionally a validation folder written by ``attnsim validate -o``) and writes::

    OUT/index.html           self-contained: figures embedded as data URIs, opens offline
    OUT/index.md             the same report in Markdown (figures linked)
    OUT/figures/NAME.png     each figure
    OUT/figures/NAME.json    the data each figure plots (labels, x/y, point ids)
    OUT/tables/NAME.csv      the tables (Pareto front, best designs, sensitivity)
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from attnsim.reports.design_space import figures as figs
from attnsim.reports.design_space.analysis import best_designs, knee_index, pareto_mask, sensitivity
from attnsim.reports.design_space.render import render_html, render_markdown

from attnsim.errors import OutputFileError, one_line
from attnsim.fileio import atomic_write

__all__ = ["build_report", "Section", "ReportDoc"]

#: Objectives every report looks at for sensitivity, besides the spec's own.
_ALWAYS = ("latency", "energy", "power", "area")


@dataclass
class Section:
    """One part of the report: a title, paragraphs, figures (name -> PNG bytes) and
    tables (caption -> frame of display strings)."""

    title: str
    anchor: str
    paragraphs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: list[tuple[str, str, bytes]] = field(default_factory=list)  # (name, caption, png)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


@dataclass
class ReportDoc:
    """The whole report, ready to render."""

    title: str
    subtitle: str
    sections: list[Section]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        if not math.isfinite(f):
            return "-"
        if f == 0:
            return "0"
        if abs(f) >= 1e5 or abs(f) < 1e-3:
            return f"{f:.4g}"
        return f"{f:.4g}"
    return str(v)


def _display(df: pd.DataFrame) -> pd.DataFrame:
    return df.apply(lambda col: col.map(_fmt)).astype(str) if len(df) else df.astype(str)


class _Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        for sub in ("", "figures", "tables"):
            d = out / sub if sub else out
            if not d.exists():
                parent = d.parent
                if not parent.is_dir():
                    raise OutputFileError(
                        f"-o {one_line(out)}: folder {one_line(parent)} does not exist; create it first"
                    )
                d.mkdir()

    def figure(self, name: str, fig: Any, data: Mapping[str, Any]) -> bytes:
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        png = buf.getvalue()
        atomic_write(self.out / "figures" / f"{name}.png", png, option="-o")
        atomic_write(
            self.out / "figures" / f"{name}.json", figs.dump_data(dict(data)) + "\n", option="-o"
        )
        return png

    def table(self, name: str, df: pd.DataFrame) -> None:
        atomic_write(self.out / "tables" / f"{name}.csv", df.to_csv(index=False), option="-o")


def _value_text(manifest: Mapping[str, Any]) -> dict[str, dict[Any, str]]:
    """Axis column -> SI value -> the value as the spec wrote it."""
    out: dict[str, dict[Any, str]] = {}
    for axis in manifest.get("axes", []):
        out[axis["column"]] = {
            si: str(v) for si, v in zip(axis["si"], axis["values"], strict=False)
        }
    return out


def _design_text(
    row: pd.Series, axes: list[dict[str, Any]], texts: Mapping[str, Mapping[Any, str]]
) -> str:
    parts = []
    for axis in axes:
        col = axis["column"]
        v = row.get(col)
        shown = texts.get(col, {}).get(v)
        if shown is None:
            shown = _fmt(v) + (" (SI)" if axis.get("unit") else "")
        parts.append(f"{axis['path']}={shown}")
    return ", ".join(parts)


def build_report(
    manifest: Mapping[str, Any],
    results: pd.DataFrame,
    points: pd.DataFrame,
    ops: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    validation: str | os.PathLike[str] | None = None,
    x: str | None = None,
    y: str | None = None,
    objectives: Mapping[str, tuple[str, str, str]] | None = None,
) -> Path:
    """Write the report (see the module docstring); returns the path of index.html.

    ``objectives``: every known objective name -> (column, unit, default direction),
    for a Pareto pair outside the spec's objectives."""
    w = _Writer(Path(out))
    spec = manifest.get("spec", {})
    summary = manifest.get("summary", {})
    axes = list(manifest.get("axes", []))
    texts = _value_text(manifest)
    known: dict[str, tuple[str, str, str]] = dict(objectives or {})
    for o in manifest.get("objectives", []):
        known[o["name"]] = (o["column"], o["unit"], o["direction"])
    spec_objs = [o["name"] for o in manifest.get("objectives", [])]
    rep = manifest.get("report", {})
    xname = x or rep.get("x") or (spec_objs[0] if spec_objs else "latency")
    yname = y or rep.get("y") or (spec_objs[1] if len(spec_objs) > 1 else "energy")
    sections: list[Section] = []

    points = points.copy()
    if "feasible" not in points:
        points["feasible"] = points["status"] == "ok"
    sweep_pts = points[~points["is_base"].astype(bool)]
    base_row = points[points["is_base"].astype(bool)]
    base_id = int(base_row["point"].iloc[0]) if len(base_row) else None

    # -- run summary ---------------------------------------------------------------------
    s = Section("Run summary", "summary")
    by = summary.get("points_by_status", {})
    rows = [
        ("sweep", f"{spec.get('name', '')}: {spec.get('description', '')}"),
        ("base target", f"{spec.get('base_name', spec.get('base', ''))}"),
        (
            "strategy",
            json.dumps({k: v for k, v in spec.get("strategy", {}).items() if v is not None}),
        ),
        ("kernel family", spec.get("family", "best")),
        (
            "workloads",
            "; ".join(
                f"{wl['label']} (weight {_fmt(wl['weight'])})"
                for wl in manifest.get("workloads", [])
            ),
        ),
        ("points", summary.get("points", len(sweep_pts))),
        ("points ok", by.get("ok", 0)),
        ("points infeasible (broke a constraint or did not fit)", by.get("infeasible", 0)),
        ("points pruned before simulation", by.get("pruned", 0)),
        ("points invalid (target loader refused the variant)", by.get("invalid", 0)),
        ("points failed / timed out", f"{by.get('failed', 0)} / {by.get('timeout', 0)}"),
        (
            "runs simulated / reused from the results folder",
            f"{summary.get('simulated_runs', '-')} / {summary.get('reused_runs', '-')}",
        ),
        ("elapsed", f"{_fmt(summary.get('elapsed_s'))} s"),
        ("points per second", _fmt(summary.get("points_per_s"))),
        ("executor", f"{summary.get('executor', '-')} x {summary.get('workers', '-')} workers"),
        ("load average at start", ", ".join(_fmt(v) for v in summary.get("loadavg_start", []))),
        (
            "attnsim version / model digest",
            f"{summary.get('attnsim_version', '-')} / {str(summary.get('model_digest', '-'))[:16]}",
        ),
        ("constraints", "; ".join(c["text"] for c in manifest.get("constraints", [])) or "none"),
    ]
    s.tables.append(("Run summary", pd.DataFrame(rows, columns=["", "value"]).astype(str)))
    bad = results[results["status"] != "ok"]
    if len(bad):
        cols = [c for c in ("point", "workload", "status", "reason") if c in bad]
        shown = f"first 20 of {len(bad)}" if len(bad) > 20 else str(len(bad))
        s.tables.append((f"Runs that are not ok ({shown})", _display(bad[cols].head(20))))
    sections.append(s)

    # -- Pareto ----------------------------------------------------------------------------
    s = Section(f"Pareto front: {xname} vs {yname}", "pareto")
    missing = [n for n in (xname, yname) if n not in known or known[n][0] not in points]
    if missing:
        s.warnings.append(f"objective(s) {', '.join(missing)} not in the results; no Pareto front")
        sections.append(s)
        knee_id = None
        front_ids: list[int] = []
    else:
        xc, xu, xd = known[xname]
        yc, yu, yd = known[yname]
        feas = points["feasible"].to_numpy(dtype=bool)
        mask = np.zeros(len(points), dtype=bool)
        fm = pareto_mask(
            points[xc].to_numpy(dtype=float)[feas], points[yc].to_numpy(dtype=float)[feas], xd, yd
        )
        mask[np.flatnonzero(feas)[fm]] = True
        front = points[mask].sort_values(xc)
        k = knee_index(front[xc].to_numpy(dtype=float), front[yc].to_numpy(dtype=float), xd, yd)
        knee_id = int(front["point"].iloc[k]) if k is not None else None
        front_ids = [int(p) for p in front["point"]]
        fig, data = figs.pareto_figure(
            points, (xname, xc, xu, xd), (yname, yc, yu, yd), mask, knee_id, base_id
        )
        data["front_points"] = front_ids
        data["knee_point"] = knee_id
        data["base_point"] = base_id
        s.figures.append(
            (
                "pareto",
                f"{xname} vs {yname}: every point, the front, the knee and the base design",
                w.figure("pareto", fig, data),
            )
        )
        s.paragraphs.append(
            f"{len(front)} of {int(feas.sum())} feasible points are on the front"
            + (f"; the knee is point {knee_id}" if knee_id is not None else "")
            + (
                f"; the base design is point {base_id}"
                + (" (on the front)" if base_id in front_ids else " (dominated)")
                if base_id is not None
                else ""
            )
            + "."
        )
        undrawn = int(
            (~np.isfinite(points[xc].astype(float)) | ~np.isfinite(points[yc].astype(float))).sum()
        )
        if undrawn:
            s.paragraphs.append(
                f"{undrawn} points have no {xname} or {yname} (pruned before simulation, invalid "
                "or failed) and are not drawn; the run summary lists them."
            )
        cols = ["point", *[a["column"] for a in axes], xc, yc]
        ftab = front[[c for c in cols if c in front]].copy()
        ftab.insert(1, "design", [_design_text(r, axes, texts) for _, r in front.iterrows()])
        w.table("pareto_front", front[[c for c in cols if c in front]])
        s.tables.append(
            (
                "Points on the front",
                _display(ftab.drop(columns=[a["column"] for a in axes if a["column"] in ftab])),
            )
        )
        sections.append(s)

    # -- best designs ------------------------------------------------------------------------
    s = Section("Best designs by each objective", "best")
    spec_known = {n: (known[n][0], known[n][2]) for n in spec_objs if n in known}
    feasible_pts = points[points["feasible"].astype(bool)]
    best = best_designs(feasible_pts, spec_known, top=3)
    best_rows = []
    for name, df in best.items():
        col, direction = spec_known[name]
        for rank, (_, r) in enumerate(df.iterrows(), 1):  # every objective, so rows line up
            best_rows.append(
                {
                    "objective": f"{name} ({'min' if direction == 'minimize' else 'max'})",
                    "rank": rank,
                    "point": int(r["point"]),
                    "design": ("base: " if bool(r["is_base"]) else "")
                    + _design_text(r, axes, texts),
                    **{
                        f"{n} ({known[n][1]})": _fmt(r.get(known[n][0]))
                        for n in spec_objs
                        if n in known
                    },
                }
            )
    if best_rows:
        bt = pd.DataFrame(best_rows)
        w.table("best_designs", bt)
        s.tables.append(("Top 3 feasible designs per objective", bt.astype(str)))
    else:
        s.warnings.append("no feasible point")
    sections.append(s)

    # -- sensitivity -----------------------------------------------------------------------
    s = Section("Sensitivity to each swept parameter", "sensitivity")
    ok = sweep_pts[sweep_pts["status"].isin(["ok", "infeasible"])]
    params = [a["column"] for a in axes if a["column"] in ok and ok[a["column"]].nunique() >= 2]
    obj_names = list(dict.fromkeys([*spec_objs, *_ALWAYS]))
    obj_cols = {known[n][0]: n for n in obj_names if n in known and known[n][0] in ok}
    if params and obj_cols and len(ok) >= 2:
        sens = sensitivity(ok, params, list(obj_cols))
        labels = {a["column"]: a["path"] for a in axes}
        effect = sens.effect.rename(index=labels, columns=obj_cols)
        corr = sens.rank_corr.rename(index=labels, columns=obj_cols)
        no_effect = [labels[p] for p in sens.no_effect]
        fig, data = figs.sensitivity_figure(effect, corr, no_effect)
        s.figures.append(
            (
                "sensitivity",
                "main effect of each parameter on each objective (% of the objective's mean)",
                w.figure("sensitivity", fig, data),
            )
        )
        for p in no_effect:
            s.warnings.append(
                f"swept parameter {p} changes no objective ({', '.join(obj_cols.values())}): the simulator "
                "does not read it for these workloads, or every value gives the same design"
            )
        signed = effect.where(~(corr < 0), -effect)
        tab = (signed * 100).round(2)
        tab.insert(0, "parameter", tab.index)
        w.table("sensitivity", tab)
        s.tables.append(
            (
                "Main effect (% of the mean; negative: the objective falls as the parameter grows)",
                _display(tab),
            )
        )
        s.paragraphs.append(
            "Main effect: the range of an objective's mean over a parameter's values, relative to its "
            "overall mean. A parameter is flagged when no pair of points that differ only in it has "
            "different objectives."
        )
    else:
        s.warnings.append("fewer than two swept values or ok points: no sensitivity")
    sections.append(s)

    # -- chosen designs: roofline and breakdowns ----------------------------------------------
    chosen: list[tuple[str, int]] = []
    for label, pid in (
        ("base", base_id),
        (
            f"best {xname}",
            int(best[xname].iloc[0]["point"]) if xname in best and len(best[xname]) else None,
        ),
        (
            f"best {yname}",
            int(best[yname].iloc[0]["point"]) if yname in best and len(best[yname]) else None,
        ),
        ("knee", knee_id),
    ):
        if pid is None:
            continue
        if any(pid == p for _, p in chosen):
            chosen = [(f"{lab}, {label}" if p == pid else lab, p) for lab, p in chosen]
            continue
        chosen.append((label, pid))
    designs_roof = []
    designs_break = []
    weights = {wl["label"]: wl["weight"] for wl in manifest.get("workloads", [])}
    for label, pid in chosen:
        runs = results[(results["point"] == pid) & (results["status"].isin(["ok", "infeasible"]))]
        runs = (
            runs[runs.get("run_key", pd.Series(dtype=str)).astype(str) != ""]
            if "run_key" in runs
            else runs
        )
        if runs.empty:
            continue
        pops = ops[ops["run_key"].isin(runs["run_key"])].merge(
            runs[["run_key", "workload"]], on="run_key"
        )
        pops["weight"] = pops["workload"].map(weights).fillna(1.0)
        roofs_text = runs["roofs_json"].iloc[0] if "roofs_json" in runs else ""
        roofs = json.loads(roofs_text) if roofs_text else {}
        name = f"point {pid} ({label})"
        designs_roof.append((name, roofs, pops))
        prow = points[points["point"] == pid].iloc[0]
        metrics = {
            c: float(prow[c])
            for c in points.columns
            if (c.startswith("energy_") or c.startswith("bytes_")) and pd.notna(prow[c])
        }
        if not any(k.startswith("bytes_") for k in metrics):
            for c in runs.columns:
                if c.startswith("bytes_") or c.startswith("energy_memory_"):
                    metrics[c] = float(
                        (runs[c].fillna(0) * runs["workload"].map(weights).fillna(1.0)).sum()
                    )
        designs_break.append((name, pops, metrics))
    s = Section("Roofline of the chosen designs", "roofline")
    if designs_roof:
        fig, data = figs.roofline_figure(designs_roof)
        s.figures.append(
            (
                "roofline",
                "each op of each workload at its arithmetic intensity and achieved FLOP/s",
                w.figure("roofline", fig, data),
            )
        )
        s.paragraphs.append(
            "Chosen designs: " + "; ".join(f"point {p} = {lab}" for lab, p in chosen) + "."
        )
    else:
        s.warnings.append("no simulated design to draw")
    sections.append(s)
    s = Section("Latency and energy breakdowns of the chosen designs", "breakdown")
    if designs_break:
        for _, _ops, metrics in designs_break:
            for c in [
                c
                for c in points.columns
                if c.startswith("bytes_") or c.startswith("energy_memory_")
            ]:
                metrics.setdefault(c, 0.0)
        fig, data = figs.breakdown_figure(designs_break)
        s.figures.append(
            ("breakdown", "weighted over each design's workloads", w.figure("breakdown", fig, data))
        )
        top_ops = []
        for name, pops, _ in designs_break:
            t = (
                pops.assign(weighted_s=pops["total_latency_s"] * pops["weight"])
                .sort_values("weighted_s", ascending=False)
                .head(5)
            )
            for _, r in t.iterrows():
                top_ops.append(
                    {
                        "design": name,
                        "workload": r["workload"],
                        "op": r["name"],
                        "kind": r["kind"],
                        "bound": r["bound"],
                        "weighted time (ms)": _fmt(r["weighted_s"] * 1e3),
                    }
                )
        if top_ops:
            s.tables.append(
                ("Costliest ops of each chosen design", pd.DataFrame(top_ops).astype(str))
            )
    sections.append(s)

    # -- validation ------------------------------------------------------------------------
    if validation is not None:
        sections.append(_validation_section(Path(validation), w))

    doc = ReportDoc(
        title=f"Design-space report: {spec.get('name', 'sweep')}",
        subtitle=f"{summary.get('points', len(sweep_pts))} points over {spec.get('base_name', spec.get('base', ''))} "
        f"({spec.get('strategy', {}).get('kind', '')}); attnsim {summary.get('attnsim_version', '')}",
        sections=sections,
    )
    atomic_write(w.out / "index.md", render_markdown(doc), option="-o")
    html = render_html(
        doc, lambda png: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    )
    index = w.out / "index.html"
    atomic_write(index, html, option="-o")
    return index


def _validation_section(folder: Path, w: _Writer) -> Section:
    s = Section("Predicted vs measured (validation)", "validation")
    cases_path = folder / "cases.csv"
    sp_path = folder / "speedups.csv"
    if not cases_path.is_file():
        s.warnings.append(
            f"{one_line(cases_path)} not found: expected the folder of attnsim validate -o DIR"
        )
        return s
    cases = pd.read_csv(cases_path)
    need = {"measured_s", "predicted_s"}
    if not need <= set(cases.columns):
        s.warnings.append(
            f"{one_line(cases_path)} has no {', '.join(sorted(need - set(cases.columns)))} column"
        )
        return s
    fig, data = figs.validation_figure(cases)
    s.figures.append(
        ("validation", "time per call of each validation case", w.figure("validation", fig, data))
    )
    err = ((cases["predicted_s"] - cases["measured_s"]) / cases["measured_s"]).abs()
    s.paragraphs.append(
        f"{len(cases)} cases: median |error| {err.median():.1%}, 90th percentile {err.quantile(0.9):.1%}."
    )
    cols = [
        c
        for c in ("name", "kernel", "target", "measured_s", "predicted_s", "rel_error")
        if c in cases
    ]
    s.tables.append(("Cases", _display(cases[cols])))
    if sp_path.is_file():
        sp = pd.read_csv(sp_path)
        if {"variant", "measured_speedup", "predicted_speedup"} <= set(sp.columns) and len(sp):
            fig, data = figs.speedup_figure(sp)
            s.figures.append(
                (
                    "speedups",
                    "speedup of each sparse variant over dense attention on the same problem",
                    w.figure("speedups", fig, data),
                )
            )
            serr = (
                (sp["predicted_speedup"] - sp["measured_speedup"]) / sp["measured_speedup"]
            ).abs()
            s.paragraphs.append(f"{len(sp)} speedups: median |error| {serr.median():.1%}.")
            cols = [
                c
                for c in ("variant", "dense", "measured_speedup", "predicted_speedup", "rel_error")
                if c in sp
            ]
            s.tables.append(("Speedups over dense", _display(sp[cols])))
    return s
