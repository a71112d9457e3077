"""``attnsim validate --published``: the join of the published GPU measurements with
predictions (attnsim/published.py) and its command line."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml
from attnsim.hwconfigs import load_hardware
from attnsim.sim import LoweringOptions
from attnsim.sim.calibration.published import load_published_kernels

from attnsim.cli.main import main
from attnsim.published import (
    PublishedValidationError,
    family_for,
    kernel_group,
    validate_published,
)

BUNDLED = resources.files("attnsim.sim.calibration").joinpath("published_kernels.yaml")


@pytest.fixture(scope="module")
def data():
    return load_published_kernels()


def _subset(tmp_path: Path, ids: set[str], speedups: set[str] = frozenset()) -> Path:
    """A published-data file with only the entries ``ids`` (and speedups) of the bundled one."""
    doc = yaml.safe_load(BUNDLED.read_text())
    doc["entries"] = [e for e in doc["entries"] if e["id"] in ids]
    doc["speedups"] = [s for s in doc.get("speedups", []) if s["id"] in speedups]
    path = tmp_path / "subset.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("entry_id", "family"),
    [
        ("fa3paper-h100-fa3-d128-causal-s16k", "flash-attention-3"),
        ("fa3paper-h100-fa2-d128-causal-s16k", "flash-attention-2"),
        ("fa3paper-h100-cudnn-d128-causal-s16k", "flash-attention-3"),
        ("cudnnfe-b200-cudnn-causal-bf16-s8192", "flash-attention-4"),
        ("natten-h100-3d-gna", "natten-hopper-fna"),
        ("natten-b200-2d-na", "natten-blackwell-fna"),
        ("natten-a100-3d-gna-default", "natten-cutlass-fna"),
        ("flashinfer-b200-trtllmgen-decode-b4-kv1024", "flash-attention-4"),
        ("nvblog-a100-cublas-fp16-gemm-1024", None),
    ],
)
def test_each_published_kernel_maps_to_a_family(data, entry_id, family):
    entry = data.entry(entry_id)
    assert family_for(entry, load_hardware(entry.gpu.target)) == family


def test_kernel_groups_are_short_names():
    assert kernel_group("cuDNN SDPA (cudnn-frontend graph)") == "cuDNN SDPA"
    assert kernel_group("FlashAttention-2, version: x") == "FlashAttention-2"


def test_a100_entries_are_predicted_and_summarised():
    report = validate_published(targets=["a100-sxm4-80gb"])
    ids = {c.id for c in report.cases}
    assert "nvblog-a100-cublas-fp16-gemm-4096" in ids
    assert all(c.target == "a100-sxm4-80gb" for c in report.cases)
    assert all(c.predicted_s > 0 and c.measured_s > 0 for c in report.cases)
    summary = report.summary()
    assert summary["times"]["n"] == len(report.cases)
    assert set(summary["by_gpu"]) == {"a100-sxm4-80gb"}
    assert "cuBLAS GEMM" in summary["by_kernel"]
    assert any("not expressible" in reason for _, reason in report.skipped)


def test_speedups_join_sparse_and_dense_predictions(tmp_path):
    ids = {"natten-h100-1d-dense", "natten-h100-1d-w2k"}
    data = load_published_kernels(_subset(tmp_path, ids, speedups={"speedup-natten-h100-1d-w2k"}))
    report = validate_published(data)
    (s,) = report.speedups
    cases = {c.id: c for c in report.cases}
    assert s.predicted == pytest.approx(
        cases["natten-h100-1d-dense"].predicted_s / cases["natten-h100-1d-w2k"].predicted_s
    )
    assert s.measured == pytest.approx(8.3, rel=0.02)  # NATTEN's docs: 8.3x


def test_natten_kernel_time_only_entries_leave_out_the_token_permutes(tmp_path):
    data = load_published_kernels(_subset(tmp_path, {"natten-h100-2d-gna"}))
    with_copies = validate_published(data, options=LoweringOptions())
    (case,) = with_copies.cases
    # the FNA kernel alone: switching the permute kernels off changes nothing
    without = validate_published(
        data, options=LoweringOptions(disable=frozenset({"token_permute"}))
    )
    assert without.cases[0].predicted_s == pytest.approx(case.predicted_s)


def test_ablation_options_reach_every_prediction(tmp_path):
    data = load_published_kernels(_subset(tmp_path, {"fa3paper-h100-fa3-d64-dense-s16k"}))
    on = validate_published(data).cases[0].predicted_s
    off = validate_published(data, options=LoweringOptions(disable=frozenset({"overlap"})))
    assert off.cases[0].predicted_s > on
    assert off.disabled == ("overlap",)


def test_no_entries_for_a_target_is_an_error():
    with pytest.raises(PublishedValidationError, match="no published entry to predict on rtx-4090"):
        validate_published(targets=["rtx-4090"])


def test_cli_prints_tables_and_writes_csvs(tmp_path, capsys):
    assert main(["validate", "--published", "--hw", "a100-sxm4-80gb", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "published measurements vs predictions" in out
    assert "|error| of times by GPU and by kernel" in out
    assert "entries skipped (not expressible)" in out
    cases = pd.read_csv(tmp_path / "published_cases.csv")
    assert {"id", "measured_s", "predicted_s", "rel_error", "family"} <= set(cases.columns)
    summary = pd.read_csv(tmp_path / "published_summary.csv")
    assert summary["group"].iloc[0] == "all entries"
    assert (tmp_path / "published_speedups.csv").exists()


def test_cli_json(capsys):
    assert main(["validate", "--published", "--hw", "a100-sxm4-80gb", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "attnsim-published-validation"
    assert doc["summary"]["times"]["n"] == len(doc["cases"])


def test_cli_refuses_mixed_modes(capsys):
    assert main(["validate", "--published", "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--published: not with --recorded, --calibrate, --quick" in err[0]


def test_cli_output_folder_must_exist(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["validate", "--published", "--hw", "a100-sxm4-80gb", "-o", str(missing)]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err
