"""The examples in hwconfigs' README and docstrings run."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

from attnsim.hwconfigs import load_hardware

from attnsim import hwconfigs

README = Path(hwconfigs.__file__).parent / "README.md"


def test_package_docstring_example() -> None:
    result = doctest.testmod(hwconfigs, verbose=False)
    assert result.attempted >= 1 and result.failed == 0


def test_readme_yaml_example_loads(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    path = tmp_path / "my-npu.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    hw = load_hardware(path)
    assert hw.peak("matmul", "int8") == 32e12
    assert hw.memory_level("dram").read_energy_j_per_byte == 32e-12  # 4 pJ/bit
    assert hw.sources["engines.mac.ops_per_cycle.exp.fp16"].startswith("assumption: 4 exp/clk/PE")
    assert hw.sources["memory.dram.capacity"] == "vendor datasheet rev. B, table 2"
    assert hw.calibration["launch_overhead"] == 3e-6
