"""Real Verilog for the ternary MAC array's column (``tint_column.v``) and the tools that
check it against :class:`~attnsim.rtl_models.ternary_mac.TernaryColumnModel`: a cycle-by-
cycle co-simulation in Icarus Verilog or Verilator (:mod:`.cosim`) and a yosys synthesis
that counts cells as an area cross-check (:mod:`.synth`). The tools are optional: the
functions say so with :class:`~attnsim.rtl_models.cost.RtlModelError` when one is
missing."""

from __future__ import annotations

from pathlib import Path

__all__ = ["VERILOG_DIR"]

#: The folder holding the Verilog sources.
VERILOG_DIR = Path(__file__).resolve().parent
