"""The numbers behind the design-space report: Pareto fronts, the knee, best designs,
and the sensitivity of each objective to each swept parameter.

Pure functions of pandas frames (the sweep's ``points`` table); no plotting here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "pareto_mask",
    "knee_index",
    "Sensitivity",
    "sensitivity",
    "best_designs",
]


def _oriented(values: np.ndarray, direction: str) -> np.ndarray:
    """Values turned so that smaller is better."""
    return values if direction == "minimize" else -values


def pareto_mask(x: Sequence[float], y: Sequence[float], dx: str, dy: str) -> np.ndarray:
    """Which points are on the Pareto front of (x, y) under the directions ``dx``/``dy``
    (``minimize``/``maximize``): no other point is at least as good in both and better
    in one. Duplicated optimal points are all on the front. NaNs never are."""
    a = _oriented(np.asarray(x, dtype=float), dx)
    b = _oriented(np.asarray(y, dtype=float), dy)
    ok = np.isfinite(a) & np.isfinite(b)
    out = np.zeros(len(a), dtype=bool)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return out
    order = idx[np.lexsort((b[idx], a[idx]))]  # by a, then b
    best_b = math.inf
    last_a = None
    last_b = None
    for i in order:
        if b[i] < best_b or (a[i] == last_a and b[i] == last_b):
            out[i] = True
            if b[i] < best_b:
                best_b = b[i]
            last_a, last_b = a[i], b[i]
    return out


def knee_index(x: Sequence[float], y: Sequence[float], dx: str, dy: str) -> int | None:
    """The knee of a front (positions into ``x``/``y``, which hold the front's points):
    after scaling both objectives to [0, 1], the point farthest from the line through
    the two extremes (with fewer than three distinct points, the one nearest the ideal
    corner). None for an empty front."""
    if len(x) == 0:
        return None
    a = _oriented(np.asarray(x, dtype=float), dx)
    b = _oriented(np.asarray(y, dtype=float), dy)
    span_a = a.max() - a.min() or 1.0
    span_b = b.max() - b.min() or 1.0
    na, nb = (a - a.min()) / span_a, (b - b.min()) / span_b
    if len({(float(p), float(q)) for p, q in zip(na, nb, strict=True)}) < 3:
        return int(np.argmin(np.hypot(na, nb)))
    i0, i1 = int(np.argmin(na)), int(np.argmin(nb))
    p0 = np.array([na[i0], nb[i0]])
    p1 = np.array([na[i1], nb[i1]])
    d = p1 - p0
    norm = math.hypot(*d) or 1.0
    dist = np.abs(d[0] * (nb - p0[1]) - d[1] * (na - p0[0])) / norm
    return int(np.argmax(dist))


@dataclass(frozen=True)
class Sensitivity:
    """Sensitivity of objectives to swept parameters.

    Attributes:
        effect: parameter column x objective column -> relative main effect: the range
            of the objective's mean over the parameter's levels, over the objective's
            mean (0.25 = moving the parameter moves the objective by 25% on average).
        rank_corr: Spearman rank correlation (numeric parameters; NaN otherwise).
        no_effect: parameters that change no objective at all (checked on points that
            differ only in that parameter when there are any, else by a zero effect).
    """

    effect: pd.DataFrame
    rank_corr: pd.DataFrame
    no_effect: tuple[str, ...]


def _equal(values: pd.Series) -> bool:
    v = values.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return True
    return bool(np.allclose(v, v[0], rtol=1e-9, atol=0.0))


def sensitivity(
    points: pd.DataFrame, params: Sequence[str], objectives: Sequence[str]
) -> Sensitivity:
    """:class:`Sensitivity` of ``objectives`` (columns) to ``params`` (columns) over
    ``points`` (rows with finite objectives)."""
    effect = pd.DataFrame(index=list(params), columns=list(objectives), dtype=float)
    corr = pd.DataFrame(index=list(params), columns=list(objectives), dtype=float)
    no_effect: list[str] = []
    for p in params:
        changes_any = False
        others = [q for q in params if q != p]
        for o in objectives:
            df = points[[p, o, *others]].dropna(subset=[o])
            if df.empty or df[p].nunique() < 2:
                effect.loc[p, o] = math.nan
                continue
            means = df.groupby(p)[o].mean()
            overall = abs(df[o].mean()) or 1.0
            effect.loc[p, o] = float((means.max() - means.min()) / overall)
            if pd.api.types.is_numeric_dtype(df[p]):
                corr.loc[p, o] = float(df[p].rank().corr(df[o].rank()))
            if others:
                groups = [g for _, g in df.groupby(others, dropna=False) if g[p].nunique() >= 2]
            else:
                groups = [df]
            if groups:
                if any(not _equal(g[o]) for g in groups):
                    changes_any = True
            elif effect.loc[p, o] > 1e-9:
                changes_any = True
        if not changes_any and points[p].nunique() >= 2:
            no_effect.append(p)
    return Sensitivity(effect, corr, tuple(no_effect))


def best_designs(
    points: pd.DataFrame, objectives: Mapping[str, tuple[str, str]], top: int = 3
) -> dict[str, pd.DataFrame]:
    """For each objective name -> (column, direction): the ``top`` feasible points,
    best first (ties broken by point id)."""
    out = {}
    for name, (col, direction) in objectives.items():
        if col not in points:
            continue
        df = points[np.isfinite(points[col].astype(float))]
        df = df.sort_values([col, "point"], ascending=[direction == "minimize", True])
        out[name] = df.head(top)
    return out
