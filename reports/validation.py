"""Validation outputs: the cases table (CSV) and a predicted-vs-measured scatter plot.

Takes plain pandas frames so reports never depend on how validation was run."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from attnsim.fileio import atomic_output, output_folder  # noqa: E402


def write_validation(
    cases: pd.DataFrame,
    speedups: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    option: str = "output folder",
) -> list[Path]:
    """Write ``cases.csv``, ``speedups.csv`` and ``pred_vs_meas.png`` into ``out_dir``.

    ``cases`` needs columns ``name, measured_s, predicted_s, rel_error``; ``speedups``
    ``variant, measured_speedup, predicted_speedup``. Returns the paths written.
    ``out_dir`` is created if missing, its parents never; every file is written through
    :func:`attnsim.fileio.atomic_output`, and a destination that cannot be written is an
    :class:`~attnsim.errors.OutputFileError` naming ``option``.
    """
    out = output_folder(out_dir, option=option)
    paths = [out / "cases.csv", out / "speedups.csv", out / "pred_vs_meas.png"]
    for frame, path in ((cases, paths[0]), (speedups, paths[1])):
        with atomic_output(path, "w", option=option, newline="") as f:
            frame.to_csv(f, index=False)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    ax = axes[0]
    ms = cases["measured_s"] * 1e3
    ps = cases["predicted_s"] * 1e3
    ax.scatter(ms, ps, s=18)
    lo, hi = float(min(ms.min(), ps.min())) * 0.8, float(max(ms.max(), ps.max())) * 1.25
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = measured")
    ax.fill_between(
        [lo, hi], [lo * 0.85, hi * 0.85], [lo * 1.15, hi * 1.15], color="0.9", label="±15%"
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="measured (ms)",
        ylabel="predicted (ms)",
        title="time per call",
    )
    ax.legend(loc="upper left")
    ax = axes[1]
    if len(speedups):
        ax.scatter(speedups["measured_speedup"], speedups["predicted_speedup"], s=18, color="C1")
        top = (
            float(max(speedups["measured_speedup"].max(), speedups["predicted_speedup"].max()))
            * 1.1
        )
        ax.plot([1, top], [1, top], "k--", lw=1)
        ax.fill_between([1, top], [0.85, top * 0.85], [1.15, top * 1.15], color="0.9")
    ax.set(
        xlabel="measured speedup over dense",
        ylabel="predicted speedup",
        title="speedups of sparse variants",
    )
    fig.tight_layout()
    try:
        with atomic_output(paths[2], "wb", option=option) as f:
            fig.savefig(f, format="png", dpi=120)
    finally:
        plt.close(fig)
    return paths
