"""The report's figures (matplotlib, Agg). Each function draws one figure and returns
it with the data it plots (axis labels, series of x/y values and the point ids), which
the report writes beside the PNG as JSON so a test or a reader can check every plotted
point against the tables."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "FigureData",
    "pareto_figure",
    "roofline_figure",
    "sensitivity_figure",
    "breakdown_figure",
    "validation_figure",
    "speedup_figure",
]

FigureData = dict[str, Any]

_DESIGN_COLORS = ("C0", "C1", "C2", "C3", "C4")


def _floats(values: Any) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        f = float(v)
        out.append(f if math.isfinite(f) else None)
    return out


def axis_label(name: str, unit: str) -> str:
    """``latency (s)``."""
    return f"{name} ({unit})" if unit else name


def pareto_figure(
    points: pd.DataFrame,
    x: tuple[str, str, str, str],
    y: tuple[str, str, str, str],
    front: np.ndarray,
    knee: int | None,
    base: int | None,
) -> tuple[Figure, FigureData]:
    """Every point of (x, y): infeasible ones grey, the front highlighted and joined, the
    knee and the base design marked. ``x``/``y`` = (name, column, unit, direction);
    ``front`` a mask over ``points``; ``knee``/``base`` point ids (or None)."""
    xn, xc, xu, xd = x
    yn, yc, yu, yd = y
    fig, ax = plt.subplots(figsize=(9.5, 5.2))
    feasible = points["feasible"].to_numpy(dtype=bool)
    data: FigureData = {
        "title": f"Pareto front: {xn} vs {yn}",
        "xlabel": axis_label(xn, xu),
        "ylabel": axis_label(yn, yu),
        "series": [],
    }

    def add(mask: np.ndarray, label: str, **kw: Any) -> None:
        sub = points[mask]
        if sub.empty:
            return
        ax.scatter(sub[xc], sub[yc], label=label, **kw)
        data["series"].append(
            {
                "label": label,
                "point": [int(p) for p in sub["point"]],
                "x": _floats(sub[xc]),
                "y": _floats(sub[yc]),
            }
        )

    add(~feasible, "infeasible (breaks a constraint or fails)", s=14, color="0.75", marker="x")
    add(feasible & ~front, "feasible", s=16, color="C0", alpha=0.55)
    add(front, "Pareto front", s=46, color="C3", edgecolor="k", linewidth=0.6, zorder=3)
    fr = points[front].sort_values(xc)
    if len(fr) > 1:
        ax.plot(fr[xc], fr[yc], color="C3", lw=1.2, zorder=2)
    for pid, label, marker, color in ((knee, "knee", "*", "gold"), (base, "base design", "D", "k")):
        if pid is None:
            continue
        row = points[points["point"] == pid]
        if row.empty:
            continue
        ax.scatter(
            row[xc],
            row[yc],
            s=190 if marker == "*" else 70,
            marker=marker,
            color=color,
            edgecolor="k",
            zorder=4,
            label=f"{label} (point {pid})",
        )
        data["series"].append(
            {"label": label, "point": [int(pid)], "x": _floats(row[xc]), "y": _floats(row[yc])}
        )
    ax.set_xlabel(data["xlabel"])
    ax.set_ylabel(data["ylabel"])
    ax.set_title(
        data["title"]
        + f"  ({'lower' if xd == 'minimize' else 'higher'} / {'lower' if yd == 'minimize' else 'higher'} is better)",
        fontsize=10,
    )
    _logscale_if_wide(ax, points[xc], "x")
    _logscale_if_wide(ax, points[yc], "y")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig, data


def _logscale_if_wide(ax: Any, values: pd.Series, which: str) -> None:
    v = values.to_numpy(dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) and v.max() / v.min() > 50:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")


def _rate(value: float, unit: str) -> str:
    """``value`` with an SI prefix (768 GFLOP/s, 51.2 GB/s, 3.35 TB/s)."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def roofline_figure(
    designs: Sequence[tuple[str, Mapping[str, Any], pd.DataFrame]],
) -> tuple[Figure, FigureData]:
    """Rooflines of the chosen designs with their ops placed on them.

    ``designs``: (label, roofs, ops) where roofs is ``{"compute_flop_per_s": {prec:
    peak}, "memory_b_per_s": {level: bandwidth}}`` and ops has ``flops``,
    ``latency_s``, ``bytes_<level>_b``, ``kind``. An op sits at (FLOP per byte of the
    farthest memory level (``roofs["dram"]``), achieved FLOP/s)."""
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    data: FigureData = {
        "title": "Roofline of the chosen designs (ops placed by arithmetic intensity)",
        "xlabel": "arithmetic intensity (FLOP per byte of DRAM traffic)",
        "ylabel": "achieved (FLOP/s)",
        "series": [],
        "roofs": [],
    }
    xs_all: list[float] = []
    for i, (label, roofs, ops) in enumerate(designs):
        color = _DESIGN_COLORS[i % len(_DESIGN_COLORS)]
        memory = roofs.get("memory_b_per_s", {})
        compute = roofs.get("compute_flop_per_s", {})
        if not memory or not compute:
            continue
        # the farthest level (recorded since 2026-12-01); older results: the slowest
        dram = roofs.get("dram") if roofs.get("dram") in memory else None
        dram = dram or min(memory, key=lambda k: memory[k])
        peak = max(compute.values())
        col = f"bytes_{dram}_b"
        sub = ops[(ops["flops"] > 0) & (ops["latency_s"] > 0)]
        if col in sub:
            sub = sub[sub[col] > 0]
            ai = (sub["flops"] / sub[col]).to_numpy(dtype=float)
            perf = (sub["flops"] / sub["latency_s"]).to_numpy(dtype=float)
        else:
            ai = perf = np.array([])
        xs_all += list(ai)
        ax.scatter(
            ai,
            perf,
            s=28,
            color=color,
            edgecolor="k",
            linewidth=0.4,
            alpha=0.8,
            label=f"{label}: ops",
        )
        data["series"].append(
            {
                "label": label,
                "x": _floats(ai),
                "y": _floats(perf),
                "op": [str(n) for n in sub.get("name", [])],
                "kind": [str(k) for k in sub.get("kind", [])],
            }
        )
        data["roofs"].append(
            {"label": label, "peak_flop_per_s": peak, "dram": dram, "dram_b_per_s": memory[dram]}
        )
        lo = 1e-2
        hi = 1e5
        grid = np.logspace(math.log10(lo), math.log10(hi), 200)
        ax.plot(
            grid,
            np.minimum(peak, grid * memory[dram]),
            color=color,
            lw=1.4,
            label=f"{label}: {_rate(peak, 'FLOP/s')}, {dram} {_rate(memory[dram], 'B/s')}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(data["xlabel"])
    ax.set_ylabel(data["ylabel"])
    ax.set_title(data["title"], fontsize=10)
    if xs_all:
        finite = [v for v in xs_all if math.isfinite(v) and v > 0]
        if finite:
            ax.set_xlim(min(finite) / 3, max(finite) * 3)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig, data


def sensitivity_figure(
    effect: pd.DataFrame, corr: pd.DataFrame, no_effect: Sequence[str]
) -> tuple[Figure, FigureData]:
    """A heat map: rows = swept parameters, columns = objectives, cells = relative main
    effect (%), signed by the rank correlation; parameters that change nothing flagged."""
    signed = effect.copy()
    for p in effect.index:
        for o in effect.columns:
            c = corr.loc[p, o]
            if isinstance(c, float) and math.isfinite(c) and c < 0:
                signed.loc[p, o] = -effect.loc[p, o]
    values = signed.to_numpy(dtype=float) * 100
    fig, ax = plt.subplots(
        figsize=(1.6 + 1.35 * len(effect.columns), 1.2 + 0.55 * len(effect.index))
    )
    vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    im = ax.imshow(values, cmap="RdBu_r", vmin=-vmax or -1, vmax=vmax or 1, aspect="auto")
    ax.set_xticks(
        range(len(effect.columns)),
        [str(c) for c in effect.columns],
        rotation=30,
        ha="right",
        fontsize=8,
    )
    ylabels = [f"{p}{'  (no effect!)' if p in no_effect else ''}" for p in effect.index]
    ax.set_yticks(range(len(effect.index)), ylabels, fontsize=8)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            dark = math.isfinite(v) and abs(v) > 0.6 * vmax
            ax.text(
                j,
                i,
                "-" if not math.isfinite(v) else f"{v:+.1f}%",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    fig.colorbar(im, ax=ax, label="main effect (% of mean)")
    ax.set_title("Sensitivity of each objective to each swept parameter", fontsize=10)
    fig.tight_layout()
    data: FigureData = {
        "title": "sensitivity",
        "xlabel": "objective",
        "ylabel": "swept parameter",
        "params": list(map(str, effect.index)),
        "objectives": list(map(str, effect.columns)),
        "effect_percent": [
            [None if not math.isfinite(v) else float(v) for v in row] for row in values
        ],
        "no_effect": list(no_effect),
    }
    return fig, data


def breakdown_figure(
    designs: Sequence[tuple[str, pd.DataFrame, Mapping[str, float]]],
) -> tuple[Figure, FigureData]:
    """For each chosen design: latency by op kind, energy by component and memory
    level, and bytes by memory level (stacked bars, weighted over its workloads).

    ``designs``: (label, ops with ``kind``/``total_latency_s``/``weight``, metrics of the
    point: ``energy_compute_j``, ``energy_static_j``, ``energy_memory_<level>_j``,
    ``bytes_<level>_b``)."""
    labels = [d[0] for d in designs]
    fig, axes = plt.subplots(1, 3, figsize=(13, 5.6))
    data: FigureData = {
        "title": "breakdowns of the chosen designs",
        "designs": labels,
        "panels": {},
    }

    def stacked(ax: Any, table: pd.DataFrame, title: str, ylabel: str) -> None:
        bottom = np.zeros(len(table.index))
        for j, col in enumerate(table.columns):
            vals = table[col].to_numpy(dtype=float)
            ax.bar(
                range(len(table.index)),
                vals,
                bottom=bottom,
                label=str(col),
                color=plt.cm.tab20(j % 20),
            )
            bottom += np.nan_to_num(vals)
        ax.set_xticks(
            range(len(table.index)),
            [str(i) for i in table.index],
            rotation=20,
            ha="right",
            fontsize=8,
        )
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.legend(
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False
        )
        data["panels"][title] = {
            "ylabel": ylabel,
            "segments": {str(c): _floats(table[c]) for c in table.columns},
        }

    combos = {
        (wl, k) for _, ops, _ in designs for wl, k in zip(ops["workload"], ops["kind"], strict=True)
    }
    by_workload = len(combos) <= 10 and len({wl for wl, _ in combos}) > 1
    lat = pd.DataFrame(
        {
            lab: ops.assign(
                w=ops["total_latency_s"] * ops["weight"],
                seg=(ops["workload"] + " · " + ops["kind"]) if by_workload else ops["kind"],
            )
            .groupby("seg")["w"]
            .sum()
            for lab, ops, _ in designs
        }
    ).T.fillna(0.0)
    stacked(
        axes[0],
        lat * 1e3,
        "latency by workload and op kind" if by_workload else "latency by op kind",
        "weighted time (ms)",
    )
    energy_rows, bytes_rows = {}, {}
    for lab, _, m in designs:
        e = {"compute": m.get("energy_compute_j", 0.0), "static": m.get("energy_static_j", 0.0)}
        e.update(
            {
                k[len("energy_memory_") : -2]: v
                for k, v in m.items()
                if k.startswith("energy_memory_") and k != "energy_memory_j"
            }
        )
        energy_rows[lab] = e
        bytes_rows[lab] = {k[len("bytes_") : -2]: v for k, v in m.items() if k.startswith("bytes_")}
    stacked(
        axes[1],
        pd.DataFrame(energy_rows).T.fillna(0.0),
        "energy by component / memory level",
        "weighted energy (J)",
    )
    stacked(
        axes[2],
        pd.DataFrame(bytes_rows).T.fillna(0.0) / 1e9,
        "bytes by memory level",
        "weighted traffic (GB)",
    )
    fig.tight_layout()
    return fig, data


def validation_figure(cases: pd.DataFrame) -> tuple[Figure, FigureData]:
    """Predicted vs measured time per call (log-log, with y = x and a ±15% band)."""
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    ms = cases["measured_s"].to_numpy(dtype=float) * 1e3
    ps = cases["predicted_s"].to_numpy(dtype=float) * 1e3
    ax.scatter(ms, ps, s=22, color="C0", edgecolor="k", linewidth=0.4)
    lo = float(np.nanmin(np.r_[ms, ps])) * 0.8
    hi = float(np.nanmax(np.r_[ms, ps])) * 1.25
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = measured")
    ax.fill_between(
        [lo, hi], [lo * 0.85, hi * 0.85], [lo * 1.15, hi * 1.15], color="0.9", label="±15%"
    )
    ax.set(xscale="log", yscale="log", xlabel="measured (ms)", ylabel="predicted (ms)")
    ax.set_title("Predicted vs measured time per call", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    names = [str(n) for n in cases.get("name", range(len(cases)))]
    return fig, {
        "title": "predicted vs measured",
        "xlabel": "measured (ms)",
        "ylabel": "predicted (ms)",
        "series": [{"label": "cases", "name": names, "x": _floats(ms), "y": _floats(ps)}],
    }


def speedup_figure(speedups: pd.DataFrame) -> tuple[Figure, FigureData]:
    """Measured and predicted speedup over dense attention, side by side per variant."""
    n = len(speedups)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * n + 2), 4.6))
    idx = np.arange(n)
    meas = speedups["measured_speedup"].to_numpy(dtype=float)
    pred = speedups["predicted_speedup"].to_numpy(dtype=float)
    ax.bar(idx - 0.2, meas, width=0.4, label="measured", color="C0")
    ax.bar(idx + 0.2, pred, width=0.4, label="predicted", color="C1")
    ax.axhline(1.0, color="k", lw=0.8)
    names = [str(v) for v in speedups["variant"]]
    ax.set_xticks(idx, names, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("speedup over dense (x)")
    ax.set_title("Speedups of sparse variants: measured vs predicted", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, {
        "title": "speedups",
        "xlabel": "variant",
        "ylabel": "speedup over dense (x)",
        "variants": names,
        "measured": _floats(meas),
        "predicted": _floats(pred),
    }


def dump_data(data: FigureData) -> str:
    """The figure data as JSON text."""
    return json.dumps(data, indent=1, allow_nan=False)
