"""``attnsim hw``: list, show and validate hardware targets (a thin layer over hwconfigs).

Numbers print as people write them (``5 us``, ``3.35 TB/s``, ``228 KiB``); a rate per
unit per cycle prints with the whole-group throughput it means
(``4096/clk/SM = 989.4 TFLOP/s``). ``--json`` prints SI numbers instead.
"""

from __future__ import annotations

import argparse
import json
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
from attnsim.hwconfigs.units import DIMENSIONS, format_human
from attnsim.reports import targets_table

ERRORS: tuple[type[BaseException], ...] = (HardwareConfigError,)

#: SI unit written by ``Hardware.to_dict`` -> dimension (for :func:`format_human`).
_DIMENSION_OF = {d.si_unit: name for name, d in DIMENSIONS.items() if d.si_unit}


def _console() -> Console:
    return Console(width=160, soft_wrap=False, highlight=False)


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2))


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
        value: float | int | str
        if isinstance(raw, str):
            number, _, unit = raw.partition(" ")
            try:
                value = float(number)
            except ValueError:  # a text parameter (a unit model's name, a mode)
                value, unit = raw, ""
        else:
            value, unit = raw, ""
        out[path] = {"value": value, "unit": unit, "source": leaf["source"]}
    return out


def _rate_unit(precision: str) -> str:
    return "FLOP/s" if precision.startswith(("fp", "bf", "tf")) else "OPS"


def shown_value(hw: Hardware, path: str, value: float, unit: str) -> str:
    """The value at ``path`` as people write it; a per-cycle rate with its throughput."""
    parts = path.split(".")
    if len(parts) == 5 and parts[0] == "engines" and parts[2] == "ops_per_cycle":
        engine = hw.engines[parts[1]]
        unit_name = engine.unit.upper() if len(engine.unit) <= 3 else engine.unit
        whole = engine.throughput[parts[3]][parts[4]]
        rate = format_human(whole, "throughput", _rate_unit(parts[4]))
        return f"{value:.4g}/clk/{unit_name} = {rate}"
    if unit in _DIMENSION_OF:
        return format_human(value, _DIMENSION_OF[unit])
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _summary(hw: Hardware) -> dict[str, Any]:
    far = hw.memory[-1]
    return {
        "name": hw.name,
        "kind": hw.kind,
        "description": hw.description,
        "peak_ops_per_s": {
            op: {prec: hw.peak(op, prec) for e in hw.engines.values() for prec in e.precisions(op)}
            for op in dict.fromkeys(op for e in hw.engines.values() for op in e.ops_per_cycle)
        },
        "far_memory": {
            "name": far.name,
            "capacity_bytes": far.capacity_bytes,
            "bandwidth_bytes_per_s": far.bandwidth_bytes_per_s,
        },
        "area_mm2": hw.area_mm2,
        "static_power_w": hw.static_power_w,
        "tdp_w": hw.energy.tdp_w,
        "digest": hw.digest,
    }


def _cmd_list(args: argparse.Namespace) -> int:
    targets = [load_hardware(name) for name in list_targets()]
    if args.json:
        _print_json([_summary(hw) for hw in targets])
    else:
        _console().print(targets_table(targets))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from attnsim.api import as_hardware  # host-cpu: this machine's own, measured on first use

    hw = as_hardware(args.target)
    values = resolved_values(hw)
    if args.json:
        _print_json(
            {
                "name": hw.name,
                "kind": hw.kind,
                "description": hw.description,
                "version": hw.version,
                "kernel_families": list(hw.kernel_families),
                "memory_order": [level.name for level in hw.memory],
                "values": values,
            }
        )
        return 0
    console = _console()
    console.print(
        f"[bold]{hw.name}[/bold] ({hw.kind}, format version {hw.version}): {hw.description}"
    )
    if hw.kernel_families:
        console.print("kernel families (best first): " + ", ".join(hw.kernel_families))
    area = format_human(hw.area_mm2, "area") if hw.area_mm2 is not None else "not given"
    console.print(f"area {area}, static power {format_human(hw.static_power_w, 'power')}")
    table = Table(show_lines=False)
    table.add_column("key")
    table.add_column("value", justify="right")
    table.add_column("source", overflow="fold")
    for path, v in values.items():
        table.add_row(path, shown_value(hw, path, v["value"], v["unit"]), v["source"])
    console.print(table)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    results = [(path, validate_file(path)) for path in args.files]
    if args.json:
        _print_json([{"file": f, "ok": not lines, "problems": lines} for f, lines in results])
        return 2 if any(lines for _, lines in results) else 0
    for path, lines in results:
        if not lines:
            print(f"{path}: ok")
    problems = [line for _, lines in results for line in lines]
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
    as_json = {"action": "store_true", "help": "print JSON (SI numbers) instead of a table"}

    p = sub.add_parser("list", help="table of bundled targets with peak rates and far memory")
    p.add_argument("--json", **as_json)
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("show", help="every resolved value of a target, with unit and source")
    p.add_argument("target", metavar="NAME|FILE", help="bundled target name or path to a YAML file")
    p.add_argument("--json", **as_json)
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("validate", help="check hardware files; exit 2 listing every problem")
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="YAML files (or bundled names) to check"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list, one {"file", "ok", "problems"} object per file',
    )
    p.set_defaults(func=_cmd_validate)
