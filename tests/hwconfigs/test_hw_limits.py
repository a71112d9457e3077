"""Hostile and mistaken inputs: each is one line, quoting nothing of a file it was not
asked to read. (How fast they are refused is measured by benchmarks/bench_hwload.py.)"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from attnsim.hwconfigs import HardwareConfigError, load_hardware, validate_file
from attnsim.hwconfigs.parse import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

BOMB = "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def _one(lines: list[str], pattern: str) -> str:
    assert len(lines) == 1, lines
    assert pattern in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BOMB,
            "<document>: has a YAML alias at line 3, column 8; expected every value written out",
        ),
        ("a: &x 1\nb: *x\n", "has a YAML alias at line 2, column 4"),
        (
            "version: 1\nx: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n",
            f"<document>: nests deeper than {MAX_DEPTH} levels",
        ),
        (
            "version: 1\nx: [" + ",".join(["1"] * (MAX_NODES + 1)) + "]\n",
            f"<document>: holds more than {MAX_NODES} values",
        ),
        ("version: 1\nx: " + "9" * 5000 + "\n", "<document>: a value cannot be read"),
        ("version: 1\nx: !!python/object/apply:os.system [ls]\n", "YAML syntax error"),
    ],
    ids=["alias bomb", "scalar alias", "deep", "many values", "huge integer", "python tag"],
)
def test_hostile_yaml_is_one_line(
    problems: Callable[..., list[str]], text: str, message: str
) -> None:
    _one(problems(text), message)


def test_too_large_a_file(write: Callable[..., Path]) -> None:
    path = write("version: 1\n" + "#" * MAX_FILE_BYTES)
    _one(validate_file(path), f"is larger than the {MAX_FILE_BYTES} bytes a hardware target")


def test_paths_that_cannot_be_read_are_one_line(tmp_path: Path) -> None:
    _one(validate_file("x" * 300 + ".yaml"), "the file name is too long for the file system")
    _one(validate_file(tmp_path), "<document>: is a folder; expected a hardware target file")
    (tmp_path / "latin1.yaml").write_bytes(b"version: 1\nname: caf\xe9\n")
    _one(validate_file(tmp_path / "latin1.yaml"), "not UTF-8 text")
    _one(validate_file("/dev/null/x.yaml"), "file not found")
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.yaml"
        locked.write_text("version: 1\n", encoding="utf-8")
        locked.chmod(0)
        _one(validate_file(locked), "permission denied")


SECRET = "root:x:0:0:s3cr3t-value:/root:/bin/bash"


@pytest.mark.parametrize(
    ("setup", "ref", "message"),
    [
        (None, "/etc/passwd", "'/etc/passwd' is not a .yaml/.yml file"),
        (
            "../outside.yaml",
            "../outside.yaml",
            "'../outside.yaml' is outside the folder of this file",
        ),
        ("link", "link.yaml", "'link.yaml' is outside the folder of this file"),
        (
            "text",
            "notes.yaml",
            "'notes.yaml' is not a hardware target file (its top level is not a mapping)",
        ),
        (
            "keys",
            "data.yaml",
            "'data.yaml' is not a hardware target file (it has keys a target does not have)",
        ),
        (
            "noversion",
            "data.yaml",
            "'data.yaml' is not a hardware target file (it has no 'version:' number)",
        ),
    ],
    ids=["absolute", "parent folder", "link out", "not a mapping", "other keys", "no version"],
)
def test_base_reads_only_target_files_beside_the_file(
    tmp_path: Path, setup: str | None, ref: str, message: str
) -> None:
    folder = tmp_path / "here"
    folder.mkdir()
    (tmp_path / "outside.yaml").write_text(f"version: 1\nname: '{SECRET}'\n", encoding="utf-8")
    if setup == "link":
        (folder / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    elif setup == "text":
        (folder / "notes.yaml").write_text(SECRET + "\n", encoding="utf-8")
    elif setup == "keys":
        (folder / "data.yaml").write_text(f"version: 1\nuser: '{SECRET}'\n", encoding="utf-8")
    elif setup == "noversion":
        (folder / "data.yaml").write_text(f"name: '{SECRET}'\n", encoding="utf-8")
    child = folder / "child.yaml"
    child.write_text(f"version: 1\nbase: '{ref}'\nname: child\n", encoding="utf-8")
    line = _one(validate_file(child), message)
    assert line.startswith(f"{child}: base: ")
    assert "s3cr3t" not in line


def test_base_below_the_folder_and_bundled_bases_load(
    write: Callable[..., Path], tiny: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "variants").mkdir()
    write(tiny, "variants/parent.yaml")
    path = write({"version": 1, "base": "variants/parent.yaml", "name": "child"}, "c.yaml")
    assert load_hardware(path).name == "child"
    path = write({"version": 1, "base": "b200", "name": "b200-copy"}, "b.yaml")
    assert load_hardware(path).peak("matmul", "fp16") == load_hardware("b200").peak(
        "matmul", "fp16"
    )


def test_a_long_chain_of_bases_is_refused(write: Callable[..., Path], tiny: dict[str, Any]) -> None:
    write(tiny, "t0.yaml")
    for i in range(1, 20):
        write({"version": 1, "base": f"t{i - 1}.yaml"}, f"t{i}.yaml")
    lines = validate_file(write({"version": 1, "base": "t19.yaml"}, "top.yaml"))
    assert any("base: is the 16th base in a chain; expected at most 16" in line for line in lines)


def test_a_file_with_no_target_key_is_not_echoed(write: Callable[..., Path]) -> None:
    path = write(f"'{SECRET}': 1\nother: 2\n")
    line = _one(validate_file(path), "<document>: has none of the keys of a hardware target")
    assert "s3cr3t" not in line


def test_overrides_that_are_not_plain_data_are_one_line() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(HardwareConfigError, match=r"^overrides: <overrides>: nests deeper than"):
        load_hardware("h100-sxm5-80gb", {"units.sm.count": loop})
    with pytest.raises(HardwareConfigError, match=r"^overrides: 5: is not a key path"):
        load_hardware("h100-sxm5-80gb", {5: 1})  # type: ignore[dict-item]
    with pytest.raises(
        HardwareConfigError, match=r"units\.sm\.count: is 1e\+400 \(int\)|out of range"
    ):
        load_hardware("h100-sxm5-80gb", {"units.sm.count": 10**400})


def test_documents_and_overrides_that_are_not_mappings_are_one_line() -> None:
    from attnsim.hwconfigs import hardware_from_dict

    with pytest.raises(HardwareConfigError, match=r"^<dict>: <document>: top level is a list"):
        hardware_from_dict(["x"])  # type: ignore[arg-type]
    with pytest.raises(HardwareConfigError, match=r"^overrides: <overrides>: is a list; expected"):
        load_hardware("h100-sxm5-80gb", [1, 2])  # type: ignore[arg-type]


def test_numpy_numbers_are_numbers() -> None:
    np = pytest.importorskip("numpy")
    hw = load_hardware("h100-sxm5-80gb", {"units.sm.count": np.int64(100)})
    assert hw.engines["tensor"].count == 100


def test_yaml_types_that_are_not_numbers_are_refused(problems: Callable[..., list[str]]) -> None:
    doc = yaml.safe_dump({"version": 1, "name": "x"}) + "kind: 2024-01-01\n"
    assert any(
        "kind: is datetime.date(2024, 1, 1) (date); expected a device kind" in line
        for line in problems(doc)
    )
