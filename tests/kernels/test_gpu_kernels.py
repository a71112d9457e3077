"""Triton kernels against torch SDPA on CUDA (skipped without a GPU and Triton), and the
guarantees that hold everywhere: ``import kernels`` never needs Triton, the GPU record
script refuses cleanly without a GPU."""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest
import torch
from attnsim.kernels.gpu import triton_available
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SlidingWindowMask,
)
from attnsim.workloads.synthetic import random_block_layout

_OK, _WHY = triton_available()
needs_gpu = pytest.mark.skipif(not _OK, reason=f"GPU kernels skipped: {_WHY}")


def test_kernels_import_without_triton() -> None:
    mod = importlib.import_module("kernels")
    assert hasattr(mod, "attention_forward")
    gpu = importlib.import_module("attnsim.kernels.gpu")
    ok, why = gpu.triton_available()
    assert ok or why


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("triton") is None, reason="Triton is not installed (interpreter check)"
)
def test_triton_kernels_in_interpreter() -> None:
    """The Triton kernels' logic, run by Triton's CPU interpreter, against SDPA (needs only
    the triton package, no GPU)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("triton_interpret_check.py")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    res = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("max error") == 13


@pytest.mark.skipif(_OK, reason="this machine can run the GPU kernels")
def test_record_refuses_without_gpu(capsys) -> None:  # type: ignore[no-untyped-def]
    from attnsim.kernels.gpu.record import main

    assert main(["--quick"]) == 2
    assert "error:" in capsys.readouterr().err


def _reference(q, k, v, mask: MaskPattern):  # type: ignore[no-untyped-def]
    live = torch.from_numpy(mask.dense(q.shape[2], k.shape[2])).to(q.device)
    out = torch.nn.functional.scaled_dot_product_attention(
        q.float(), k.float(), v.float(), attn_mask=live, enable_gqa=q.shape[1] != k.shape[1]
    )
    return torch.where(live.any(-1)[None, None, :, None], out, torch.zeros_like(out))


def _qkv(b, hq, hkv, sq, sk, d, dv, dtype=torch.float16, seed=0):  # type: ignore[no-untyped-def]
    g = torch.Generator(device="cuda").manual_seed(seed)
    mk = lambda *s: torch.randn(s, generator=g, device="cuda").to(dtype)  # noqa: E731
    return mk(b, hq, sq, d), mk(b, hkv, sk, d), mk(b, hkv, sk, dv)


_MISALIGNED = tuple(tuple(bool((i + j) % 3) for j in range(5)) for i in range(9))
CASES = [
    ("dense", FullMask(), 2, 4, 4, 300, 300, 64),
    ("dense-ragged-cross", FullMask(), 1, 2, 2, 77, 190, 64),
    ("causal", CausalMask(), 2, 4, 4, 513, 513, 64),
    ("causal-q<k", CausalMask(), 1, 4, 4, 100, 333, 128),
    ("causal-q>k (empty rows)", CausalMask(), 1, 2, 2, 200, 150, 64),
    ("gqa-causal", CausalMask(), 2, 8, 2, 256, 256, 64),
    ("window", SlidingWindowMask(63, 5), 1, 4, 2, 700, 700, 64),
    ("neighborhood-2d", NeighborhoodMask((24, 20), (7, 5), (2, 1)), 1, 2, 2, 480, 480, 32),
    (
        "neighborhood-3d",
        NeighborhoodMask((6, 8, 8), (3, 3, 5), (1, 2, 1), (1, 1, 2), (True, False, False)),
        1,
        2,
        1,
        384,
        384,
        64,
    ),
    (
        "block-sparse",
        BlockSparseMask(64, 64, random_block_layout(512, 512, 64, 0.3, 1)),
        1,
        4,
        4,
        512,
        512,
        64,
    ),
    (
        "block-sparse-misaligned",
        BlockSparseMask(
            48,
            80,
            random_block_layout(400, 400, 48, 0.3, 2)
            if False
            else tuple(tuple(bool((i + j) % 3) for j in range(5)) for i in range(9)),
        ),
        1,
        2,
        2,
        400,
        400,
        64,
    ),
]


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize(
    ("name", "mask", "b", "hq", "hkv", "sq", "sk", "d"), CASES, ids=[c[0] for c in CASES]
)
def test_triton_flash_matches_sdpa(name, mask, b, hq, hkv, sq, sk, d):  # type: ignore[no-untyped-def]
    from attnsim.kernels.gpu import flash_attention

    q, k, v = _qkv(b, hq, hkv, sq, sk, d, d)
    out = flash_attention(q, k, v, mask)
    torch.testing.assert_close(out.float(), _reference(q, k, v, mask), atol=2e-2, rtol=2e-2)


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_triton_flash_dtypes_and_tiles(dtype):  # type: ignore[no-untyped-def]
    from attnsim.kernels.gpu import flash_attention

    q, k, v = _qkv(1, 2, 1, 333, 333, 64, 64, dtype)
    for bm, bn in ((64, 32), (128, 128), (32, 64)):
        out = flash_attention(q, k, v, CausalMask(), block_m=bm, block_n=bn)
        torch.testing.assert_close(
            out.float(), _reference(q, k, v, CausalMask()), atol=3e-2, rtol=3e-2
        )


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize(
    "mask", [FullMask(), CausalMask(), SlidingWindowMask(1000)], ids=["full", "causal", "window"]
)
@pytest.mark.parametrize(
    ("hq", "hkv", "sq", "sk", "splits"),
    [(32, 8, 1, 4097, None), (8, 8, 1, 100, 3), (16, 2, 4, 2048, 16)],
)
def test_triton_decode_matches_sdpa(mask, hq, hkv, sq, sk, splits):  # type: ignore[no-untyped-def]
    from attnsim.kernels.gpu import decode_attention

    q, k, v = _qkv(2, hq, hkv, sq, sk, 128, 128)
    out = decode_attention(q, k, v, mask, num_splits=splits)
    torch.testing.assert_close(out.float(), _reference(q, k, v, mask), atol=2e-2, rtol=2e-2)


@needs_gpu
@pytest.mark.gpu
def test_triton_matches_cpu_kernel() -> None:
    from attnsim.kernels.cpu import attention_forward
    from attnsim.kernels.gpu import flash_attention

    mask = NeighborhoodMask((16, 16), (5, 5))
    q, k, v = _qkv(1, 2, 2, 256, 256, 64, 64, torch.float32)
    gpu = flash_attention(q, k, v, mask).cpu().numpy()
    cpu = attention_forward(q.cpu().numpy(), k.cpu().numpy(), v.cpu().numpy(), mask)
    np.testing.assert_allclose(gpu, cpu, atol=2e-2)  # the GPU runs tf32 dots


@needs_gpu
@pytest.mark.gpu
@pytest.mark.slow
def test_record_quick(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from attnsim.kernels.gpu.record import main
    from attnsim.kernels.measure import read_measurements

    out = tmp_path / "gpu.csv"
    assert main(["--quick", "--min-time", "0.01", "-o", str(out)]) == 0
    rows = read_measurements(out)
    assert {r.kernel for r in rows} == {"triton-flash", "triton-decode", "torch-sdpa"}
