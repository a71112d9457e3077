"""Tier one of validation: the schema of a target document, declared as pydantic models.

The input is the merged document (``base:`` resolved, ``source:`` pushed down to every
numeric leaf by :mod:`hwconfigs.sources`, quoted throughputs frozen into per-cycle rates
by :mod:`hwconfigs.layers`). Each field declares its type, its unit and its physical
bounds (:data:`BOUNDS`, each with the reason for it), so every number a target accepts
is one the simulator can turn into finite times, energies and areas.

Every check raises a pydantic error of one custom type whose context holds our texts;
:func:`check_document` turns each into a line ``FILE: key.path: what; expected`` (the
key path from the error's ``loc``), never showing pydantic's own messages. To report
every problem at once and still let the cross-field rules see the rest of the file, a
document that fails is validated a second time with each failing value removed.
Unknown keys are kept (``extra="allow"``) and reported afterwards with the keys the
section accepts and the closest one; required keys likewise, so one bad or missing
value never hides the rest of its section.
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, NamedTuple, NoReturn, get_args

from attnsim.hwconfigs.errors import Problems, join_path
from attnsim.hwconfigs.registry import (
    CALIBRATION_CONSTANTS,
    ENGINE_KINDS,
    HARDWARE_KINDS,
    MEMORY_SCOPES,
    OP_CLASSES,
    PRECISIONS,
)
from attnsim.hwconfigs.units import DIMENSIONS, Bounds, QuantityError, parse_quantity
from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

__all__ = [
    "BOUNDS",
    "COUNTS",
    "COUNT",
    "QTY",
    "Num",
    "Section",
    "Document",
    "Engine",
    "Level",
    "check_document",
    "check_value",
    "suggest",
    "one_of",
    "type_name",
]

#: Physical bounds of every kind of number in a target: (dimension, low, high, reason).
BOUNDS: dict[str, Bounds] = {
    name: Bounds(*spec)
    for name, spec in {
        "clock": ("frequency", "1 MHz", "20 GHz", "digital logic clocks between these"),
        "throughput": ("throughput", "1 OP/s", "1e24 OP/s", "1e7 ops/clk x 2^20 units x 20 GHz"),
        "size": ("size", "1 B", "1 PiB", "a byte to more than any device holds"),
        "bandwidth": (
            "bandwidth",
            "1 kB/s",
            "1 PB/s",
            "slower is no memory, faster beats any chip",
        ),
        "latency": ("time", "0 s", "1 s", "latencies are ns to us, a second is a hang"),
        "op_energy": (
            "energy_per_op",
            "0 J",
            "1 uJ",
            "0: not modelled, 1 uJ: ~3e5 fp32 multiplies",
        ),
        "byte_energy": (
            "energy_per_byte",
            "0 J/B",
            "1 uJ/B",
            "0: not modelled, DRAM costs ~30 pJ/B",
        ),
        "power": ("power", "0 W", "1 MW", "0: not modelled, no device draws a megawatt"),
        "tdp": ("power", "1 uW", "1 MW", "no device runs on less or draws a megawatt"),
        "area": ("area", "1e-6 mm2", "1e5 mm2", "a few transistors to more than a wafer"),
        "area_other": ("area", "0 mm2", "1e5 mm2", "0 when the parts cover the die"),
        "area_density": ("area_per_size", "1e-15 mm2/B", "1e-3 mm2/B", "SRAM is ~5e-7 at 7 nm"),
        "power_density": ("power_per_size", "0 W/B", "1e-3 W/B", "1 kW per MiB leaks nowhere"),
        "param": ("dimensionless", "-1e15", "1e15", "a unit model's rows, columns, depths"),
    }.items()
}
BOUNDS["ops_per_cycle"] = Bounds(
    "dimensionless",
    "1e-6",
    "1e7",
    "1 op per 1e6 clocks to a 2048 x 2048 MAC array (8.4e6)",
    example="a number of ops per cycle of one unit such as 4096",
)

#: (low, high, reason) of whole-number fields.
COUNTS: dict[str, tuple[int, int, str]] = {
    "instances": (1, 2**20, "the largest wafer-scale chip has about 900,000 cores"),
    "links": (1, 2**16, "a device has a handful to hundreds of links"),
    "ports": (1, 1024, "a memory instance has a few ports"),
    "ops_per_mac": (1, 2, "a paper counts a multiply-accumulate as one op or as two"),
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_NAME_RULE = "expected a name of letters, digits, '_' or '-' starting with a letter"
_NO_SOURCE = (
    "expected 'source: \"<datasheet, paper, table>\"' on this value or on a mapping above it"
)


class Num(NamedTuple):
    """A validated number (SI float, or a count) and where it comes from. Text and
    true/false parameters are ``Num`` too; their source may be None."""

    value: Any
    source: str | None


# -- problems as pydantic errors ------------------------------------------------------------
Loc = tuple[str | int, ...]


def _fail(*problems: tuple[Loc, str, str]) -> NoReturn:
    """Raise the problems ``(loc relative to the value checked, what, expected)``."""
    raise ValidationError.from_exception_data(
        "hardware target",
        [
            InitErrorDetails(
                type=PydanticCustomError(
                    "hw", "{what}; {expected}", {"what": what, "expected": expected}
                ),
                loc=loc,
                input=None,
            )
            for loc, what, expected in problems
        ],
    )


def _bad(what: str, expected: str) -> NoReturn:
    """Raise one problem of the value checked."""
    _fail(((), what, expected))


def _collect(checks: Iterable[tuple[str | int, Callable[[], Any]]]) -> dict[Any, Any]:
    """Run every ``(key, check)``; raise all their problems together (each under its key)."""
    out: dict[Any, Any] = {}
    problems: list[tuple[Loc, str, str]] = []
    for key, check in checks:
        try:
            out[key] = check()
        except ValidationError as exc:
            problems.extend(
                ((key, *e["loc"]), e["ctx"]["what"], e["ctx"]["expected"]) for e in exc.errors()
            )
    if problems:
        _fail(*problems)
    return out


def suggest(word: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    choices = list(choices)
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if not close and str(word):
        close = [c for c in choices if c.startswith(str(word))][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(choices: Iterable[str], word: object = None) -> str:
    """``"expected one of: a, b, c"`` with a did-you-mean hint for ``word``."""
    choices = list(choices)
    hint = suggest(word, choices) if word is not None else ""
    return f"expected one of: {', '.join(choices)}{hint}"


def _show(node: object) -> str:
    try:
        text = repr(node)
    except ValueError:  # an integer too long to print
        return "a huge number"
    return text if len(text) <= 60 else text[:57] + "..."


def type_name(node: object) -> str:
    """How a value reads in a message: "a true/false", "the text 'x'", "5 (int)"."""
    if node is None:
        return "empty (null)"
    if isinstance(node, bool):
        return "a true/false"
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, list):
        return "a list"
    if isinstance(node, str):
        return f"the text {_show(node)}"
    return f"{_show(node)} ({type(node).__name__})"


def _key(key: object) -> str | int:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else repr(key)


def _is_leaf(node: object) -> bool:
    return isinstance(node, Mapping) and "value" in node


def _leaf(node: object) -> tuple[Any, str | None]:
    """(value, source) of a leaf written plainly or as ``{value: ..., source: ...}``."""
    if not isinstance(node, Mapping):
        return node, None
    if "value" not in node:
        _bad("is a mapping without 'value'", "expected a value, or {value: ..., source: ...}")
    extra = [k for k in node if k not in ("value", "source")]
    if extra:
        _fail(*(((_key(k),), "unknown key", one_of(("value", "source"), k)) for k in extra))
    source = node.get("source")
    return node["value"], source if isinstance(source, str) else None


def _sourced(value: Any, source: str | None) -> Num:
    if source is None:
        _bad("has no source", _NO_SOURCE)
    return Num(value, source)


# -- field types: Annotated metadata that validates with ``check`` -------------------------
class _Check:
    """Annotated metadata whose ``check`` validates the field (a plain validator)."""

    expected = ""

    @property
    def described(self) -> str:
        """What to write, for a "missing" message."""
        return self.expected

    def check(self, node: Any) -> Any:
        raise NotImplementedError

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)


class Qty(_Check):
    """A number with a unit of ``bounds.dimension`` inside ``bounds``, with a source."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.expected = bounds.example or DIMENSIONS[bounds.dimension].example

    def check(self, node: Any) -> Num:
        value, source = _leaf(node)
        try:
            number = parse_quantity(value, self.bounds.dimension)
        except QuantityError as exc:
            _bad(exc.what, exc.expected)
        bad = self.bounds.problem(number, _show(value))
        if bad is not None:
            _bad(*bad)
        return _sourced(number, source)


def check_value(kind: str, node: Any) -> float | None:
    """The SI value of ``node`` as a :data:`BOUNDS` ``kind``, or None if it fails."""
    try:
        return float(QTY[kind].check(node).value)
    except ValidationError:
        return None


class Count(_Check):
    """A whole number of ``what`` inside :data:`COUNTS`, with a source."""

    def __init__(self, what: str, bounds: str, example: int = 132) -> None:
        self.what = what
        self.low, self.high, self.reason = COUNTS[bounds]
        self.expected = f"a whole number of {what}, such as {example}"

    def check(self, node: Any) -> Num:
        value, source = _leaf(node)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            _bad(f"is {type_name(value)}", f"expected {self.expected}")
        if not self.low <= int(value) <= self.high:
            _bad(
                f"{_show(value)} is out of range",
                f"expected a whole number of {self.what} from {self.low} to {self.high} "
                f"({self.reason})",
            )
        return _sourced(int(value), source)


class Text(_Check):
    """A non-empty line of text (or any text with ``empty``), optionally one of a
    registry's names."""

    def __init__(
        self, expected: str, choices: Mapping[str, Any] | None = None, *, empty: bool = False
    ) -> None:
        self.expected, self.choices, self.empty = expected, choices, empty

    @property
    def described(self) -> str:
        names = f" ({', '.join(self.choices)})" if self.choices is not None else ""
        return self.expected + names

    def check(self, node: Any) -> str:
        if not isinstance(node, str) or not (node.strip() or self.empty):
            _bad(f"is {type_name(node)}", f"expected {self.expected}")
        if self.choices is not None and node not in self.choices:
            _bad(f"{_show(node)} is not known", one_of(self.choices, node))
        return node


class Key(_Check):
    """A mapping key: a name (letters, digits, '_', '-'), or one of a registry's names."""

    def __init__(self, what: str, choices: Mapping[str, Any] | None = None) -> None:
        self.what, self.choices = what, choices

    def check(self, node: Any) -> str:
        if self.choices is not None:
            if node not in self.choices:
                _bad(f"unknown {self.what} {_show(node)}", one_of(self.choices, node))
        elif not isinstance(node, str) or not _NAME.match(node):
            _bad(f"{_show(node)} is not a valid {self.what} name", _NAME_RULE)
        return str(node)


@dataclass(frozen=True)
class Map:
    """Annotated metadata for a ``dict`` field: our message when the value is not a
    mapping (or is empty where ``empty`` says what is expected instead)."""

    expected: str
    empty: str | None = None

    @property
    def described(self) -> str:
        """What to write, for a "missing" message."""
        return self.expected

    def guard(self, node: Any) -> Any:
        if not isinstance(node, Mapping) or _is_leaf(node):
            shown = node["value"] if _is_leaf(node) else node
            _bad(f"is {type_name(shown)}", f"expected {self.expected}")
        if self.empty is not None and not node:
            _bad("is empty", self.empty)
        return node

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.guard, handler(source))


class Items(_Check):
    """A mapping whose keys pass ``key`` and whose values pass ``value`` (or the check
    ``value(key)`` returns); every item is checked and all problems raised together."""

    def __init__(self, expected: str, key: Key, value: _Check | Callable[[str], _Check]) -> None:
        self.map, self.key, self.value = Map(expected), key, value
        self.expected = expected

    def check(self, node: Any) -> dict[str, Any]:
        node = self.map.guard(node)
        return _collect((_key(k), partial(self._item, k, node[k])) for k in node)

    def _item(self, key: Any, node: Any) -> Any:
        key = self.key.check(key)
        value = self.value if isinstance(self.value, _Check) else self.value(key)
        return value.check(node)


def _table(bounds: str, example: str) -> Items:
    """An ``op class -> precision -> quantity`` table."""
    precisions = Items(
        f"a mapping of precision -> {example}", Key("precision", PRECISIONS), QTY[bounds]
    )
    return Items(
        f"a mapping of op class -> precision -> {example}", Key("op class", OP_CLASSES), precisions
    )


def _in_range(value: numbers.Real) -> bool:
    """Finite and of magnitude below 2**62 (an integer of 400 digits overflows a float)."""
    try:
        return abs(float(value)) < 2**62
    except OverflowError:
        return False


class Param(_Check):
    """A unit-model parameter: a number (with a source), text or true/false."""

    def check(self, node: Any) -> Num:
        value, source = _leaf(node)
        if isinstance(value, bool | str):
            return Num(value, source)
        if isinstance(value, numbers.Real) and _in_range(value):
            checked = QTY["param"].check(node)
            if isinstance(value, int):  # array rows, columns, depths stay whole numbers
                return Num(int(value), checked.source)
            return checked
        _bad(f"is {type_name(value)}", "expected a finite number, text or true/false")


_FAMILY = "expected a kernel family name such as 'flash-attention-2'"


class Families(_Check):
    """Kernel family names, best first, each once."""

    expected = "a list of kernel family names such as [flash-attention-2, unfused]"

    def check(self, node: Any) -> tuple[str, ...]:
        if not isinstance(node, list):
            _bad(f"is {type_name(node)}", f"expected {self.expected}")
        bad = [
            ((f"[{i}]",), f"is {type_name(f)}", _FAMILY)
            if not isinstance(f, str) or not _NAME.match(f)
            else ((f"[{i}]",), f"{f!r} is listed twice", "expected each family once, best first")
            for i, f in enumerate(node)
            if not isinstance(f, str) or not _NAME.match(f) or f in node[:i]
        ]
        if bad:
            _fail(*bad)
        return tuple(node)


class Names(_Check):
    """A non-empty list of distinct names (engines, ...), each checked by ``Key``."""

    def __init__(self, what: str, example: str) -> None:
        self.what = what
        self.expected = f"a list of {what} names such as {example}"

    def check(self, node: Any) -> tuple[str, ...]:
        if not isinstance(node, list):
            _bad(f"is {type_name(node)}", f"expected {self.expected}")
        if not node:
            _bad("is empty", f"expected {self.expected}")
        bad = [
            ((f"[{i}]",), f"is {type_name(n)}", f"expected {self.expected}")
            if not isinstance(n, str) or not _NAME.match(n)
            else ((f"[{i}]",), f"{n!r} is listed twice", f"expected each {self.what} once")
            for i, n in enumerate(node)
            if not isinstance(n, str) or not _NAME.match(n) or n in node[:i]
        ]
        if bad:
            _fail(*bad)
        return tuple(node)


def _keys(section: type[BaseModel]) -> str:
    return f"a mapping with keys {', '.join(section.model_fields)}"


class NotNull:
    """Annotated metadata for an optional section: written empty (null) is a problem, not
    an absent section."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        keys = _keys(get_args(source)[0])

        def guard(node: Any) -> Any:
            if node is None:
                _bad("is empty (null)", f"expected {keys}")
            return node

        return core_schema.no_info_before_validator_function(guard, handler(source))


@dataclass(frozen=True)
class Required:
    """Annotated marker of a key that must be given (``expected``: what to write)."""

    expected: str | None = None


REQUIRED = Required()
QTY = {name: Qty(bounds) for name, bounds in BOUNDS.items()}
COUNT = Count("instances", "instances")


# -- the document ----------------------------------------------------------------------------
class Section(BaseModel):
    """A mapping of the document. Unknown keys are kept and reported after validation."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _is_mapping(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or _is_leaf(data):
            shown = data["value"] if _is_leaf(data) else data
            _bad(f"is {type_name(shown)}", f"expected {_keys(cls)}")
        if all(isinstance(k, str) for k in data):
            return data
        return {k if isinstance(k, str) else repr(k): v for k, v in data.items()}


OpTable = dict[str, dict[str, Num]]
_PARAMS = Items(
    "a mapping of parameter name -> value, such as {rows: 64}", Key("parameter"), Param()
)
_CALIBRATION = Items(
    "a mapping of constant name -> value with a source",
    Key("calibration constant", CALIBRATION_CONSTANTS),
    lambda name: Qty(CALIBRATION_CONSTANTS[name]),
)


class Unit(Section):
    """A replicated unit whose instance count its engines share."""

    count: Annotated[Num | None, COUNT, REQUIRED] = None


class Engine(Section):
    """A group of identical engines: rates per unit per cycle (or a quoted throughput)."""

    kind: Annotated[str | None, Text("an engine kind", ENGINE_KINDS), REQUIRED] = None
    unit: Annotated[str | None, Text("the name of the replicated unit, such as 'sm'")] = None
    count: Annotated[Num | None, COUNT] = None
    clock: Annotated[Num | None, QTY["clock"], REQUIRED] = None
    ops_per_cycle: Annotated[OpTable | None, _table("ops_per_cycle", "ops per cycle")] = None
    throughput: Annotated[OpTable | None, _table("throughput", "throughput")] = None
    buffer: Annotated[Num | None, QTY["size"]] = None
    energy: Annotated[OpTable | None, _table("op_energy", "energy")] = None
    static_power: Annotated[Num | None, QTY["power"]] = None
    area: Annotated[Num | None, QTY["area"]] = None
    params: Annotated[dict[str, Num] | None, _PARAMS] = None


class Level(Section):
    """One memory level: capacity, bandwidth and latency of one instance."""

    capacity: Annotated[Num | None, QTY["size"], REQUIRED] = None
    bandwidth: Annotated[Num | None, QTY["bandwidth"], REQUIRED] = None
    latency: Annotated[Num | None, QTY["latency"], REQUIRED] = None
    read_energy: Annotated[Num | None, QTY["byte_energy"], REQUIRED] = None
    write_energy: Annotated[Num | None, QTY["byte_energy"]] = None
    scope: Annotated[str | None, Text("a scope", MEMORY_SCOPES)] = None
    unit: Annotated[str | None, Text("the name of an engine unit, such as 'sm'")] = None
    ports: Annotated[Num | None, Count("ports", "ports")] = None
    area_density: Annotated[Num | None, QTY["area_density"]] = None
    static_power_density: Annotated[Num | None, QTY["power_density"]] = None


class Interconnect(Section):
    """Links to other devices (bandwidth over all links)."""

    name: Annotated[str | None, Text("a name such as 'nvlink4'"), REQUIRED] = None
    links: Annotated[Num | None, Count("links", "links"), Required("a whole number of links")] = (
        None
    )
    bandwidth: Annotated[Num | None, QTY["bandwidth"], REQUIRED] = None
    latency: Annotated[Num | None, QTY["latency"]] = None


class Energy(Section):
    """Chip-level energy per op, static power of the rest of the chip, TDP."""

    per_op: Annotated[
        OpTable | None,
        _table("op_energy", "energy"),
        Required("a mapping of op class -> precision -> energy such as {matmul: {fp16: '0.2 pJ'}}"),
    ] = None
    static_power: Annotated[Num | None, QTY["power"], REQUIRED] = None
    tdp: Annotated[Num | None, QTY["tdp"]] = None


class Area(Section):
    """Published die area, the area outside engines and levels, a breakdown, the process."""

    total: Annotated[Num | None, QTY["area"]] = None
    other: Annotated[Num | None, QTY["area_other"]] = None
    breakdown: Annotated[
        dict[Annotated[str, Key("block")], Annotated[Num, QTY["area"]]] | None,
        Map("a mapping of block name -> area"),
    ] = None
    process: Annotated[str | None, Text("a process name such as 'TSMC 4N'")] = None


class FigureOfMerit(Section):
    """How the target's paper counts the peak in its figure of merit (TOPS/mm²/W): the
    matmul peak of ``engines`` in ``precision``, a MAC counted as ``ops_per_mac`` ops."""

    engines: Annotated[tuple[str, ...] | None, Names("engine", "[tint]"), REQUIRED] = None
    precision: Annotated[str | None, Text("a precision", PRECISIONS), REQUIRED] = None
    ops_per_mac: Annotated[Num | None, Count("ops per MAC", "ops_per_mac", 1), REQUIRED] = None


class Document(Section):
    """A whole target (``version`` and ``base`` are handled by the loader)."""

    version: Any = None
    name: Annotated[str | None, Text("a name such as 'h100-sxm5-80gb'"), REQUIRED] = None
    kind: Annotated[str | None, Text("a device kind", HARDWARE_KINDS), REQUIRED] = None
    description: Annotated[str | None, Text("a line of text", empty=True)] = None
    base: Any = None
    units: Annotated[
        dict[Annotated[str, Key("unit")], Unit] | None,
        Map("a mapping of unit name -> {count: N}, such as {sm: {count: 132}}"),
    ] = None
    engines: Annotated[
        dict[Annotated[str, Key("engine")], Engine] | None,
        Map(
            "a mapping of engine name -> engine",
            "expected at least one engine such as 'tensor: {kind: tensor, ...}'",
        ),
        REQUIRED,
    ] = None
    memory: Annotated[
        dict[Annotated[str, Key("memory level")], Level] | None,
        Map(
            "a mapping of level name -> level, nearest the engines first",
            "expected at least one memory level such as 'hbm: {...}'",
        ),
        REQUIRED,
    ] = None
    interconnect: Annotated[Interconnect | None, NotNull()] = None
    energy: Annotated[Energy | None, NotNull(), Required(_keys(Energy))] = None
    area: Annotated[Area | None, NotNull()] = None
    kernel_families: Annotated[tuple[str, ...] | None, Families()] = None
    calibration: Annotated[dict[str, Num] | None, _CALIBRATION] = None
    figure_of_merit: Annotated[FigureOfMerit | None, NotNull()] = None


# -- from pydantic errors to our lines -------------------------------------------------------
def _path(loc: Iterable[str | int]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, str) and part.startswith("[") and path:
            path += part
        else:
            path = join_path(path, part)
    return path


def _texts(error: Any) -> tuple[str, str]:
    if error["type"] == "hw":
        return error["ctx"]["what"], error["ctx"]["expected"]
    return f"is not valid ({error['type']})", "expected a value of the documented form"


def _required(info: FieldInfo) -> str | None:
    marks = info.metadata
    for mark in marks:
        if isinstance(mark, Required):
            return mark.expected or next(m.described for m in marks if hasattr(m, "described"))
    return None


def _walk(node: Any, path: str, pruned: set[str], sources: dict[str, str], p: Problems) -> None:
    """Record the sources of every number, unknown keys and missing required keys."""
    if isinstance(node, Num):
        if node.source is not None:
            sources[path] = node.source
    elif isinstance(node, Section):
        fields = type(node).model_fields
        for key in node.model_extra or {}:
            p.add(join_path(path, key), "unknown key", one_of(fields, key))
        for name, info in fields.items():
            value, here = getattr(node, name), join_path(path, name)
            if value is not None:
                _walk(value, here, pruned, sources, p)
            elif here not in pruned and (expected := _required(info)) is not None:
                p.add(here, "missing", f"expected {expected}")
    elif isinstance(node, dict):
        for key, value in node.items():
            _walk(value, join_path(path, key), pruned, sources, p)


def _without(doc: Mapping[Any, Any], locs: Iterable[Loc]) -> tuple[dict[Any, Any], set[str]]:
    """``doc`` without the values at ``locs`` (the deepest key of each that the document
    holds; mappings on the way are copied, ``doc`` is not changed), and the key paths
    removed."""
    out = dict(doc)
    copied, removed = {id(out)}, set()
    for loc in locs:
        node: Any = out
        parent, key, path = None, None, ""
        for part in loc:
            found = (
                [k for k in node if k == part or _key(k) == part] if part not in node else [part]
            )
            if not found:
                break
            child = node[found[0]]
            if isinstance(child, Mapping) and id(child) not in copied:
                child = node[found[0]] = dict(child)
                copied.add(id(child))
            parent, key, node, path = node, found[0], child, join_path(path, found[0])
            if not isinstance(node, dict):
                break
        if parent is not None and key in parent:
            del parent[key]
            removed.add(path)
    return out, removed


def check_document(
    doc: Mapping[Any, Any], p: Problems
) -> tuple[Document | None, dict[str, str], set[str]]:
    """Check ``doc`` against the schema, recording every problem in ``p``.

    Returns the validated document (when the file has problems: the document without
    its failing values, for the cross-field rules; None if even that fails), the source
    of every number by key path, and the key paths of the values that failed."""
    pruned: set[str] = set()
    try:
        model: Document | None = Document.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for error in errors:
            p.add(_path(error["loc"]), *_texts(error))
        rest, pruned = _without(doc, (e["loc"] for e in errors))
        try:
            model = Document.model_validate(rest)
        except ValidationError:
            model = None
    sources: dict[str, str] = {}
    if model is not None:
        _walk(model, "", pruned, sources, p)
    return model, sources, pruned
