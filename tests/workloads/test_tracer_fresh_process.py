"""Regression: a transformers zoo model builds in a fresh interpreter (transformers not
yet imported), where weight initialisation on fake tensors must still be skipped. It
once depended on which tests had imported transformers earlier in the same worker."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
assert "transformers" not in sys.modules
from attnsim.workloads.zoo import build_workload
w = build_workload("vit-b16", batch=1)
print(w.total_flops())
"""


@pytest.mark.slow
def test_hf_model_builds_in_a_fresh_process():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip()) > 0
