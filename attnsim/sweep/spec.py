"""The sweep spec: a versioned YAML file, checked like a target file.

Loading goes parse -> check each section (pydantic models with unknown keys refused)
-> check the meaning (axes against the base target through the target loader, units,
ranges, objectives, constraints, strategy, workload recipes) -> a frozen
:class:`SweepSpec`. Every problem of the file is reported at once, one line each,
``FILE: key.path: what was wrong; what was expected``; an unknown key lists the keys
accepted there and suggests the closest (``did you mean 'linspace'?``).

Format (version 1)::

    version: 1
    name: h100-grid                     # optional (default: the file name)
    base: h100-sxm5-80gb                # bundled target or a YAML path (relative to this file)
    axes:                               # crossed with each other
      - {path: units.sm.count, values: [100, 132, 160]}
      - {path: memory.hbm.bandwidth, linspace: {from: 2 TB/s, to: 6 TB/s, num: 5}}
      - {path: memory.l2.capacity, pow2: {from: 25 MiB, to: 100 MiB}}
      - {path: engines.tensor.clock, range: {from: 1.4 GHz, to: 2.0 GHz, step: 0.2 GHz}}
      - {path: engines.tensor.clock, logspace: {from: 1 GHz, to: 2 GHz, num: 3}}
      - zip:                            # these advance together
          - {path: memory.l2.capacity, values: [25 MiB, 50 MiB]}
          - {path: memory.l2.bandwidth, values: [6 TB/s, 9.4 TB/s]}
      - {path: precision, values: [bf16, fp8]}   # the precision GEMMs and attention run in
    workloads:                          # each with a weight (default 1)
      - file: llama.json
      - trace: {model: llama3-8b, seq: 8192}
        axes: {seq: [4096, 8192]}
      - attention: {heads: 32, kv_heads: 8, seq: 8192, head_dim: 128, mask: causal, dtype: bf16}
        variants: [{mask: causal}, {mask: window, window: 2048}]
        weight: 2
    family: best                        # or a kernel family name
    objectives: [latency, energy, {name: area, direction: minimize}]
    constraints: ["area <= 800 mm2", "power <= 700 W"]
    strategy: {kind: grid}              # random | sobol | lhs {budget, seed}; optuna {budget, seed, sampler, batch}
    options: {timeout: 300 s}           # per run; block_q / block_k override attention tiles
    report: {x: latency, y: energy}     # the Pareto pair the report draws (default: first two objectives)
"""

from __future__ import annotations

import difflib
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic import ValidationError as PydanticValidationError

from attnsim.errors import one_line
from attnsim.fileio import read_input_text
from attnsim.hwconfigs.parse import parse_yaml
from attnsim.sweep import quantities as q
from attnsim.sweep.errors import SweepError
from attnsim.sweep.objectives import OBJECTIVES, Constraint, Objective, parse_constraint

__all__ = [
    "SPEC_VERSION",
    "Axis",
    "Dimension",
    "WorkloadRecipe",
    "StrategySpec",
    "SweepSpec",
    "load_spec",
    "spec_from_dict",
    "PRECISION_AXIS",
]

#: The spec format version this code reads.
SPEC_VERSION = 1

#: The axis path that sets the precision the compute ops (GEMMs, attention) run in.
PRECISION_AXIS = "precision"

#: Most points a grid may expand to before it is refused (use random or optuna beyond).
MAX_GRID_POINTS = 10_000_000

Scalar = StrictInt | StrictFloat | StrictStr | StrictBool


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _RangeModel(_Model):
    start: Scalar = Field(alias="from")
    to: Scalar
    step: Scalar


class _SpaceModel(_Model):
    start: Scalar = Field(alias="from")
    to: Scalar
    num: StrictInt


class _Pow2Model(_Model):
    start: Scalar = Field(alias="from")
    to: Scalar


class _AxisModel(_Model):
    path: StrictStr | None = None
    values: list[Scalar] | None = None
    range: _RangeModel | None = None
    linspace: _SpaceModel | None = None
    logspace: _SpaceModel | None = None
    pow2: _Pow2Model | None = None
    zip: list[_AxisModel] | None = None


class _ObjectiveModel(_Model):
    name: StrictStr
    direction: StrictStr | None = None


class _AttentionRecipe(_Model):
    batch: StrictInt = 1
    heads: StrictInt
    kv_heads: StrictInt | None = None
    seq: StrictInt | None = None
    kv_seq: StrictInt | None = None
    head_dim: StrictInt
    head_dim_v: StrictInt | None = None
    mask: StrictStr = "full"
    window: StrictInt | list[StrictInt] | None = None
    spatial: list[StrictInt] | None = None
    dilation: list[StrictInt] | None = None
    stride: list[StrictInt] | None = None
    causal_axes: list[StrictBool] | None = None
    density: StrictFloat | StrictInt | None = None
    block: StrictInt | None = None
    seed: StrictInt = 0
    prefix: StrictInt | None = None
    continuations: StrictInt | None = None
    continuation_len: StrictInt | None = None
    phase: StrictStr = "prefill"
    dtype: StrictStr = "fp16"


class _TraceRecipe(_Model):
    model: StrictStr
    batch: StrictInt = 1
    seq: StrictInt | None = None
    phase: StrictStr = "prefill"
    kv_len: StrictInt = 0
    dtype: StrictStr = "bf16"
    image_size: StrictInt | None = None
    overrides: dict[str, Any] | None = None
    weights: StrictStr | None = None


class _WorkloadModel(_Model):
    name: StrictStr | None = None
    file: StrictStr | None = None
    trace: dict[str, Any] | None = None
    attention: dict[str, Any] | None = None
    axes: dict[str, list[Scalar]] | None = None
    variants: list[dict[str, Any]] | None = None
    weight: StrictFloat | StrictInt = 1.0


class _StrategyModel(_Model):
    kind: StrictStr = "grid"
    budget: StrictInt | None = None
    seed: StrictInt = 0
    sampler: StrictStr | None = None
    batch: StrictInt | None = None


class _OptionsModel(_Model):
    timeout: Scalar | None = None
    block_q: StrictInt | None = None
    block_k: StrictInt | None = None


class _ReportModel(_Model):
    x: StrictStr | None = None
    y: StrictStr | None = None


_TOP: dict[str, Any] = {
    "version": None,
    "name": None,
    "description": None,
    "base": None,
    "axes": None,
    "workloads": None,
    "family": None,
    "objectives": None,
    "constraints": None,
    "strategy": _StrategyModel,
    "options": _OptionsModel,
    "report": _ReportModel,
}

_RECIPES: dict[str, type[_Model]] = {"attention": _AttentionRecipe, "trace": _TraceRecipe}


# --------------------------------------------------------------------------------------
# the built spec
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One swept key path and its values (as written: ``"4.8 TB/s"``, ``132``, ``"fp8"``).

    ``si`` holds each value as the SI float the tables store (or the text, for
    categorical values); ``unit`` is the unit of the first value, for plot labels.
    """

    path: str
    values: tuple[Any, ...]
    si: tuple[float | str, ...]
    unit: str
    where: str

    @property
    def numeric(self) -> bool:
        """All values are numbers (sensitivity and plots treat the axis as ordered)."""
        return all(isinstance(v, float) for v in self.si)

    @property
    def column(self) -> str:
        """Its column in the results tables."""
        return f"param.{self.path}"


@dataclass(frozen=True)
class Dimension:
    """Axes that advance together (a zip group; a lone axis is a group of one)."""

    axes: tuple[Axis, ...]

    @property
    def size(self) -> int:
        """Values along the dimension."""
        return len(self.axes[0].values)


@dataclass(frozen=True)
class WorkloadRecipe:
    """One ``workloads:`` entry: a file, a ``trace`` or an ``attention`` recipe, with its
    own axes (crossed) and variants (crossed with the axes), and a weight."""

    kind: str  # "file" | "trace" | "attention"
    params: Mapping[str, Any]
    axes: Mapping[str, tuple[Any, ...]]
    variants: tuple[Mapping[str, Any], ...]
    weight: float
    name: str | None
    where: str


@dataclass(frozen=True)
class StrategySpec:
    """How points are chosen: ``kind`` (a registered strategy), ``budget`` (points to
    try, None for a full grid), ``seed``, and strategy options (``sampler``, ``batch``)."""

    kind: str
    budget: int | None
    seed: int
    sampler: str | None = None
    batch: int | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep spec (see the module docstring for the file format).

    ``source`` is the file it came from (for messages); ``base`` the target name or the
    resolved path; ``text`` the document as read (kept with the results)."""

    name: str
    description: str
    source: str
    base: str
    dimensions: tuple[Dimension, ...]
    workloads: tuple[WorkloadRecipe, ...]
    family: str | None
    objectives: tuple[tuple[Objective, str], ...]
    constraints: tuple[Constraint, ...]
    strategy: StrategySpec
    timeout_s: float | None
    block_q: int | None
    block_k: int | None
    report_x: str
    report_y: str
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def axes(self) -> tuple[Axis, ...]:
        """Every hardware axis, in spec order (zip members in place)."""
        return tuple(a for d in self.dimensions for a in d.axes)

    @property
    def grid_size(self) -> int:
        """Points of the full grid (the product of the dimension sizes)."""
        return math.prod(d.size for d in self.dimensions)


# --------------------------------------------------------------------------------------
# error lines
# --------------------------------------------------------------------------------------


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _loc_text(prefix: str, loc: Sequence[Any]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(tp: Any) -> Any:
    """The model / list / dict inside ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            containers = [a for a in args if typing.get_origin(a) in (list, dict)]
            tp = (models or containers or args)[0]
            continue
        return tp


def _keys_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str] | None:
    """The keys accepted at ``loc`` (a pydantic error location) inside ``model``."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif typing.get_origin(tp) is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [(f.alias or n) for n, f in tp.model_fields.items()]
    return None


def _pydantic_lines(exc: PydanticValidationError, model: type[BaseModel], prefix: str) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [
            p
            for p in err["loc"]
            if not (isinstance(p, str) and ("[" in p or p.startswith("function")))
        ]
        where = _loc_text(prefix, loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            known = _keys_at(model, loc[:-1]) or []
            key = str(loc[-1])
            lines.append(
                f"{where}: unknown key; expected one of: {', '.join(known)}{_suggest(key, known)}"
            )
        elif kind == "missing":
            lines.append(f"{where}: missing; expected a value")
        else:
            msg = err["msg"]
            shown = one_line(repr(err.get("input")))[:80]
            lines.append(f"{where}: {shown} is not valid; {msg[:1].lower()}{msg[1:]}")
    # a union of types reports one line per member: keep the first of each location
    seen: set[str] = set()
    out = []
    for line in lines:
        head = line.split(": ", 1)[0]
        if head in seen:
            continue
        seen.add(head)
        out.append(line)
    return out


class _Problems:
    def __init__(self, display: str) -> None:
        self.display = display
        self.lines: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.lines.append(
            f"{self.display}: {where}: {text}" if where else f"{self.display}: {text}"
        )

    def extend_raw(self, lines: Sequence[str]) -> None:
        self.lines.extend(lines)

    def check(self, model: type[_Model], data: Any, where: str) -> Any:
        try:
            return model.model_validate(data)
        except PydanticValidationError as exc:
            for line in _pydantic_lines(exc, model, where):
                self.lines.append(f"{self.display}: {line}")
            return None


# --------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------


def load_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and check a sweep spec file; :class:`SweepError` lists every problem."""
    p = Path(path)
    text = read_input_text(p, what="sweep spec", max_bytes=4 * 1024 * 1024)
    display = one_line(p)
    # the targets' bounded reader: nodes, depth and aliases checked on the event stream
    # before anything is built (an alias bomb or deep nesting costs milliseconds)
    doc, problems = parse_yaml(text)
    if problems:
        raise SweepError(
            [
                f"{display}: {what}; {expected}" if where == "<document>" else
                f"{display}: {where}: {what}; {expected}"
                for where, what, expected in problems
            ]
        )  # fmt: skip
    return spec_from_dict(doc, display=display, root=p.parent, default_name=p.stem)


def spec_from_dict(
    doc: Any,
    *,
    display: str = "<spec>",
    root: str | os.PathLike[str] = ".",
    default_name: str = "sweep",
) -> SweepSpec:
    """Check a parsed spec document; relative paths are resolved against ``root``."""
    p = _Problems(display)
    if not isinstance(doc, Mapping):
        raise SweepError(
            f"{display}: the document is {type(doc).__name__}; expected a mapping of sections"
        )
    for key in doc:
        if key not in _TOP:
            p.add(
                str(key),
                f"unknown key; expected one of: {', '.join(_TOP)}{_suggest(str(key), list(_TOP))}",
            )
    _check_version(doc, p)
    root_path = Path(root)

    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        p.add("name", f"{name!r} is not a name; expected text")
        name = default_name
    description = doc.get("description", "")
    if not isinstance(description, str):
        p.add("description", "is not text; expected one line of text")
        description = ""

    base = _check_base(doc, p, root_path)
    dimensions = _check_axes(doc.get("axes", []), p, base)
    workloads = _check_workloads(doc, p, root_path)

    family_raw = doc.get("family", "best")
    family: str | None
    if family_raw is None or family_raw == "best":
        family = None
    elif isinstance(family_raw, str):
        family = family_raw
        _check_family(family, base, p)
    else:
        p.add("family", f"{family_raw!r} is not a name; expected 'best' or a kernel family name")
        family = None

    objectives = _check_objectives(doc.get("objectives", ["latency", "energy"]), p)
    constraints = _check_constraints(doc.get("constraints", []), p)
    strategy = _check_strategy(doc.get("strategy", {}), p, dimensions)
    options = p.check(_OptionsModel, doc.get("options", {}) or {}, "options")
    timeout_s: float | None = None
    block_q = block_k = None
    if options is not None:
        if options.timeout is not None:
            try:
                qv = q.parse_value(options.timeout)
                if qv.dimension not in ("time", "dimensionless") or qv.si <= 0:
                    raise ValueError(f"{options.timeout!r} is not a positive time")
                timeout_s = qv.si
            except ValueError as exc:
                p.add("options.timeout", f"{exc}; expected a time such as '300 s'")
        for key in ("block_q", "block_k"):
            v = getattr(options, key)
            if v is not None and v < 1:
                p.add(f"options.{key}", f"{v} is not positive; expected a tile size >= 1")
        block_q, block_k = options.block_q, options.block_k

    report = p.check(_ReportModel, doc.get("report", {}) or {}, "report")
    names = [o.name for o, _ in objectives]
    rx = names[0] if names else "latency"
    ry = names[1] if len(names) > 1 else ("energy" if rx != "energy" else "latency")
    if report is not None:
        for key in ("x", "y"):
            v = getattr(report, key)
            if v is None:
                continue
            if v not in OBJECTIVES:
                known = list(OBJECTIVES)
                p.add(
                    f"report.{key}",
                    f"unknown objective {v!r}{_suggest(v, known)}; expected one of {', '.join(known)}",
                )
            elif key == "x":
                rx = v
            else:
                ry = v

    if p.lines:
        raise SweepError(p.lines)
    assert base is not None and strategy is not None
    return SweepSpec(
        name=name,
        description=description,
        source=display,
        base=base,
        dimensions=dimensions,
        workloads=workloads,
        family=family,
        objectives=objectives,
        constraints=constraints,
        strategy=strategy,
        timeout_s=timeout_s,
        block_q=block_q,
        block_k=block_k,
        report_x=rx,
        report_y=ry,
        document=dict(doc),
    )


def _check_version(doc: Mapping[str, Any], p: _Problems) -> None:
    if "version" not in doc:
        p.add("version", f"missing; expected 'version: {SPEC_VERSION}' as the first line")
        return
    v = doc["version"]
    if isinstance(v, bool) or not isinstance(v, int):
        p.add("version", f"{v!r} is not a whole number; expected 'version: {SPEC_VERSION}'")
    elif v > SPEC_VERSION:
        p.add(
            "version",
            f"version {v} is newer than this attnsim reads (version {SPEC_VERSION}); expected an older file or a newer attnsim",
        )
    elif v < 1:
        p.add("version", f"version {v} does not exist; expected 'version: {SPEC_VERSION}'")


def _check_base(doc: Mapping[str, Any], p: _Problems, root: Path) -> str | None:
    from attnsim.hwconfigs import HardwareConfigError, list_targets, load_hardware

    if "base" not in doc:
        p.add(
            "base",
            "missing; expected a bundled target name (attnsim hw list) or a target YAML path",
        )
        return None
    raw = doc["base"]
    if not isinstance(raw, str) or not raw:
        p.add("base", f"{raw!r} is not a name; expected a target name or path")
        return None
    looks_like_path = raw.endswith((".yaml", ".yml")) or "/" in raw
    base = str((root / raw).resolve()) if looks_like_path else raw
    if not looks_like_path and raw not in list_targets():
        known = list_targets()
        p.add(
            "base",
            f"{raw!r} is neither a bundled target nor a file{_suggest(raw, known)}; expected one of {', '.join(known)} or a YAML path",
        )
        return None
    try:
        load_hardware(base)
    except HardwareConfigError as exc:
        for line in exc.problems:
            p.add("base", line)
        return None
    return base


def _generate(axis: _AxisModel) -> list[Any]:
    if axis.values is not None:
        return list(axis.values)
    if axis.range is not None:
        return q.step_series(axis.range.start, axis.range.to, axis.range.step)
    if axis.linspace is not None:
        return q.linear_series(axis.linspace.start, axis.linspace.to, axis.linspace.num)
    if axis.logspace is not None:
        return q.geometric_series(axis.logspace.start, axis.logspace.to, axis.logspace.num)
    assert axis.pow2 is not None
    return q.doubling_series(axis.pow2.start, axis.pow2.to)


_GENERATORS = ("values", "range", "linspace", "logspace", "pow2")


def _check_one_axis(axis: _AxisModel, where: str, p: _Problems, base: str | None) -> Axis | None:
    if axis.path is None:
        p.add(where, "has no 'path'; expected the key path it sweeps, such as 'units.sm.count'")
        return None
    given = [g for g in _GENERATORS if getattr(axis, g) is not None]
    if len(given) != 1:
        what = "no values" if not given else f"{' and '.join(given)}"
        p.add(where, f"gives {what}; expected exactly one of {', '.join(_GENERATORS)}")
        return None
    gen = given[0]
    try:
        values = _generate(axis)
    except ValueError as exc:
        p.add(f"{where}.{gen}", str(exc))
        return None
    if not values:
        p.add(f"{where}.{gen}", "is empty; expected at least one value")
        return None
    ok = True
    if axis.path == PRECISION_AXIS:
        from attnsim.workloads.dtypes import PRECISIONS

        for i, v in enumerate(values):
            if v not in PRECISIONS:
                p.add(
                    f"{where}.values[{i}]",
                    f"{v!r} is not a precision{_suggest(str(v), PRECISIONS)}; expected one of {', '.join(PRECISIONS)}",
                )
                ok = False
    elif base is not None:
        ok = _check_against_target(axis.path, values, where, gen, p, base)
    if not ok:
        return None
    si = tuple(q.si_value(v) for v in values)
    unit = ""
    try:
        unit = q.parse_value(values[0]).unit
    except ValueError:
        pass
    return Axis(axis.path, tuple(values), si, unit, where)


def _check_against_target(
    path: str, values: Sequence[Any], where: str, gen: str, p: _Problems, base: str
) -> bool:
    """Each value through the target loader on its own (so a unit that does not fit the
    key, or a path that names nothing, is reported here with the axis that gave it)."""
    from attnsim.hwconfigs import HardwareConfigError, load_hardware

    ok = True
    seen_lines: set[str] = set()
    for i, value in enumerate(values):
        origin = f"{p.display}: {where}.{gen}" + (
            f"[{i}]" if gen == "values" else f" value {value!r}"
        )
        try:
            load_hardware(base, {path: value}, origin=origin)
        except HardwareConfigError as exc:
            ok = False
            for line in exc.problems:
                # a path that names nothing fails the same way for every value: say it once
                key = line.replace(origin, "")
                if key in seen_lines:
                    continue
                seen_lines.add(key)
                p.extend_raw(
                    [line if line.startswith(p.display) else f"{p.display}: {where}: {line}"]
                )
            if any(
                "is not in the target" in line or "unknown key" in line for line in exc.problems
            ):
                break
    return ok


def _check_axes(raw: Any, p: _Problems, base: str | None) -> tuple[Dimension, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        p.add(
            "axes",
            f"is {type(raw).__name__}; expected a list of axes ({{path: ..., values: [...]}})",
        )
        return ()
    dims: list[Dimension] = []
    seen_paths: dict[str, str] = {}
    for i, item in enumerate(raw):
        where = f"axes[{i}]"
        model = p.check(_AxisModel, item, where)
        if model is None:
            continue
        if model.zip is not None:
            others = [g for g in ("path", *_GENERATORS) if getattr(model, g) is not None]
            if others:
                p.add(
                    where,
                    f"has 'zip' and {', '.join(others)}; expected either a zip group or one axis",
                )
                continue
            members = []
            for j, sub in enumerate(model.zip):
                if sub.zip is not None:
                    p.add(f"{where}.zip[{j}]", "is a zip inside a zip; expected plain axes")
                    continue
                ax = _check_one_axis(sub, f"{where}.zip[{j}]", p, base)
                if ax is not None:
                    members.append(ax)
            if not model.zip:
                p.add(f"{where}.zip", "is empty; expected at least one axis")
                continue
            if len(members) != len(model.zip):
                continue
            sizes = {len(a.values) for a in members}
            if len(sizes) > 1:
                p.add(
                    f"{where}.zip",
                    f"members have {', '.join(str(len(a.values)) for a in members)} values; expected the same number (zipped axes advance together)",
                )
                continue
            dims.append(Dimension(tuple(members)))
        else:
            ax = _check_one_axis(model, where, p, base)
            if ax is not None:
                dims.append(Dimension((ax,)))
    for d in dims:
        for a in d.axes:
            if a.path in seen_paths:
                p.add(
                    a.where,
                    f"sweeps {a.path!r} again (also {seen_paths[a.path]}); expected each key path once",
                )
            seen_paths[a.path] = a.where
    if dims:
        size = math.prod(d.size for d in dims)
        if size > MAX_GRID_POINTS:
            p.add(
                "axes",
                f"the grid has {size} points; expected at most {MAX_GRID_POINTS} (use strategy random, sobol or optuna with a budget)",
            )
    return tuple(dims)


def _check_workloads(
    doc: Mapping[str, Any], p: _Problems, root: Path
) -> tuple[WorkloadRecipe, ...]:
    raw = doc.get("workloads")
    if raw is None:
        p.add("workloads", "missing; expected a list of workloads (file, trace or attention)")
        return ()
    if not isinstance(raw, list) or not raw:
        p.add("workloads", "is empty or not a list; expected at least one workload")
        return ()
    out = []
    for i, item in enumerate(raw):
        where = f"workloads[{i}]"
        model = p.check(_WorkloadModel, item, where)
        if model is None:
            continue
        kinds = [k for k in ("file", "trace", "attention") if getattr(model, k) is not None]
        if len(kinds) != 1:
            p.add(
                where,
                f"gives {' and '.join(kinds) or 'no workload'}; expected exactly one of file, trace, attention",
            )
            continue
        kind = kinds[0]
        if not model.weight > 0 or not math.isfinite(model.weight):
            p.add(f"{where}.weight", f"{model.weight} is not positive; expected a weight > 0")
        axes = {k: tuple(v) for k, v in (model.axes or {}).items()}
        variants = tuple(dict(v) for v in (model.variants or []))
        if kind == "file":
            path = Path(model.file or "")
            path = path if path.is_absolute() else root / path
            if not path.is_file():
                p.add(
                    f"{where}.file",
                    f"{one_line(model.file)}: no such file; expected a workload JSON file (attnsim trace / attnsim workload ... -o FILE)",
                )
            if axes or variants:
                p.add(
                    where,
                    "a file has no axes or variants; expected them only with trace or attention",
                )
            params: dict[str, Any] = {"path": str(path)}
        else:
            recipe_model = _RECIPES[kind]
            base_params = getattr(model, kind)
            params = dict(base_params)
            known = list(recipe_model.model_fields)
            for k, vals in axes.items():
                if k not in known:
                    p.add(
                        f"{where}.axes.{k}",
                        f"is not a {kind} parameter{_suggest(k, known)}; expected one of {', '.join(known)}",
                    )
                elif not vals:
                    p.add(f"{where}.axes.{k}", "is empty; expected at least one value")
            for j, var in enumerate(variants):
                for k in var:
                    if k not in known:
                        p.add(
                            f"{where}.variants[{j}].{k}",
                            f"is not a {kind} parameter{_suggest(k, known)}; expected one of {', '.join(known)}",
                        )
            # check the base parameters with every axis / variant value in place
            combos = [dict(params)]
            for k, vals in axes.items():
                combos += [{**params, k: v} for v in vals]
            combos += [{**params, **var} for var in variants]
            seen = set()
            for combo in combos:
                try:
                    recipe_model.model_validate(combo)
                except PydanticValidationError as exc:
                    for line in _pydantic_lines(exc, recipe_model, f"{where}.{kind}"):
                        if line not in seen:
                            seen.add(line)
                            p.lines.append(f"{p.display}: {line}")
        out.append(
            WorkloadRecipe(kind, params, axes, variants, float(model.weight), model.name, where)
        )
    return tuple(out)


def _check_family(family: str, base: str | None, p: _Problems) -> None:
    from attnsim.sim.lowering import FAMILIES

    if family not in FAMILIES:
        known = sorted(FAMILIES)
        p.add(
            "family",
            f"unknown kernel family {family!r}{_suggest(family, known)}; expected 'best' or one of {', '.join(known)}",
        )


def _check_objectives(raw: Any, p: _Problems) -> tuple[tuple[Objective, str], ...]:
    if not isinstance(raw, list) or not raw:
        p.add("objectives", "is empty or not a list; expected objectives such as [latency, energy]")
        return ()
    out: list[tuple[Objective, str]] = []
    for i, item in enumerate(raw):
        where = f"objectives[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        model = p.check(_ObjectiveModel, item, where)
        if model is None:
            continue
        if model.name not in OBJECTIVES:
            known = list(OBJECTIVES)
            p.add(
                where,
                f"unknown objective {model.name!r}{_suggest(model.name, known)}; expected one of {', '.join(known)}",
            )
            continue
        obj = OBJECTIVES[model.name]
        direction = model.direction or obj.direction
        if direction not in ("minimize", "maximize"):
            p.add(f"{where}.direction", f"{direction!r}; expected minimize or maximize")
            continue
        if any(o.name == obj.name for o, _ in out):
            p.add(where, f"{obj.name} is listed twice; expected each objective once")
            continue
        out.append((obj, direction))
    return tuple(out)


def _check_constraints(raw: Any, p: _Problems) -> tuple[Constraint, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        p.add(
            "constraints", f"is {type(raw).__name__}; expected a list such as ['area <= 400 mm2']"
        )
        return ()
    out = []
    for i, text in enumerate(raw):
        try:
            out.append(parse_constraint(text, f"constraints[{i}]"))
        except SweepError as exc:
            for line in exc.problems:
                p.lines.append(f"{p.display}: {line}")
    return tuple(out)


def _check_strategy(raw: Any, p: _Problems, dims: Sequence[Dimension]) -> StrategySpec | None:
    from attnsim.sweep.strategies import STRATEGIES

    model = p.check(_StrategyModel, raw if raw is not None else {}, "strategy")
    if model is None:
        return None
    if model.kind not in STRATEGIES:
        known = list(STRATEGIES)
        p.add(
            "strategy.kind",
            f"unknown strategy {model.kind!r}{_suggest(model.kind, known)}; expected one of {', '.join(known)}",
        )
        return None
    spec = StrategySpec(model.kind, model.budget, model.seed, model.sampler, model.batch)
    for line in STRATEGIES[model.kind].check(spec, dims):
        p.add("strategy", line)
    return spec
