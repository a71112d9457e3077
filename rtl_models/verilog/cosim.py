"""Co-simulation of ``tint_column.v`` against the Python column model, cycle by cycle.

The same stimulus (one line per clock: valid, first, R activations, R weight codes)
drives the Verilog (Icarus Verilog or Verilator) and
:class:`~attnsim.rtl_models.ternary_mac.TernaryColumnModel`; both report
``(acc_valid, acc)`` after every rising edge. Used by tests/rtl_models and by
``benchmarks/bench_rtl.py --synth``; it runs external tools, so it is never imported by
the rest of the package.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cost import RtlModelError
from ..ternary_mac import WEIGHT_CODE, TernaryColumnModel
from . import VERILOG_DIR

__all__ = [
    "ColumnInput",
    "column_stimulus",
    "model_trace",
    "verilog_trace",
    "available_simulators",
    "SIMULATORS",
]

#: Simulators the co-simulation knows, with the executable each needs.
SIMULATORS = {"iverilog": ("iverilog", "vvp"), "verilator": ("verilator",)}

ACT_BITS = 8


@dataclass(frozen=True)
class ColumnInput:
    """One clock cycle of column input."""

    valid: bool
    first: bool
    acts: tuple[int, ...]
    weights: tuple[int, ...]

    def line(self) -> str:
        """The stimulus line the testbench reads: ``valid first acts_hex wcodes_hex``."""
        a = sum((x & 0xFF) << (ACT_BITS * i) for i, x in enumerate(self.acts))
        w = sum(WEIGHT_CODE[x] << (2 * i) for i, x in enumerate(self.weights))
        return f"{int(self.valid)} {int(self.first)} {a:x} {w:x}"


def column_stimulus(rows: int, cycles: int, seed: int, *, bubble: float = 0.2) -> list[ColumnInput]:
    """Random stimulus: outputs of 1..4 slices each, idle cycles with probability
    ``bubble``, extreme activations (-128, 127) mixed in; deterministic under ``seed``."""
    rng = np.random.default_rng(seed)
    out: list[ColumnInput] = []
    left = 0
    while len(out) < cycles:
        if rng.random() < bubble:
            junk = tuple(int(x) for x in rng.integers(-128, 128, rows))
            out.append(ColumnInput(False, bool(rng.random() < 0.5), junk, (0,) * rows))
            continue
        first = left == 0
        if first:
            left = int(rng.integers(1, 5))
        left -= 1
        acts = (
            rng.choice([-128, 127, 0], size=rows)
            if rng.random() < 0.1
            else rng.integers(-128, 128, rows)
        )
        weights = rng.integers(-1, 2, rows)
        out.append(
            ColumnInput(True, first, tuple(int(x) for x in acts), tuple(int(x) for x in weights))
        )
    # drain: enough idle cycles for the last result to reach the accumulator
    for _ in range((rows - 1).bit_length() + 3):
        out.append(ColumnInput(False, False, (0,) * rows, (0,) * rows))
    return out


def model_trace(
    rows: int, stimulus: list[ColumnInput], acc_bits: int = 32
) -> list[tuple[int, int]]:
    """``(acc_valid, acc)`` of the Python column after each clock edge."""
    col = TernaryColumnModel(rows, acc_bits)
    trace = []
    for s in stimulus:
        col.step(s.valid, s.first, list(s.acts), list(s.weights))
        trace.append((int(col.acc_valid), col.acc))
    return trace


def available_simulators() -> list[str]:
    """The simulators whose executables are on PATH."""
    return [name for name, exes in SIMULATORS.items() if all(shutil.which(e) for e in exes)]


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RtlModelError(
            f"rtl_models: verilog.cosim: {cmd[0]} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}; expected a clean run"
        )
    return proc.stdout


def verilog_trace(
    rows: int, stimulus: list[ColumnInput], simulator: str = "iverilog", timeout_s: float = 300.0
) -> list[tuple[int, int]]:
    """``(acc_valid, acc)`` of ``tint_column.v`` after each clock edge, simulated by
    ``simulator`` (``"iverilog"`` or ``"verilator"``) in a temporary folder."""
    if simulator not in SIMULATORS:
        raise RtlModelError(
            f"rtl_models: verilog.cosim.simulator: unknown simulator {simulator!r}; "
            f"expected one of {', '.join(SIMULATORS)}"
        )
    if simulator not in available_simulators():
        raise RtlModelError(
            f"rtl_models: verilog.cosim.simulator: {simulator} is not installed; expected "
            f"{' and '.join(SIMULATORS[simulator])} on PATH (Debian: apt-get install {simulator})"
        )
    sources = [str(VERILOG_DIR / "tb_tint_column.v"), str(VERILOG_DIR / "tint_column.v")]
    with tempfile.TemporaryDirectory(prefix="attnsim-cosim-") as tmp:
        work = Path(tmp)
        stim = work / "stim.txt"
        stim.write_text("".join(s.line() + "\n" for s in stimulus))
        if simulator == "iverilog":
            _run(
                ["iverilog", "-g2005", f"-Ptb_tint_column.R={rows}", "-o", "sim.vvp", *sources],
                work,
                timeout_s,
            )
            out = _run(["vvp", "-n", "sim.vvp", f"+stim={stim}"], work, timeout_s)
        else:
            _run(
                [
                    "verilator",
                    "--binary",
                    "--timing",
                    "-Wno-fatal",
                    "-Wno-lint",
                    "-Wno-style",
                    f"-GR={rows}",
                    "--top-module",
                    "tb_tint_column",
                    "-Mdir",
                    "obj",
                    "-o",
                    "sim",
                    *sources,
                ],
                work,
                timeout_s,
            )
            out = _run([str(work / "obj" / "sim"), f"+stim={stim}"], work, timeout_s)
    trace = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            trace.append((int(parts[1]), int(parts[2])))
    return trace
