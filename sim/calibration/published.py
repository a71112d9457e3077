"""Published GPU kernel measurements: attnsim's held-out validation set.

``published_kernels.yaml`` (next to this module) holds measurements of attention kernels
and GEMMs that others published for A100, H100, H200 and B200: each with its GPU, kernel
and version, exact problem, dtype, the figure as published (a time, or TFLOP/s with the
publisher's FLOP-counting convention), how it was read, and its source. It also names
pairs of entries whose ratio is a published sparse-vs-dense speedup.

**No constant is ever fitted to these figures.** Constants come only from micro-benchmarks
(``published_microbenchmarks.yaml``, :mod:`attnsim.sim.calibration.fit`); this set only
judges the model afterwards.

This module loads the file (every field checked, unknown keys refused with the accepted
keys, all problems reported together as one line each ``FILE: key.path: what; expected``)
into frozen dataclasses, and converts an entry to

* seconds per call (:func:`entry_seconds`), exactly, using the publisher's FLOP
  convention when the figure is a rate (:func:`published_flops`);
* an attnsim workload op (:func:`entry_op`): an :class:`~attnsim.workloads.ops.AttentionOp`
  with the entry's :class:`~attnsim.workloads.spec.AttentionSpec` and mask, or a
  :class:`~attnsim.workloads.ops.GemmOp`.

An entry the IR cannot express carries ``expressible: false`` and a reason; it is kept,
never dropped, and :func:`entry_op` refuses it with that reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from attnsim.workloads.dtypes import check_dtype
from attnsim.workloads.errors import WorkloadError, unknown_key
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SlidingWindowMask,
    mask_from_dict,
)
from attnsim.workloads.ops import AttentionOp, GemmOp, Op
from attnsim.workloads.spec import PHASES, AttentionSpec

from attnsim.errors import ProblemsError, one_line
from attnsim.fileio import read_input_text

__all__ = [
    "BUNDLED_FILE",
    "FLOP_CONVENTIONS",
    "KIND_TAGS",
    "READING_METHODS",
    "TARGETS",
    "TIME_UNITS",
    "AttentionProblem",
    "GemmProblem",
    "Gpu",
    "Kernel",
    "Measured",
    "PublishedDataError",
    "PublishedEntry",
    "PublishedSet",
    "PublishedSpeedup",
    "Reading",
    "Source",
    "entry_kinds",
    "entry_op",
    "entry_seconds",
    "load_published_kernels",
    "published_flops",
    "speedup_measured",
]

#: The bundled data file, next to this module.
BUNDLED_FILE = "published_kernels.yaml"
#: File format version this loader reads.
VERSION = 1
#: Bundled GPU targets an entry may map to (``target: null`` when none fits).
TARGETS: tuple[str, ...] = ("a100-sxm4-80gb", "h100-sxm5-80gb", "h200-sxm-141gb", "b200")
#: Seconds per unit of a published time.
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
#: The rate unit; a rate needs a FLOP convention to become a time.
RATE_UNIT = "TFLOP/s"
#: How the publisher counted FLOPs when the figure is a rate (``B`` batch, ``Hq`` query
#: heads, ``Sq``/``Sk`` query/key lengths, ``d_qk``/``d_v`` head dims).
FLOP_CONVENTIONS: dict[str, str] = {
    "fa_causal_half": (
        "FlashAttention papers, forward: 2*B*Hq*Sq*Sk*(d_qk+d_v) (= 4*B*H*S^2*d), halved for a "
        "causal mask (S^2/2 pairs, not S(S+1)/2)"
    ),
    "fa_fwd_bwd_3p5x": (
        "FlashAttention benchmark script, forward + backward: 3.5 x the fa_causal_half forward count"
    ),
    "exact_live_pairs": (
        "2*B*Hq*live_pairs*(d_qk+d_v), live pairs counted exactly (attnsim's AttentionOp.flops())"
    ),
    "gemm_2mnk": "2*batch*m*n*k",
}
#: How a figure was read off its source.
READING_METHODS: dict[str, str] = {
    "bar_label": "the number printed on a bar of a chart",
    "table_cell": "a cell of a table in the text",
    "csv_cell": "a cell of a published CSV file",
    "profiler_log": "a row of a published profiler table",
    "log_text": "a number in a published log or message",
    "plot": "estimated from a plot (uncertainty > 0 required)",
}
#: Coverage tags :func:`entry_kinds` gives (the test asserts each is present).
KIND_TAGS: tuple[str, ...] = (
    "dense",
    "causal",
    "gqa",
    "mqa",
    "sliding_window",
    "neighborhood",
    "neighborhood_1d",
    "neighborhood_2d",
    "neighborhood_3d",
    "strided_neighborhood",
    "block_sparse",
    "decode",
    "gemm",
)
_PASSES = ("forward", "forward_backward")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class PublishedDataError(ProblemsError):
    """A published-data file that cannot be used; one line per problem."""


# --------------------------------------------------------------------------------------
# Frozen records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a figure comes from: the document and the place in it (``where``)."""

    key: str
    title: str
    authors: str
    year: int
    url: str
    where: str
    copy_read: str | None = None


@dataclass(frozen=True)
class Gpu:
    """The GPU as the source names it (``part``) and the bundled target it maps to
    (``None`` when no target fits; ``note`` then says why)."""

    part: str
    target: str | None
    note: str | None = None


@dataclass(frozen=True)
class Kernel:
    """The kernel (FlashAttention-3, cuDNN SDPA, cuBLAS, ...) and its version."""

    name: str
    version: str


@dataclass(frozen=True)
class AttentionProblem:
    """An attention call: the attnsim spec (sizes, phase, mask) and which pass was timed."""

    spec: AttentionSpec
    pass_: str = "forward"


@dataclass(frozen=True)
class GemmProblem:
    """``batch`` products ``C[m,n] = A[m,k] @ B[k,n]``; ``weight_operand`` as in GemmOp."""

    m: int
    n: int
    k: int
    batch: int = 1
    weight_operand: str | None = None


@dataclass(frozen=True)
class Measured:
    """The figure as published: ``value`` in ``unit`` (a time, or TFLOP/s counted with
    ``flop_convention``)."""

    value: float
    unit: str
    flop_convention: str | None = None


@dataclass(frozen=True)
class Reading:
    """How the figure was read; ``uncertainty`` is absolute, in the figure's unit."""

    method: str
    uncertainty: float


@dataclass(frozen=True)
class PublishedEntry:
    """One published measurement (see the module docstring)."""

    id: str
    gpu: Gpu
    kernel: Kernel
    problem: AttentionProblem | GemmProblem
    dtype: str
    measured: Measured
    reading: Reading
    source: Source
    expressible: bool
    reason: str | None = None
    caveat: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class PublishedSpeedup:
    """A published speedup of ``sparse`` over ``dense`` (entry ids on the same GPU);
    ``published`` is the figure the source prints, when it prints one."""

    id: str
    sparse: str
    dense: str
    published: float | None = None
    source: Source | None = None
    notes: str | None = None


@dataclass(frozen=True)
class PublishedSet:
    """All entries and speedups of one file."""

    version: int
    path: str
    entries: tuple[PublishedEntry, ...]
    speedups: tuple[PublishedSpeedup, ...]

    def entry(self, entry_id: str) -> PublishedEntry:
        """The entry ``entry_id`` (KeyError when absent)."""
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)

    def expressible(self) -> tuple[PublishedEntry, ...]:
        """Entries attnsim can express as a workload op."""
        return tuple(e for e in self.entries if e.expressible)

    def for_target(self, target: str) -> tuple[PublishedEntry, ...]:
        """Entries measured on a GPU that maps to ``target``."""
        return tuple(e for e in self.entries if e.gpu.target == target)

    def coverage(self) -> dict[tuple[str, str], int]:
        """Expressible entries per (kind tag, target), for the coverage table."""
        out: dict[tuple[str, str], int] = {}
        for e in self.expressible():
            if e.gpu.target is None:
                continue
            for tag in entry_kinds(e):
                out[(tag, e.gpu.target)] = out.get((tag, e.gpu.target), 0) + 1
        return out


# --------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------


def _fa_forward_flops(spec: AttentionSpec) -> float:
    """FlashAttention papers' forward count: dense pairs, halved when causal."""
    dense = 2.0 * spec.batch * spec.q_heads * spec.q_len * spec.kv_len
    dense *= spec.head_dim_qk + spec.head_dim_v
    return dense * (0.5 if isinstance(spec.mask, CausalMask) else 1.0)


def published_flops(entry: PublishedEntry) -> float:
    """FLOPs of one call as the publisher counted them (``measured.flop_convention``).

    Raises :class:`PublishedDataError` when the entry's figure is a time (no convention).
    """
    conv = entry.measured.flop_convention
    p = entry.problem
    if conv == "gemm_2mnk" and isinstance(p, GemmProblem):
        return 2.0 * p.batch * p.m * p.n * p.k
    if isinstance(p, AttentionProblem):
        if conv == "fa_causal_half":
            return _fa_forward_flops(p.spec)
        if conv == "fa_fwd_bwd_3p5x":
            return 3.5 * _fa_forward_flops(p.spec)
        if conv == "exact_live_pairs":
            s = p.spec
            return 2.0 * s.batch * s.q_heads * s.live_pairs * (s.head_dim_qk + s.head_dim_v)
    raise PublishedDataError(
        f"{entry.id}: measured.flop_convention: {conv!r} does not apply to this entry; "
        f"expected a rate entry with one of {', '.join(FLOP_CONVENTIONS)}"
    )


def entry_seconds(entry: PublishedEntry) -> float:
    """Seconds per call: the published time, or the publisher's FLOPs / the published rate."""
    m = entry.measured
    if m.unit in TIME_UNITS:
        return m.value * TIME_UNITS[m.unit]
    return published_flops(entry) / (m.value * 1e12)


def entry_op(entry: PublishedEntry) -> Op:
    """The attnsim op of an expressible entry (AttentionOp or GemmOp, named by the id)."""
    if not entry.expressible:
        raise PublishedDataError(f"{entry.id}: not expressible in attnsim's IR: {entry.reason}")
    p = entry.problem
    if isinstance(p, GemmProblem):
        return GemmOp(
            entry.id,
            entry.dtype,
            m=p.m,
            n=p.n,
            k=p.k,
            batch=p.batch,
            weight_operand=p.weight_operand,
        )
    return AttentionOp(entry.id, entry.dtype, spec=p.spec)


def entry_kinds(entry: PublishedEntry) -> frozenset[str]:
    """Coverage tags of an entry (a subset of :data:`KIND_TAGS`)."""
    p = entry.problem
    if isinstance(p, GemmProblem):
        return frozenset({"gemm"})
    s = p.spec
    tags: set[str] = set()
    if s.phase == "decode":
        tags.add("decode")
    if s.kv_heads < s.q_heads:
        tags.add("mqa" if s.kv_heads == 1 else "gqa")
    mask = s.mask
    if isinstance(mask, FullMask):
        tags.add("dense")
    elif isinstance(mask, CausalMask):
        tags.add("causal")
    elif isinstance(mask, SlidingWindowMask):
        tags.add("sliding_window")
    elif isinstance(mask, NeighborhoodMask):
        tags |= {"neighborhood", f"neighborhood_{len(mask.spatial)}d"}
        if any(st > 1 for st in mask.stride):
            tags.add("strided_neighborhood")
    elif isinstance(mask, BlockSparseMask):
        tags.add("block_sparse")
    return frozenset(tags)


def speedup_measured(data: PublishedSet, speedup: PublishedSpeedup) -> float:
    """The measured speedup: seconds of the dense entry / seconds of the sparse entry."""
    return entry_seconds(data.entry(speedup.dense)) / entry_seconds(data.entry(speedup.sparse))


# --------------------------------------------------------------------------------------
# Loading and checking
# --------------------------------------------------------------------------------------


class _Fields:
    """Reads typed fields of one YAML mapping, collecting problem lines.

    Every line is ``FILE: key.path: what was wrong; what was expected``; :meth:`done`
    adds one line per unknown key naming the accepted ones.
    """

    def __init__(self, d: Any, path: str, file: str, problems: list[str]) -> None:
        self.file, self.path, self.problems = file, path, problems
        self.ok = isinstance(d, Mapping)
        if not self.ok:
            self.add(path, f"got {_type_name(d)}; expected a mapping")
        self.d: Mapping[str, Any] = d if self.ok else {}
        self.seen: set[str] = set()

    def add(self, key_path: str, what: str) -> None:
        self.problems.append(f"{self.file}: {key_path}: {what}")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.d:
            if required and self.ok:
                self.add(self.at(key), "missing; expected a value")
            return None
        return self.d[key]

    def text(self, key: str, required: bool = True) -> str | None:
        v = self.raw(key, required)
        if v is None:
            return None
        if not isinstance(v, str) or not v.strip():
            self.add(self.at(key), f"got {_type_name(v)} {_show(v)}; expected a non-empty string")
            return None
        return v

    def choice(self, key: str, allowed: tuple[str, ...], required: bool = True) -> str | None:
        v = self.raw(key, required)
        if v is None:
            return None
        if v not in allowed:
            self.add(
                self.at(key), f"{_show(v)} is not allowed; expected one of {', '.join(allowed)}"
            )
            return None
        return str(v)

    def integer(self, key: str, minimum: int = 1, required: bool = True) -> int | None:
        v = self.raw(key, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            self.add(
                self.at(key), f"got {_type_name(v)} {_show(v)}; expected an integer >= {minimum}"
            )
            return None
        return v

    def number(self, key: str, positive: bool, required: bool = True) -> float | None:
        v = self.raw(key, required)
        if v is None:
            return None
        bad = isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
        if bad or (v <= 0 if positive else v < 0):
            want = "a finite number > 0" if positive else "a finite number >= 0"
            self.add(self.at(key), f"got {_type_name(v)} {_show(v)}; expected {want}")
            return None
        return float(v)

    def flag(self, key: str) -> bool | None:
        v = self.raw(key, True)
        if v is None:
            return None
        if not isinstance(v, bool):
            self.add(self.at(key), f"got {_type_name(v)} {_show(v)}; expected true or false")
            return None
        return v

    def sub(self, key: str) -> _Fields | None:
        v = self.raw(key, True)
        if v is None:
            return None
        return _Fields(v, self.at(key), self.file, self.problems)

    def done(self, accepted: tuple[str, ...]) -> None:
        for key in self.d:
            if key not in accepted:
                self.problems.append(
                    f"{self.file}: {unknown_key(self.at(str(key)), key, accepted)}"
                )


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, Mapping):
        return "a mapping"
    return type(v).__name__


def _show(v: Any) -> str:
    text = repr(v)
    return one_line(text if len(text) <= 60 else text[:57] + "...")


def _read_source_table(d: Any, file: str, problems: list[str]) -> dict[str, dict[str, Any]]:
    f = _Fields(d, "sources", file, problems)
    out: dict[str, dict[str, Any]] = {}
    for key in f.d:
        s = _Fields(f.d[key], f"sources.{key}", file, problems)
        f.seen.add(key)
        rec = {
            "title": s.text("title"),
            "authors": s.text("authors"),
            "year": s.integer("year", minimum=1900),
            "url": s.text("url"),
            "copy_read": s.text("copy_read", required=False),
        }
        s.done(("title", "authors", "year", "url", "copy_read"))
        if s.ok and None not in (rec["title"], rec["authors"], rec["year"], rec["url"]):
            out[str(key)] = rec
    return out


def _source(f: _Fields | None, table: Mapping[str, Mapping[str, Any]]) -> Source | None:
    if f is None or not f.ok:
        return None
    ref = f.text("ref")
    where = f.text("where")
    f.done(("ref", "where"))
    if ref is None or where is None:
        return None
    if ref not in table:
        known = ", ".join(sorted(table)) or "(none)"
        f.add(f.at("ref"), f"unknown source {ref!r}; expected a key of 'sources:' ({known})")
        return None
    r = table[ref]
    return Source(
        ref, r["title"], r["authors"], int(r["year"]), r["url"], where, copy_read=r["copy_read"]
    )


def _mask(f: _Fields, q_len: int | None, kv_len: int | None) -> MaskPattern | None:
    """The mask of a problem; ``layout: block_diagonal`` builds a block-diagonal layout."""
    if not f.ok:
        return None
    d = dict(f.d)
    f.seen.update(d)
    if d.get("kind") == "block_sparse" and d.get("layout") == "block_diagonal":
        bq, bk = d.get("block_q"), d.get("block_k")
        if (
            q_len is None
            or kv_len is None
            or not all(isinstance(b, int) and b > 0 for b in (bq, bk))
        ):
            f.add(
                f.at("layout"),
                "block_diagonal needs integer block_q, block_k and the problem's q_len, kv_len; "
                "expected integers >= 1",
            )
            return None
        assert isinstance(bq, int) and isinstance(bk, int)
        nq, nk = -(-q_len // bq), -(-kv_len // bk)
        d["layout"] = [[i == j for j in range(nk)] for i in range(nq)]
    try:
        return mask_from_dict(d, where=f"{f.file}: {f.path}")
    except WorkloadError as exc:
        f.problems.extend(exc.problems)
        return None


_ATTENTION_KEYS = (
    "op",
    "batch",
    "q_heads",
    "kv_heads",
    "q_len",
    "kv_len",
    "head_dim_qk",
    "head_dim_v",
    "phase",
    "pass",
    "mask",
)
_GEMM_KEYS = ("op", "m", "n", "k", "batch", "weight_operand")


def _problem(f: _Fields | None) -> AttentionProblem | GemmProblem | None:
    if f is None or not f.ok:
        return None
    op = f.choice("op", ("attention", "gemm"))
    if op == "gemm":
        m, n, k = f.integer("m"), f.integer("n"), f.integer("k")
        batch = f.integer("batch")
        w = f.raw("weight_operand", True)
        if w not in ("a", "b", None):
            f.add(f.at("weight_operand"), f"{_show(w)} is not allowed; expected a, b or null")
        f.done(_GEMM_KEYS)
        if None in (m, n, k, batch) or w not in ("a", "b", None):
            return None
        assert m is not None and n is not None and k is not None and batch is not None
        return GemmProblem(m, n, k, batch, w)
    if op != "attention":
        return None
    sizes = {
        key: f.integer(key)
        for key in ("batch", "q_heads", "kv_heads", "q_len", "kv_len", "head_dim_qk", "head_dim_v")
    }
    phase = f.choice("phase", PHASES)
    pass_ = f.choice("pass", _PASSES)
    mf = f.sub("mask")
    mask = _mask(mf, sizes["q_len"], sizes["kv_len"]) if mf is not None else None
    f.done(_ATTENTION_KEYS)
    if None in sizes.values() or phase is None or pass_ is None or mask is None:
        return None
    try:
        spec = AttentionSpec(phase=phase, mask=mask, **sizes)  # type: ignore[arg-type]
    except WorkloadError as exc:
        for line in exc.problems:
            if line.startswith("AttentionSpec."):
                f.problems.append(f"{f.file}: {f.path}.{line[len('AttentionSpec.') :]}")
            else:
                f.add(f.path, line)
        return None
    return AttentionProblem(spec, pass_)


_ENTRY_KEYS = (
    "id",
    "gpu",
    "kernel",
    "problem",
    "dtype",
    "measured",
    "reading",
    "source",
    "expressible",
    "reason",
    "caveat",
    "notes",
)


def _entry(f: _Fields, table: Mapping[str, Mapping[str, Any]]) -> PublishedEntry | None:
    n0 = len(f.problems)
    eid = f.text("id")
    if eid is not None and not _ID.match(eid):
        f.add(f.at("id"), f"{eid!r} is not a valid id; expected lower-case letters, digits, . _ -")
    gpu = _gpu(f.sub("gpu"))
    kf = f.sub("kernel")
    kernel = None
    if kf is not None and kf.ok:
        name, version = kf.text("name"), kf.text("version")
        kf.done(("name", "version"))
        kernel = Kernel(name, version) if name and version else None
    problem = _problem(f.sub("problem"))
    dtype = f.text("dtype")
    if dtype is not None:
        for line in check_dtype(dtype, f.at("dtype")):
            f.problems.append(f"{f.file}: {line}")
            dtype = None
    measured = _measured(f.sub("measured"))
    reading = _reading(f.sub("reading"))
    source = _source(f.sub("source"), table)
    expressible = f.flag("expressible")
    reason = f.text("reason", required=False)
    caveat = f.text("caveat", required=False)
    notes = f.text("notes", required=False)
    f.done(_ENTRY_KEYS)
    if expressible is False and reason is None:
        f.add(f.at("reason"), "missing; expected the reason the IR cannot express this entry")
    if expressible is True and reason is not None:
        f.add(f.at("reason"), "given for an expressible entry; expected no reason")
    _cross_checks(f, problem, measured, expressible)
    if len(f.problems) > n0:
        return None
    assert eid and gpu and kernel and problem and dtype and measured and reading and source
    assert expressible is not None
    return PublishedEntry(
        eid,
        gpu,
        kernel,
        problem,
        dtype,
        measured,
        reading,
        source,
        expressible,
        reason=reason,
        caveat=caveat,
        notes=notes,
    )


def _gpu(f: _Fields | None) -> Gpu | None:
    if f is None or not f.ok:
        return None
    part = f.text("part")
    target = f.raw("target", True)
    if target is not None and target not in TARGETS:
        f.add(
            f.at("target"),
            f"{_show(target)} is not a bundled GPU target; expected one of {', '.join(TARGETS)} "
            "or null (with a note saying why none fits)",
        )
    note = f.text("note", required=False)
    f.done(("part", "target", "note"))
    if target is None and "target" in f.d and note is None:
        f.add(f.at("note"), "missing for target null; expected why no bundled target fits")
    if part is None or (target is not None and target not in TARGETS):
        return None
    return Gpu(part, target, note)


def _measured(f: _Fields | None) -> Measured | None:
    if f is None or not f.ok:
        return None
    value = f.number("value", positive=True)
    unit = f.choice("unit", (*TIME_UNITS, RATE_UNIT))
    conv = f.choice("flop_convention", tuple(FLOP_CONVENTIONS), required=False)
    f.done(("value", "unit", "flop_convention"))
    if unit == RATE_UNIT and conv is None and "flop_convention" not in f.d:
        f.add(
            f.at("flop_convention"),
            f"missing for a rate; expected one of {', '.join(FLOP_CONVENTIONS)}",
        )
        return None
    if unit in TIME_UNITS and "flop_convention" in f.d:
        f.add(
            f.at("flop_convention"),
            f"given for a time in {unit}; expected none (only rates need one)",
        )
        return None
    if value is None or unit is None:
        return None
    return Measured(value, unit, conv)


def _reading(f: _Fields | None) -> Reading | None:
    if f is None or not f.ok:
        return None
    method = f.choice("method", tuple(READING_METHODS))
    unc = f.number("uncertainty", positive=False)
    f.done(("method", "uncertainty"))
    if method == "plot" and unc is not None and unc <= 0:
        f.add(f.at("uncertainty"), "0 for a plot reading; expected the reading uncertainty (> 0)")
        return None
    if method is None or unc is None:
        return None
    return Reading(method, unc)


def _cross_checks(
    f: _Fields,
    problem: AttentionProblem | GemmProblem | None,
    measured: Measured | None,
    expressible: bool | None,
) -> None:
    """Rules across fields: the FLOP convention fits the problem; backward is not expressible."""
    if problem is None or measured is None:
        return
    conv = measured.flop_convention
    where = f.at("measured.flop_convention")
    if isinstance(problem, GemmProblem):
        if conv is not None and conv != "gemm_2mnk":
            f.add(where, f"{conv!r} is for attention; expected gemm_2mnk for a GEMM")
        return
    if conv == "gemm_2mnk":
        f.add(where, "gemm_2mnk is for GEMMs; expected an attention convention")
    if conv in ("fa_causal_half", "fa_fwd_bwd_3p5x"):
        s = problem.spec
        if not isinstance(s.mask, FullMask | CausalMask) or s.q_len != s.kv_len:
            f.add(
                where,
                f"{conv} counts square full or causal problems only; expected exact_live_pairs",
            )
        want = "forward" if conv == "fa_causal_half" else "forward_backward"
        if problem.pass_ != want:
            f.add(where, f"{conv} counts the {want} pass; the problem's pass is {problem.pass_}")
    if problem.pass_ != "forward" and expressible:
        f.add(
            f.at("expressible"),
            f"true for a {problem.pass_} measurement; expected false (AttentionOp is the forward pass)",
        )


def _speedup(
    f: _Fields,
    table: Mapping[str, Mapping[str, Any]],
    entries: Mapping[str, PublishedEntry],
    all_ids: set[str],
) -> PublishedSpeedup | None:
    """A speedup entry; ``all_ids`` holds every entry id in the file, valid or not, so a
    reference to a broken entry is not reported twice."""
    n0 = len(f.problems)
    sid = f.text("id")
    sparse, dense = f.text("sparse"), f.text("dense")
    published = f.number("published", positive=True, required=False)
    sf = f.sub("source") if "source" in f.d else None
    source = _source(sf, table) if sf is not None else None
    notes = f.text("notes", required=False)
    f.done(("id", "sparse", "dense", "published", "source", "notes"))
    for key, ref in (("sparse", sparse), ("dense", dense)):
        if ref is not None and ref not in all_ids:
            f.add(f.at(key), f"unknown entry {ref!r}; expected the id of an entry in this file")
    if sparse is not None and dense is not None and sparse in entries and dense in entries:
        a, b = entries[sparse], entries[dense]
        if a.gpu.target != b.gpu.target or a.gpu.part != b.gpu.part:
            f.add(
                f.at("dense"),
                f"measured on {b.gpu.part}, the sparse entry on {a.gpu.part}; expected the same GPU",
            )
    if len(f.problems) > n0 or sid is None or sparse is None or dense is None:
        return None
    return PublishedSpeedup(sid, sparse, dense, published, source, notes)


def _parse(text: str, file: str) -> PublishedSet:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        what = one_line(getattr(exc, "problem", None) or type(exc).__name__)
        raise PublishedDataError(
            f"{file}: not valid YAML ({what}{at}); expected a YAML mapping"
        ) from None
    problems: list[str] = []
    top = _Fields(doc, "", file, problems)
    if not top.ok:
        raise PublishedDataError(problems)
    version = top.raw("version", True)
    if version is not None and version != VERSION:
        raise PublishedDataError(
            f"{file}: version: {_show(version)} is not supported; expected {VERSION} "
            "(rewrite the file in the version-1 schema of docs/PUBLISHED_DATA.md)"
        )
    top.text("description", required=False)
    table = _read_source_table(top.raw("sources", True) or {}, file, problems)
    raw_entries = top.raw("entries", True)
    raw_speedups = top.raw("speedups", False) or []
    top.done(("version", "description", "sources", "entries", "speedups"))
    entries: dict[str, PublishedEntry] = {}
    all_ids: set[str] = set()
    if isinstance(raw_entries, list):
        all_ids = {
            d["id"] for d in raw_entries if isinstance(d, Mapping) and isinstance(d.get("id"), str)
        }
    if not isinstance(raw_entries, list) or not raw_entries:
        if raw_entries is not None:
            top.add("entries", f"got {_type_name(raw_entries)}; expected a non-empty list")
    else:
        for i, d in enumerate(raw_entries):
            ef = _Fields(d, f"entries[{i}]", file, problems)
            if not ef.ok:
                continue
            e = _entry(ef, table)
            if e is not None:
                if e.id in entries:
                    ef.add(ef.at("id"), f"duplicate id {e.id!r}; expected ids to be unique")
                entries[e.id] = e
    speedups: list[PublishedSpeedup] = []
    if not isinstance(raw_speedups, list):
        top.add("speedups", f"got {_type_name(raw_speedups)}; expected a list")
    else:
        for i, d in enumerate(raw_speedups):
            sf = _Fields(d, f"speedups[{i}]", file, problems)
            if sf.ok:
                s = _speedup(sf, table, entries, all_ids)
                if s is not None:
                    speedups.append(s)
    if problems:
        raise PublishedDataError(problems)
    return PublishedSet(VERSION, file, tuple(entries.values()), tuple(speedups))


def load_published_kernels(path: str | Path | None = None) -> PublishedSet:
    """Load and check a published-data file (the bundled ``published_kernels.yaml`` by
    default); every problem in it is raised at once as :class:`PublishedDataError`."""
    if path is None:
        text = resources.files("attnsim.sim.calibration").joinpath(BUNDLED_FILE).read_text()
        return _parse(text, BUNDLED_FILE)
    return _parse(read_input_text(path, what="published kernel data"), str(path))
