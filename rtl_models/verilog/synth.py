"""Yosys synthesis of ``tint_column.v``: cell counts as an area cross-check.

Generic synthesis (``synth -flatten``, then ABC mapped to the CMOS gate set NAND, NOR,
NOT) with no technology library: the result is a gate and flip-flop count and yosys's
transistor estimate for the logic gates (``stat -tech cmos``, which leaves flip-flops
out), not a 16 nm area. docs/RTL_MODELS.md turns it into an order-of-magnitude area with
labelled assumptions. Runs ``yosys`` (optional: a clear error when it is missing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ..cost import RtlModelError
from . import VERILOG_DIR

__all__ = ["SynthReport", "synthesize_column"]


@dataclass(frozen=True)
class SynthReport:
    """Yosys statistics of one synthesised column.

    Attributes:
        rows: R of the column.
        acc_bits: accumulator width.
        cells: cell type -> count (``$_NAND_``, ``$_SDFF_PP0_``, ...).
        total_cells: all cells.
        flip_flops: cells that are flip-flops (yosys ``$_*DFF*`` types).
        logic_transistors: yosys's transistor estimate for the non-flip-flop cells.
        yosys_version: the first line of ``yosys -V``.
    """

    rows: int
    acc_bits: int
    cells: Mapping[str, int]
    total_cells: int
    flip_flops: int
    logic_transistors: int
    yosys_version: str


def synthesize_column(rows: int, acc_bits: int = 32, timeout_s: float = 600.0) -> SynthReport:
    """Synthesise ``tint_column`` with ``R = rows`` and return its statistics."""
    if shutil.which("yosys") is None:
        raise RtlModelError(
            "rtl_models: verilog.synth: yosys is not installed; expected yosys on PATH "
            "(Debian: apt-get install yosys)"
        )
    src = VERILOG_DIR / "tint_column.v"
    with tempfile.TemporaryDirectory(prefix="attnsim-synth-") as tmp:
        stat = Path(tmp) / "stat.txt"
        script = (
            f"read_verilog {src}; chparam -set R {rows} -set ACCW {acc_bits} tint_column; "
            "synth -flatten -top tint_column; abc -g cmos2; opt_clean; "
            f"tee -q -o {stat} stat -tech cmos"
        )
        proc = subprocess.run(
            ["yosys", "-q", "-p", script], capture_output=True, text=True, timeout=timeout_s
        )
        if proc.returncode != 0 or not stat.exists():
            raise RtlModelError(
                f"rtl_models: verilog.synth: yosys failed (exit {proc.returncode}): "
                f"{proc.stderr.strip().splitlines()[-1:]}; expected a clean synthesis"
            )
        text = stat.read_text()
    version = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()
    cells = {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\$_\w+)\s+(\d+)\s*$", text, re.M)
    }
    total = int(re.search(r"Number of cells:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    tr = re.search(r"Estimated number of transistors:\s+(\d+)", text)
    flops = sum(n for name, n in cells.items() if "DFF" in name)
    return SynthReport(
        rows=rows,
        acc_bits=acc_bits,
        cells=MappingProxyType(cells),
        total_cells=total,
        flip_flops=flops,
        logic_transistors=int(tr.group(1)) if tr else 0,
        yosys_version=version,
    )
