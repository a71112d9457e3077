"""Malformed hardware files: each problem is one pinned line ``FILE: key.path: what; expected``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from attnsim.hwconfigs import HardwareConfigError, load_hardware, validate_file

Mutation = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        node = doc
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
        return doc

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        node = doc
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        del node[last]
        return doc

    return mutate


# (case id, mutation of the valid TINY document, regex the problem lines must contain)
CASES: list[tuple[str, Mutation, str]] = [
    (
        "unknown top-level key with suggestion",
        _set("enginse", {}),
        r"^.*tiny\.yaml: enginse: unknown key; expected one of: version, name, .*\(did you mean 'engines'\?\)$",
    ),
    (
        "unknown engine key with suggestion",
        _set("engines.mac.clok", "1 GHz"),
        r"engines\.mac\.clok: unknown key; expected one of: kind, unit, count, clock, ops_per_cycle, throughput, .* \(did you mean 'clock'\?\)",
    ),
    (
        "unknown key in a {value, source} leaf",
        _set("memory.dram.capacity", {"value": "1 GiB", "sorce": "x"}),
        r"memory\.dram\.capacity\.sorce: unknown key; expected one of: value, source \(did you mean 'source'\?\)",
    ),
    (
        "wrong unit",
        _set("memory.dram.bandwidth", "3.35 GHz"),
        r"memory\.dram\.bandwidth: '3\.35 GHz' has units of frequency; expected a bandwidth such as '3\.35 TB/s'",
    ),
    (
        "number without a unit",
        _set("memory.dram.capacity", 1024),
        r"memory\.dram\.capacity: 1024 has no unit; expected a size such as '50 MiB'",
    ),
    (
        "unreadable unit",
        _set("engines.mac.clock", "5 furlongs"),
        r"engines\.mac\.clock: '5 furlongs' has an unreadable unit \(unknown unit 'furlongs'\); expected a frequency",
    ),
    (
        "negative size",
        _set("memory.dram.capacity", "-1 GiB"),
        r"memory\.dram\.capacity: '-1 GiB' is not positive; expected a size such as '50 MiB' greater than zero",
    ),
    (
        "zero bandwidth",
        _set("memory.buf.bandwidth", "0 GB/s"),
        r"memory\.buf\.bandwidth: '0 GB/s' is not positive; expected a bandwidth",
    ),
    (
        "negative latency",
        _set("memory.dram.latency", "-5 ns"),
        r"memory\.dram\.latency: '-5 ns' is negative; expected a time such as '2 us', zero or more",
    ),
    (
        "NaN",
        _set("memory.dram.bandwidth", "nan GB/s"),
        r"memory\.dram\.bandwidth: 'nan GB/s' is not a finite number; expected a bandwidth",
    ),
    (
        "infinity",
        _set("engines.mac.throughput.matmul.fp16", "inf TOPS"),
        r"engines\.mac\.throughput\.matmul\.fp16: 'inf TOPS' is not a finite number; expected a throughput",
    ),
    (
        "YAML NaN as a count",
        _set("engines.mac.count", float("nan")),
        r"engines\.mac\.count: is nan \(float\); expected a whole number of instances",
    ),
    (
        "bool as a count",
        _set("engines.mac.count", True),
        r"engines\.mac\.count: is a true/false; expected a whole number of instances, such as 132",
    ),
    (
        "bool as a quantity",
        _set("memory.dram.capacity", False),
        r"memory\.dram\.capacity: False is a true/false, not a quantity; expected a size",
    ),
    (
        "zero count",
        _set("engines.mac.count", 0),
        r"engines\.mac\.count: 0 is out of range; expected a whole number of instances from 1",
    ),
    (
        "unknown precision",
        _set("engines.mac.throughput.matmul.fp12", "1 TOPS"),
        r"engines\.mac\.throughput\.matmul\.fp12: unknown precision 'fp12'; expected one of: fp64, fp32, .*ternary \(did you mean 'fp32'\?\)",
    ),
    (
        "unknown op class",
        _set("engines.mac.throughput.gemm", {"fp16": "1 TOPS"}),
        r"engines\.mac\.throughput\.gemm: unknown op class 'gemm'; expected one of: matmul, vector, exp",
    ),
    (
        "unknown engine kind",
        _set("engines.mac.kind", "tensr"),
        r"engines\.mac\.kind: 'tensr' is not known; expected one of: tensor, .* \(did you mean 'tensor'\?\)",
    ),
    (
        "unknown hardware kind",
        _set("kind", "fpga"),
        r"tiny\.yaml: kind: 'fpga' is not known; expected one of: gpu, accelerator, cpu",
    ),
    (
        "engine with no precision",
        _set("engines.mac.throughput", {"matmul": {}}),
        r"engines\.mac\.throughput: lists no precision for any op class; expected at least one",
    ),
    (
        "missing required engine key",
        _delete("engines.mac.clock"),
        r"engines\.mac\.clock: missing; expected a frequency such as '1\.98 GHz'",
    ),
    (
        "missing memory",
        _delete("memory"),
        r"tiny\.yaml: memory: missing; expected a mapping of level name -> level",
    ),
    ("empty engines", _set("engines", {}), r"engines: is empty; expected at least one engine"),
    (
        "section written empty",
        _set("interconnect", None),
        r"tiny\.yaml: interconnect: is empty \(null\); expected a mapping with keys name, links, bandwidth, latency",
    ),
    (
        "engine that is not a mapping",
        _set("engines.mac", "fast"),
        r"engines\.mac: is the text 'fast'; expected a mapping with keys kind, unit, count, clock, ops_per_cycle, throughput",
    ),
    (
        "per-unit level with unknown unit",
        _set("memory.buf.unit", "core"),
        r"memory\.buf\.unit: no engine lives in unit 'core'; expected one of the engine units: pe",
    ),
    (
        "per-unit level without unit",
        _delete("memory.buf.unit"),
        r"memory\.buf\.unit: missing for a per_unit level; expected the unit it sits in",
    ),
    (
        "unit on a shared level",
        _set("memory.dram.unit", "pe"),
        r"memory\.dram\.unit: is set on a shared level; expected 'scope: per_unit' with it, or no unit",
    ),
    (
        "unknown scope",
        _set("memory.dram.scope", "global"),
        r"memory\.dram\.scope: 'global' is not known; expected one of: shared, per_unit",
    ),
    (
        "per-unit level after a shared one",
        lambda d: {**d, "memory": {"dram": d["memory"]["dram"], "buf": d["memory"]["buf"]}},
        r"memory\.buf\.scope: per_unit level comes after the shared level 'dram'; expected memory ordered nearest",
    ),
    (
        "engines in one unit disagree on count",
        _set(
            "engines.vec",
            {
                "kind": "vector",
                "unit": "pe",
                "count": 8,
                "clock": "1 GHz",
                "throughput": {"vector": {"fp32": "1 TFLOPS"}},
            },
        ),
        r"engines\.vec\.count: 8 differs from the 4 of engine 'mac' in the same unit 'pe'",
    ),
    (
        "energy for a precision no engine runs",
        _set("energy.per_op.matmul.fp8", "0.1 pJ"),
        r"energy\.per_op\.matmul\.fp8: no engine runs matmul in fp8; expected energies only for what an engine runs: matmul\.fp16, matmul\.int8",
    ),
    (
        "static power above TDP",
        _set("energy.static_power", "2 W"),
        r"energy\.static_power: 2 W exceeds the TDP of 1 W; expected static power at most the TDP",
    ),
    (
        "kernel families not a list",
        _set("kernel_families", "flash-attention-2"),
        r"kernel_families: is the text 'flash-attention-2'; expected a list of kernel family names",
    ),
    (
        "kernel family not a string",
        _set("kernel_families", ["unfused", 3]),
        r"kernel_families\[1\]: is 3 \(int\); expected a kernel family name",
    ),
    (
        "kernel family twice",
        _set("kernel_families", ["unfused", "unfused"]),
        r"kernel_families\[1\]: 'unfused' is listed twice",
    ),
    (
        "calibration value not a quantity",
        _set("calibration", {"launch_overhead": "fast"}),
        r"calibration\.launch_overhead: 'fast' is not a number with a unit; expected a time such as '2 us'",
    ),
    (
        "source that is not text",
        _set("source", 5),
        r"tiny\.yaml: source: is 5; expected the text of a source",
    ),
    (
        "missing source",
        _delete("source"),
        r"tiny\.yaml: engines\.mac\.count: has no source; expected 'source: \"<datasheet, paper, table>\"' on this value or on a mapping above it",
    ),
    (
        "missing version",
        _delete("version"),
        r"tiny\.yaml: version: missing; expected 'version: 1' as the first line \(files from before versioning are version 1: add 'version: 1'\)",
    ),
    (
        "future version",
        _set("version", 2),
        r"tiny\.yaml: version: version 2 is newer than this attnsim reads \(version 1\); expected an older file: upgrade attnsim",
    ),
    (
        "version that is not a number",
        _set("version", "one"),
        r"version: 'one' is not a whole number; expected 'version: 1'",
    ),
    (
        "version zero",
        _set("version", 0),
        r"version: version 0 does not exist; expected 'version: 1'",
    ),
    (
        "missing base",
        _set("base", "h100-sxm5"),
        r"tiny\.yaml: base: 'h100-sxm5' is neither a bundled target nor a file next to this one; expected one of: .* \(did you mean 'h100-sxm5-80gb'\?\)",
    ),
    (
        "bad engine name",
        _set("engines.2 bad", {"kind": "tensor"}),
        r"engines\.2 bad: '2 bad' is not a valid engine name",
    ),
]


@pytest.mark.parametrize(("mutation", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_file_is_reported(
    tiny: dict[str, Any], problems: Callable[..., list[str]], mutation: Mutation, message: str
) -> None:
    lines = problems(mutation(tiny))
    assert any(re.search(message, line) for line in lines), "\n".join(lines)
    for line in lines:  # every line is FILE: key.path: what; expected
        assert re.match(r"^.*tiny\.yaml: \S.*: .+; .+$", line), line


def test_fixture_itself_is_valid(tiny: dict[str, Any], write: Callable[..., Path]) -> None:
    hw = load_hardware(write(tiny))
    assert hw.peak("matmul", "fp16") == 8e12
    assert hw.memory_level("buf").write_energy_j_per_byte == 1e-12  # defaults to read


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"tiny\.yaml: <document>: is empty; expected a mapping with keys version, name"),
        ("# only a comment\n", r"<document>: is empty"),
        (
            "- a\n- b\n",
            r"tiny\.yaml: <document>: top level is a list; expected a mapping with keys",
        ),
        ("just text\n", r"<document>: top level is a line of text; expected a mapping"),
        (
            "version: 1\nname: [unclosed\n",
            r"tiny\.yaml: <document>: YAML syntax error at line 3, column 1: .*; expected valid YAML",
        ),
        (
            "version: 1\n  name: x\n",
            r"<document>: YAML syntax error at line 2, column 7: mapping values are not allowed",
        ),
        (
            "version: 1\nversion: 1\nname: x\n",
            r"tiny\.yaml: version: duplicate key at line 2; expected each key once",
        ),
        (
            "version: 1\nx: !!python/object:os.system {}\n",
            r"<document>: YAML syntax error .*; expected valid YAML",
        ),
        (
            "a: &a [*a]\n",
            r"tiny\.yaml: <document>: has a YAML alias at line 1, column 8; expected every value written out",
        ),
    ],
)
def test_unparseable_files_are_reported(
    problems: Callable[..., list[str]], text: str, message: str
) -> None:
    lines = problems(text)
    assert any(re.search(message, line) for line in lines), "\n".join(lines)


def test_all_problems_of_a_file_are_reported_together(
    tiny: dict[str, Any], problems: Callable[..., list[str]]
) -> None:
    tiny["enginse"] = {}
    tiny["engines"]["mac"]["count"] = True
    tiny["engines"]["mac"]["throughput"]["matmul"]["fp12"] = "1 TOPS"
    tiny["memory"]["dram"]["bandwidth"] = "3.35 GHz"
    tiny["memory"]["buf"]["capacity"] = "-4 KiB"
    tiny["memory"]["buf"]["unit"] = "core"
    tiny["energy"]["static_power"] = "2 W"
    tiny["kernel_families"] = [1]
    lines = problems(tiny)
    for key in (
        "enginse",
        "engines.mac.count",
        "engines.mac.throughput.matmul.fp12",
        "memory.dram.bandwidth",
        "memory.buf.capacity",
        "memory.buf.unit",
        "energy.static_power",
        "kernel_families[0]",
    ):
        assert any(f"tiny.yaml: {key}: " in line for line in lines), key
    assert len(lines) == 8, "\n".join(lines)


def test_base_cycle_is_reported(write: Callable[..., Path], tiny: dict[str, Any]) -> None:
    write({"version": 1, "base": "b.yaml", "name": "a"}, "a.yaml")
    write({"version": 1, "base": "a.yaml", "name": "b"}, "b.yaml")
    path = write({"version": 1, "base": "a.yaml", "name": "c"}, "c.yaml")
    with pytest.raises(
        HardwareConfigError,
        match=r"b\.yaml: base: inheritance cycle .*a\.yaml -> .*b\.yaml -> .*a\.yaml; expected a chain of bases that ends in a file without 'base:'",
    ):
        load_hardware(path)


def test_self_base_is_a_cycle(write: Callable[..., Path]) -> None:
    path = write({"version": 1, "base": "self.yaml"}, "self.yaml")
    with pytest.raises(HardwareConfigError, match=r"self\.yaml: base: inheritance cycle"):
        load_hardware(path)


def test_problems_in_a_base_name_the_base_file(
    write: Callable[..., Path], tiny: dict[str, Any]
) -> None:
    write("version: 1\nname: [oops\n", "parent.yaml")
    path = write({"version": 1, "base": "parent.yaml", "name": "child"}, "child.yaml")
    with pytest.raises(HardwareConfigError, match=r"parent\.yaml: <document>: YAML syntax error"):
        load_hardware(path)


def test_unknown_bundled_name_suggests_the_closest() -> None:
    with pytest.raises(
        HardwareConfigError,
        match=r"h100: <document>: is neither a bundled target nor a file; expected one of: .*\(did you mean 'h100-sxm5-80gb'\?\)",
    ):
        load_hardware("h100")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert validate_file(path) == [
        f"{path}: <document>: file not found; expected a path to a YAML file or a bundled target name"
    ]


def test_error_is_a_value_error_with_problems(problems: Callable[..., list[str]]) -> None:
    lines = problems("")
    err = HardwareConfigError(lines)
    assert isinstance(err, ValueError)
    assert err.problems == lines
    assert str(err) == "\n".join(lines)


def test_inherited_values_keep_the_base_files_source(
    write: Callable[..., Path], tiny: dict[str, Any]
) -> None:
    write(tiny, "parent.yaml")
    child = {
        "version": 1,
        "base": "parent.yaml",
        "source": "child sheet",
        "name": "child",
        "memory": {"dram": {"bandwidth": "20 GB/s"}},
    }
    hw = load_hardware(write(child, "child.yaml"))
    assert hw.memory_level("dram").bandwidth_bytes_per_s == 20e9
    assert hw.sources["memory.dram.bandwidth"] == "child sheet"
    assert hw.sources["memory.dram.capacity"] == "test fixture"
    assert hw.sources["engines.mac.clock"] == "test fixture"
