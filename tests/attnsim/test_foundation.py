"""The foundation modules every layer uses: the one problems error, the one registry,
and safe file input/output."""

from __future__ import annotations

import os

import pytest

from attnsim.errors import InputFileError, OutputFileError, ProblemsError, one_line
from attnsim.fileio import atomic_output, atomic_write, read_input_text
from attnsim.registry import DuplicateRegistrationError, Registry


def test_problems_error_keeps_every_line_and_is_a_value_error():
    err = ProblemsError(["a: x; y", "b: z; w"])
    assert isinstance(err, ValueError)
    assert err.problems == ["a: x; y", "b: z; w"]
    assert ProblemsError("one").problems == ["one"]
    assert ProblemsError([]).problems == ["invalid input; no detail given"]


def test_one_line_escapes_control_characters():
    assert one_line("a\nb") == "a\\nb"
    assert one_line("plain") == "plain"


def test_every_layer_error_is_a_problems_error():
    from attnsim.hwconfigs import HardwareConfigError
    from attnsim.kernels.measure import MeasureError, MeasurementFileError
    from attnsim.sim import LoweringError
    from attnsim.workloads import WorkloadError

    for cls in (HardwareConfigError, WorkloadError, LoweringError, MeasureError):
        assert issubclass(cls, ProblemsError)
    assert issubclass(MeasurementFileError, ProblemsError)


def test_registry_refuses_duplicates_and_suggests_the_closest_name():
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", 1)
    reg.register("beta", 2)
    with pytest.raises(DuplicateRegistrationError, match="widget 'alpha' is already registered"):
        reg.register("alpha", 3)
    assert reg["beta"] == 2 and list(reg) == ["alpha", "beta"] and len(reg) == 2
    with pytest.raises(
        ProblemsError, match=r"f\.yaml: kind: unknown widget 'alpah' \(did you mean 'alpha'\?\)"
    ):
        reg.lookup("alpah", where="f.yaml: kind")
    with pytest.raises(ProblemsError, match="unknown widget"):
        reg.lookup(["unhashable"])  # type: ignore[arg-type]


def test_registry_decorator_registers_by_attribute():
    reg: Registry[type] = Registry("thing")

    @reg.decorator(lambda c: c.kind)
    class A:
        kind = "a"

    assert reg["a"] is A


def test_atomic_write_replaces_and_never_follows_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    dest = tmp_path / "out.txt"
    # a planted link at the old fixed temporary name must not be followed
    os.symlink(victim, tmp_path / "out.txt.tmp")
    atomic_write(dest, "new")
    assert dest.read_text() == "new" and victim.read_text() == "precious"
    assert [
        p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()
    ] == []


def test_atomic_output_leaves_the_old_file_when_the_writer_fails(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(dest) as f:
        f.write("half")
        raise RuntimeError("killed")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize(
    "path, message",
    [
        ("{tmp}/missing/out.json", "does not exist; create it first"),
        ("/proc/out.json", "not writable|permission denied|No such file"),
        ("{tmp}", "is a folder"),
        ("{tmp}/" + "x" * 300, "longer than 255 bytes"),
    ],
)
def test_unwritable_outputs_are_one_line(tmp_path, path, message):
    with pytest.raises(OutputFileError, match=message) as info:
        atomic_write(path.format(tmp=tmp_path), "x", option="--timeline")
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith("--timeline: ")
    assert not (tmp_path / "missing").exists()


def test_inputs_are_bounded_and_checked(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_input_text(tmp_path / "nope.json", what="workload")
    with pytest.raises(InputFileError, match="is a folder"):
        read_input_text(tmp_path)
    with pytest.raises(InputFileError, match="not a regular file"):
        read_input_text("/dev/zero")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(InputFileError, match="larger than the 1000 bytes"):
        read_input_text(big, max_bytes=1000)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_input_text(bad)
