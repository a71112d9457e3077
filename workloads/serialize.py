"""The workload file: versioned JSON, loaded by parse -> validate -> build frozen objects.

Layout (version 1)::

    {"format": "attnsim-workload", "version": 1,
     "name": "...", "tokens": 4096 | null, "meta": {"key": "str or number"},
     "blocks": [{"name": "...", "count": 32,
                 "ops": [{"kind": "attention", "name": "...", "dtype": "bf16",
                          "spec": {..., "mask": {"kind": "causal"}}}, ...]}]}

Loading never stops at the first problem: every problem found is reported at once as a
:class:`~workloads.errors.WorkloadError` whose lines read
``FILE: field.path: what was wrong; what was expected``. Files of another version are
upgraded by the functions in :data:`UPGRADES` or refused with a message saying what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from attnsim.errors import ProblemsError, one_line
from attnsim.fileio import atomic_write, read_input_text

from .errors import WorkloadError, coerce, unknown_key
from .limits import cap_problems, parse_json
from .ops import Op, op_from_dict
from .workload import Block, Workload

FORMAT = "attnsim-workload"
VERSION = 1

#: ``UPGRADES[v]`` turns a version-``v`` document into a version-``v+1`` one. Version 1
#: is the first format, so there is nothing to upgrade yet.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: Largest workload file read (bytes): a 512k-token block-sparse layout is about 40 MB.
MAX_FILE_BYTES = 64 * 1024 * 1024

_TOP_KEYS = ("format", "version", "name", "tokens", "meta", "blocks")


def workload_to_dict(w: Workload) -> dict[str, Any]:
    """The full JSON document of ``w`` (header included)."""
    return {"format": FORMAT, "version": VERSION, **w.to_dict()}


def save_workload(w: Workload, path: str | os.PathLike[str], *, option: str = "output") -> Path:
    """Write ``w`` as a version-1 workload file through :func:`attnsim.fileio.atomic_write`
    (a unique temporary file, then a rename; no folder is created, no link followed).

    Returns the path written. Large block-sparse layouts make the file compact (no
    indentation) above ~1 MB of text. A destination that cannot be written raises
    :class:`WorkloadError` naming ``option`` (e.g. ``-o``).
    """
    if not isinstance(w, Workload):
        raise TypeError(f"save_workload: expected a Workload, got {type(w).__name__}")
    doc = workload_to_dict(w)
    text = json.dumps(doc, indent=2, allow_nan=False)
    if len(text) > 1_000_000:
        text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    try:
        return atomic_write(path, text + "\n", option=option)
    except ProblemsError as exc:
        raise WorkloadError(exc.problems) from None


def load_workload(path: str | os.PathLike[str]) -> Workload:
    """Read a workload file; raises :class:`WorkloadError` (every problem, with file and field).

    The file is bounded before anything is built (:mod:`workloads.limits`): its size, its
    nesting, every number in it; an unreadable path (missing, a folder, a device) is one line.
    """
    src = one_line(path)
    try:
        text = read_input_text(path, what="workload JSON", max_bytes=MAX_FILE_BYTES)
    except ProblemsError as exc:
        raise WorkloadError(exc.problems) from None
    doc = parse_json(text, src)
    return workload_from_dict(doc, src)


def workload_from_dict(doc: Any, source: str = "<dict>") -> Workload:
    """Validate a parsed workload document and build the :class:`Workload`."""
    if not isinstance(doc, Mapping):
        raise WorkloadError(
            [f"{source}: the document is {type(doc).__name__}; expected a JSON object"]
        )
    fmt = doc.get("format")
    if fmt != FORMAT:
        what = "missing" if "format" not in doc else f"{fmt!r}"
        raise WorkloadError(
            [f'{source}: format: {what}; expected "{FORMAT}" (is this an attnsim workload file?)']
        )
    version = doc.get("version")
    if "version" not in doc or isinstance(version, bool) or not isinstance(version, int):
        what = "missing" if "version" not in doc else f"{version!r} is not an integer"
        raise WorkloadError([f"{source}: version: {what}; expected the integer {VERSION}"])
    if version > VERSION:
        raise WorkloadError(
            [
                f"{source}: version: {version} is newer than this attnsim reads; expected version "
                f"<= {VERSION} (upgrade attnsim to read it)"
            ]
        )
    if version < 1:
        raise WorkloadError(
            [f"{source}: version: {version} never existed; expected version {VERSION}"]
        )
    body = dict(doc)
    while body["version"] < VERSION:  # pragma: no cover - no old versions exist yet
        v = body["version"]
        if v not in UPGRADES:
            raise WorkloadError(
                [
                    f"{source}: version: {v} is older than this attnsim reads and has no upgrade; "
                    f"expected version {VERSION} (re-create the file with `attnsim workload` or "
                    f"`attnsim trace`)"
                ]
            )
        body = UPGRADES[v](body)
    return _build(body, source)


def _build(doc: Mapping[str, Any], source: str) -> Workload:
    problems: list[str] = []
    for key in doc:
        if key not in _TOP_KEYS:
            problems.append(unknown_key(str(key), key, _TOP_KEYS))
    name = _field(doc, "name", "str", "name", problems)
    tokens: Any = (
        coerce(doc.get("tokens"), "int|None", "tokens", problems) if "tokens" in doc else None
    )
    meta = doc.get("meta", {})
    if not isinstance(meta, Mapping):
        problems.append(f"meta: got {type(meta).__name__}; expected an object of strings/numbers")
        meta = {}
    else:
        for k, v in meta.items():
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                problems.append(f"meta.{k}: got {v!r}; expected a string or a number")
    blocks: list[Block] = []
    raw_blocks = doc.get("blocks")
    if "blocks" not in doc:
        problems.append("blocks: missing; expected a list of blocks")
    elif not isinstance(raw_blocks, list):
        problems.append(f"blocks: got {type(raw_blocks).__name__}; expected a list of blocks")
    else:
        for i, rb in enumerate(raw_blocks):
            block = _build_block(rb, f"blocks[{i}]", problems)
            if block is not None:
                blocks.append(block)
    problems = [p if p.startswith(f"{source}: ") else f"{source}: {p}" for p in problems]
    if problems:
        raise WorkloadError(cap_problems(problems))
    try:
        return Workload(name=name, blocks=tuple(blocks), tokens=tokens, meta=dict(meta))
    except WorkloadError as exc:
        raise WorkloadError([f"{source}: {p}" for p in exc.problems]) from None


def _field(d: Mapping[str, Any], key: str, ann: str, path: str, problems: list[str]) -> Any:
    if key not in d:
        problems.append(f"{path}: missing; expected a value of type {ann}")
        return None
    return coerce(d[key], ann, path, problems)


def _build_block(rb: Any, where: str, problems: list[str]) -> Block | None:
    if not isinstance(rb, Mapping):
        problems.append(f"{where}: got {type(rb).__name__}; expected a block object")
        return None
    n_before = len(problems)
    for key in rb:
        if key not in ("name", "count", "ops"):
            problems.append(unknown_key(f"{where}.{key}", key, ("name", "count", "ops")))
    name = _field(rb, "name", "str", f"{where}.name", problems)
    count = _field(rb, "count", "int", f"{where}.count", problems) if "count" in rb else 1
    if isinstance(count, int) and count < 1:
        problems.append(f"{where}.count: {count} is too small; expected an integer >= 1")
    ops: list[Op] = []
    raw_ops = rb.get("ops")
    if "ops" not in rb:
        problems.append(f"{where}.ops: missing; expected a list of ops")
    elif not isinstance(raw_ops, list):
        problems.append(f"{where}.ops: got {type(raw_ops).__name__}; expected a list of ops")
    else:
        for j, ro in enumerate(raw_ops):
            try:
                ops.append(op_from_dict(ro, f"{where}.ops[{j}]"))
            except WorkloadError as exc:
                problems.extend(exc.problems)
    if len(problems) > n_before:
        return None
    return Block(name=name, ops=tuple(ops), count=count)
