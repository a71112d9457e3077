"""``attnsim hw``: list, show and validate hardware targets (a thin layer over hwconfigs)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from attnsim.hwconfigs import (
    Hardware,
    HardwareConfigError,
    list_targets,
    load_hardware,
    validate_file,
)
from attnsim.reports import targets_table

ERRORS: tuple[type[BaseException], ...] = (HardwareConfigError,)

_DECIMAL = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_SMALL = ((1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))
_BINARY = ((2.0**40, "Ti"), (2.0**30, "Gi"), (2.0**20, "Mi"), (2.0**10, "Ki"))


def _number(x: float) -> str:
    return f"{x:.4g}"


def human(value: float, unit: str) -> str:
    """``3350000000000.0, "B/s"`` -> ``"3.35 TB/s"``; sizes in binary prefixes when exact."""
    if unit == "B":
        scale, prefix = next(((s, p) for s, p in _BINARY if value >= s), (1.0, ""))
        if prefix and (value / scale) * 100 == int((value / scale) * 100):
            return f"{_number(value / scale)} {prefix}B"
    if unit == "OP/s":
        unit = "OPS"
    if unit in ("", "mm2") or value == 0 or not math.isfinite(value):
        return f"{_number(value)} {unit}".strip()
    for scale, prefix in _DECIMAL + _SMALL:
        if abs(value) >= scale:
            return f"{_number(value / scale)} {prefix}{unit}"
    return f"{value:.4g} {unit}"


def _console() -> Console:
    return Console(width=160, soft_wrap=False, highlight=False)


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        if "value" in node and "source" in node:
            yield path, node
            return
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))


def resolved_values(hw: Hardware) -> dict[str, dict[str, Any]]:
    """Every number of ``hw`` by dotted key path: ``{"value": SI float, "unit", "source"}``."""
    out: dict[str, dict[str, Any]] = {}
    for path, leaf in _leaves(hw.to_dict()):
        raw = leaf["value"]
        if isinstance(raw, str):
            number, _, unit = raw.partition(" ")
            value: float | int = float(number)
        else:
            value, unit = raw, ""
        out[path] = {"value": value, "unit": unit, "source": leaf["source"]}
    return out


def _cmd_list(args: argparse.Namespace) -> int:
    _console().print(targets_table([load_hardware(name) for name in list_targets()]))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from attnsim.api import as_hardware  # host-cpu: this machine's own, measured on first use

    hw = as_hardware(args.target)
    values = resolved_values(hw)
    if args.json:
        doc = {
            "name": hw.name,
            "kind": hw.kind,
            "description": hw.description,
            "version": hw.version,
            "kernel_families": list(hw.kernel_families),
            "memory_order": [level.name for level in hw.memory],
            "values": values,
        }
        print(json.dumps(doc, indent=2))
        return 0
    console = _console()
    console.print(
        f"[bold]{hw.name}[/bold] ({hw.kind}, format version {hw.version}): {hw.description}"
    )
    if hw.kernel_families:
        console.print("kernel families (best first): " + ", ".join(hw.kernel_families))
    table = Table(show_lines=False)
    table.add_column("key")
    table.add_column("value", justify="right")
    table.add_column("source", overflow="fold")
    for path, v in values.items():
        table.add_row(
            path, human(float(v["value"]), v["unit"]) if v["unit"] else str(v["value"]), v["source"]
        )
    console.print(table)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    problems: list[str] = []
    for path in args.files:
        lines = validate_file(path)
        if lines:
            problems.extend(lines)
        else:
            print(f"{path}: ok")
    if problems:
        raise HardwareConfigError(problems)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``hw`` command group (``list``, ``show``, ``validate``)."""
    hw = subparsers.add_parser(
        "hw", help="hardware targets: list, show, validate", description=__doc__
    )
    sub = hw.add_subparsers(dest="hw_command", metavar="SUBCOMMAND")
    sub.required = True

    p = sub.add_parser("list", help="table of bundled targets with peak rates and far memory")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("show", help="every resolved value of a target, with unit and source")
    p.add_argument("target", metavar="NAME|FILE", help="bundled target name or path to a YAML file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("validate", help="check hardware files; exit 2 listing every problem")
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="YAML files (or bundled names) to check"
    )
    p.set_defaults(func=_cmd_validate)
