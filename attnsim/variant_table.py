"""The variants table: each variant of :data:`workloads.variants.VARIANTS` with its paper,
IR, generator command, lowering families and predicted speedup over its baseline.

A speedup is ``baseline latency / variant latency`` on a target, both predicted by
:func:`attnsim.api.simulate` for one run of the variant's workload (routing and search
ops included) and of its baseline at the same sizes. A target that cannot lower one of
the two (no kernel family for an op) gives ``None`` with the target's reason in ``not_run``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from attnsim.hwconfigs import Hardware, load_hardware
from attnsim.sim import simulate
from attnsim.sim.lowering import LoweringError
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.variants import VARIANTS, Variant, list_variants
from attnsim.workloads.workload import Workload

__all__ = [
    "DEFAULT_SEQS",
    "DEFAULT_TARGETS",
    "VariantRow",
    "target_lengths",
    "sizes_at",
    "variant_rows",
]

#: Sequence lengths of the table (perfect squares, so 2-D neighborhoods are square grids).
DEFAULT_SEQS: tuple[int, ...] = (4096, 16384, 65536)
#: The datacenter GPU and the ternary edge accelerator; ``NAME@S1+S2`` limits a target to
#: those lengths (the edge chip's 120 KB of SRAM makes its long runs slow to simulate and
#: far from its use: 4k tokens there take as long to simulate as the H100's three lengths),
#: so the edge chip is shown at the short contexts it is built for (perfect squares, as
#: for the H100, so 2-D neighborhoods are square grids).
DEFAULT_TARGETS: tuple[str, ...] = ("h100-sxm5-80gb", "vitallm-16nm@1024+2304+4096")


def target_lengths(targets: Iterable[str], seqs: Sequence[int]) -> dict[str, list[int]]:
    """Target name -> sequence lengths, from entries ``NAME`` (every length of ``seqs``)
    or ``NAME@S1+S2`` (its own lengths)."""
    out: dict[str, list[int]] = {}
    for item in targets:
        name, at, own = item.partition("@")
        if at:
            try:
                lengths = [int(x) for x in own.split("+")]
            except ValueError:
                lengths = []
            if not lengths or min(lengths) < 1:
                raise WorkloadError(
                    [
                        f"--targets: {item!r}: expected NAME or NAME@LENGTH+LENGTH, e.g. vitallm-16nm@4096"
                    ]
                )
        else:
            lengths = list(seqs)
        out[name] = lengths
    return out


@dataclass(frozen=True)
class VariantRow:
    """One variant: description plus ``speedup[target][seq]`` (None where the target cannot run it)."""

    name: str
    title: str
    paper: str
    ir: str
    command: str
    families: tuple[str, ...]
    cpu_families: tuple[str, ...]
    baseline: str
    zoo: tuple[str, ...]
    speedup: dict[str, dict[int, float | None]] = field(default_factory=dict)
    #: ``seconds[target][seq] = (baseline s, variant s)`` where both were predicted
    seconds: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (speedups keyed by target, then by sequence length as a string)."""
        return {
            "name": self.name,
            "title": self.title,
            "paper": self.paper,
            "ir": self.ir,
            "command": self.command,
            "families": list(self.families),
            "cpu_families": list(self.cpu_families),
            "baseline": self.baseline,
            "zoo": list(self.zoo),
            "speedup": {t: {str(s): v for s, v in by.items()} for t, by in self.speedup.items()},
            "not_run": dict(self.not_run),
        }


def sizes_at(v: Variant, seq: int) -> dict[str, Any]:
    """The variant's default parameters at ``seq`` tokens (a square grid for 2-D ones)."""
    args = v.defaults()
    if "spatial" in args:
        side = math.isqrt(seq)
        args["spatial"] = f"{side}x{side}"
    else:
        args["seq"] = seq
    return args


def _latency(hw: Hardware, w: Workload, memo: dict[Any, float], family: str | None = None) -> float:
    """Predicted seconds of one run; memoised by the ops (baselines repeat across rows)."""
    key = (hw.name, family, tuple(op for _, op in w.flat()))
    if key not in memo:
        memo[key] = simulate(hw, w, family=family, check_capacity=False).latency_s
    return memo[key]


def variant_rows(
    names: Iterable[str] | None = None,
    targets: Sequence[str] = DEFAULT_TARGETS,
    seqs: Sequence[int] = DEFAULT_SEQS,
    *,
    speedups: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[VariantRow]:
    """The table (see module docstring); ``names`` None means every variant.
    ``progress`` gets each variant's name before its speedups are simulated."""
    chosen = (
        list_variants() if names is None else [VARIANTS.lookup(n, where="variant") for n in names]
    )
    lengths = target_lengths(targets, seqs)
    hws = {t: load_hardware(t) for t in lengths} if speedups else {}
    rows = []
    memo: dict[Any, float] = {}
    for v in chosen:
        if progress is not None and speedups:
            progress(v.name)
        row = VariantRow(
            name=v.name,
            title=v.title,
            paper=v.paper,
            ir=v.ir,
            command=v.command(),
            families=v.families,
            cpu_families=v.cpu_families,
            baseline=v.baseline_label,
            zoo=v.zoo,
        )
        for t, hw in hws.items():
            by: dict[int, float | None] = {}
            secs: dict[int, tuple[float, float]] = {}
            for s in lengths[t]:
                args = sizes_at(v, s)
                try:
                    base = _latency(hw, v.baseline(**args), memo)
                    var = _latency(hw, v.build(**args), memo)
                except (LoweringError, WorkloadError) as exc:
                    by[s] = None
                    row.not_run.setdefault(t, str(exc).splitlines()[0])
                    continue
                by[s] = float(base / var)
                secs[s] = (float(base), float(var))
            row.speedup[t] = by
            row.seconds[t] = secs
        rows.append(row)
    return rows
