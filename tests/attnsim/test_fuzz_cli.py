"""The fuzz campaign of issue #8: over 10,000 generated inputs per run, zero tracebacks and
zero hangs (see ``fuzzkit`` for what passes, what is a traceback and what is a hang).

Families (the counts are printed at the end of the run by ``conftest.py``):

* workload documents: hypothesis-built workload files (every registered op and mask kind,
  fields from each dataclass, sizes small or hostile), loaded, shown and simulated;
* workload mutants: real workload files (every variant, every op and mask kind) mutated as
  JSON and as text, through ``load_workload`` and, when accepted, ``simulate``;
* command lines: every command of ``attnsim`` through ``attnsim.cli.main.main(argv)`` in
  process, templates of real invocations with tokens dropped, repeated or replaced by
  hostile values and paths (long names, folders, devices, missing folders, links);
* measurement CSVs: the recorded measurement files mutated cell by cell through
  ``read_measurements`` (the parser ``attnsim validate --recorded`` uses);
* target YAMLs (counted apart from the hwschema campaign in tests/hwconfigs): the bundled
  targets mutated through ``load_hardware``;
* sweep specs: the example sweep specs mutated as YAML documents and as text (alias bombs,
  deep nesting, tags, huge literals) through ``load_spec``.

Sizes are drawn small (legitimate work that finishes in milliseconds) or hostile (beyond
a bound, refused before anything is expanded); the legitimately large middle (a
512k-token prefill simulates for minutes) is work, not a hang, and is not drawn.
Everything runs in this process; nothing is written outside a temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from attnsim.hwconfigs import list_targets, load_hardware, targets_dir
from attnsim.kernels.measure import measurements_dir, read_measurements
from attnsim.workloads import masks_sparse, ops_variants  # noqa: F401  (register kinds)
from attnsim.workloads.masks import MASKS
from attnsim.workloads.ops import OP_KINDS
from attnsim.workloads.serialize import load_workload, save_workload, workload_to_dict
from attnsim.workloads.synthetic import attention_workload, gemm_workload
from attnsim.workloads.variants import build_variant, list_variants
from fuzzkit import Campaign, mutate, mutate_text, run_main, to_json
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import attnsim.cli.main as cli_main
from attnsim.api import as_hardware
from attnsim.api import simulate as api_simulate
from attnsim.cli.workload import show_dict

pytestmark = pytest.mark.slow

#: Inputs per family; the sum is the campaign's size.
QUOTA = {
    "workload documents": 1500,
    "workload mutants": 3300,
    "command lines": 3600,
    "measurement CSVs": 1500,
    "target YAMLs": 500,
    "sweep specs": 400,
}
SIM_TARGETS = ("h100-sxm5-80gb", "host-cpu", "b200", "vitallm-16nm", "a100-sxm4-80gb")


def test_the_campaign_drives_over_ten_thousand_inputs() -> None:
    assert sum(QUOTA.values()) >= 10_000


def _finish(campaign: Campaign, quota: int, record_property: Any) -> None:
    record_property("fuzz_counts", json.dumps({campaign.family: campaign.count}))
    assert campaign.count >= quota, campaign.summary()
    assert not campaign.failures, campaign.summary() + "\n" + "\n".join(campaign.failures[:15])


@pytest.fixture(scope="module")
def hardware() -> dict[str, Any]:
    return {name: as_hardware(name) for name in SIM_TARGETS}


def _exercise(workload: Any, hardware: dict[str, Any], index: int) -> None:
    """What a user does with an accepted workload: show it, simulate it, write JSON."""
    json.dumps(show_dict(workload), allow_nan=False)
    hw = hardware[SIM_TARGETS[index % len(SIM_TARGETS)]]
    result = api_simulate(hw, workload, timeline=index % 7 == 0)
    json.dumps(result.to_dict(), allow_nan=False)


def _load(folder: Path, text: str) -> Any:
    path = folder / "w.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return load_workload(path)


# --------------------------------------------------------------------------------------
# workload documents (hypothesis)
# --------------------------------------------------------------------------------------

small_ints = st.integers(min_value=1, max_value=512)
#: Sane sizes are powers of two, so that divisibility rules (heads, groups) mostly hold.
pow2 = st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
hostile_ints = st.sampled_from([0, -1, -(2**40), 2**31, 2**40, 2**62, 2**63, 10**30, 10**400])
sizes = st.one_of(small_ints, small_ints, small_ints, hostile_ints)
scalars = st.one_of(
    sizes,
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
)
DTYPE_NAMES = st.sampled_from(["bf16", "fp16", "fp32", "int8", "ternary", "fp8", "bogus", ""])


#: Valid values of string fields, by field name (a sane document uses them).
STRING_FIELDS: dict[str, tuple[Any, ...]] = {
    "phase": ("prefill", "decode"),
    "norm": ("layernorm", "rmsnorm", "groupnorm"),
    "weight_operand": (None, "a", "b"),
    "weight_dtype": (None,),
    "share": ("layer", "kv", "none", "headwise"),
    "function": ("gelu", "add"),
    "aten": ("aten.cat.default",),
}
#: Sane ranges of fields that multiply the simulator's work: steps (a kernel each) and
#: the (batch, head) pairs whose tile orders are replayed one by one. Larger values are
#: legitimate work that takes seconds, not what a one-second budget can check.
_STEPS = st.sampled_from([1, 2, 4, 8])
SANE_INTS: dict[str, st.SearchStrategy[int]] = {
    **dict.fromkeys(("iters", "order", "levels", "scales", "num_order", "den_order"), _STEPS),
    **dict.fromkeys(
        ("batch", "heads", "q_heads", "kv_heads", "active_heads"), st.sampled_from([1, 2, 4, 8, 16])
    ),
}
#: Masks whose fields do not have to agree with the sequence lengths.
SANE_MASKS = ("full", "causal", "sliding_window", "power", "block_topk", "cluster")


def _value(draw: st.DrawFn, name: str, annotation: str, sane: bool) -> Any:
    """A JSON value for the dataclass field ``name: annotation``: always of the right kind
    and small when ``sane``, wrong or hostile now and then otherwise."""
    if not sane and draw(st.integers(0, 9)) == 0:
        return draw(scalars)
    ann = annotation.replace(" ", "")
    if name in STRING_FIELDS and sane:
        return draw(st.sampled_from(STRING_FIELDS[name]))
    if ann.endswith("|None"):
        return None if draw(st.booleans()) else _value(draw, name, ann[: -len("|None")], sane)
    if ann == "int":
        if sane and name in SANE_INTS:
            return draw(SANE_INTS[name])
        return draw(pow2 if sane else sizes)
    if ann == "float":
        finite = st.floats(0, 1e3)
        return draw(finite if sane else st.one_of(finite, st.floats(allow_nan=True)))
    if ann == "bool":
        return draw(st.booleans())
    if ann == "str":
        return (
            draw(st.sampled_from(STRING_FIELDS.get(name, ("x",))))
            if sane
            else draw(st.text(max_size=6))
        )
    if ann.startswith("tuple[tuple["):
        rows = draw(st.integers(1, 6))
        return [[draw(st.booleans()) for _ in range(rows)] for _ in range(rows)]
    if ann.startswith("tuple["):
        inner = ann[len("tuple[") : -len(",...]")]
        return [_value(draw, name, inner, sane) for _ in range(draw(st.integers(1, 3)))]
    if ann == "AttentionSpec":
        return _spec(draw, sane, name)
    return draw(scalars)


def _fields(draw: st.DrawFn, cls: type, sane: bool, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip or (not sane and draw(st.integers(0, 19)) == 0):
            continue  # a missing field now and then
        out[f.name] = _value(draw, f.name, str(f.type), sane)
    if not sane and draw(st.integers(0, 19)) == 0:
        out[draw(st.text(max_size=5))] = draw(scalars)  # an unknown key
    return out


def _spec(draw: st.DrawFn, sane: bool, op_kind: str = "attention") -> dict[str, Any]:
    kv = draw(pow2 if sane else sizes)
    q = draw(st.sampled_from([x for x in (1, 2, 16, 64, 512) if x <= kv])) if sane else draw(sizes)
    heads = draw(st.sampled_from([1, 2, 4, 8]))
    mask_kind = draw(st.sampled_from(SANE_MASKS if sane else sorted(MASKS)))
    if sane and op_kind == "gathered_attention":
        mask_kind = "vertical_slash"
    mask = {"kind": mask_kind, **_fields(draw, MASKS[mask_kind], sane)}
    return {
        "batch": draw(st.integers(1, 4) if sane else sizes),
        "q_heads": heads,
        "kv_heads": draw(st.sampled_from([1, heads] if sane else [1, heads, 2, 3])),
        "q_len": q,
        "kv_len": kv,
        "head_dim_qk": draw(st.sampled_from([16, 64, 128] if sane else [16, 64, 7, 0, 2**40])),
        "head_dim_v": draw(st.sampled_from([16, 64, 128])),
        "phase": draw(st.sampled_from(["prefill", "decode"] if sane else ["prefill", "other"])),
        "mask": mask,
    }


@st.composite
def workload_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A workload file: half of them sane (every field of the right kind and small, so
    they load and simulate), half with wrong kinds, hostile sizes, missing and unknown keys."""
    sane = draw(st.booleans())
    blocks = []
    for b in range(draw(st.integers(1, 3))):
        ops = []
        for j in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(sorted(OP_KINDS)))
            op = {
                "kind": kind,
                **_fields(draw, OP_KINDS[kind], sane, skip=("name", "dtype", "spec")),
            }
            if any(f.name == "spec" for f in dataclasses.fields(OP_KINDS[kind])):
                op["spec"] = _spec(draw, sane, kind)
            op["name"] = f"op{j}"
            op["dtype"] = draw(st.sampled_from(["bf16", "fp16", "fp32"]) if sane else DTYPE_NAMES)
            ops.append(op)
        count = draw(st.integers(1, 64) if sane else sizes)
        blocks.append({"name": f"b{b}", "count": count, "ops": ops})
    doc: dict[str, Any] = {"format": "attnsim-workload", "version": 1, "name": "fuzz"}
    doc["tokens"] = draw(st.one_of(st.none(), small_ints if sane else sizes))
    doc["meta"] = draw(st.dictionaries(st.text(max_size=4), st.integers(0, 9), max_size=3))
    doc["blocks"] = blocks
    if not sane and draw(st.integers(0, 9)) == 0:
        doc["version"] = draw(scalars)
    return doc


json_documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def test_fuzz_workload_documents(
    tmp_path: Path, hardware: dict[str, Any], record_property: Any
) -> None:
    campaign = Campaign("workload documents")

    @settings(
        max_examples=QUOTA["workload documents"],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.one_of(
            workload_documents(),
            workload_documents(),
            workload_documents(),
            json_documents,
            st.text(max_size=80),
        )
    )
    def one(doc: Any) -> None:
        text = doc if isinstance(doc, str) else to_json(doc)
        index = campaign.count
        campaign.run(text, lambda: _exercise(_load(tmp_path, text), hardware, index))

    one()
    _finish(campaign, QUOTA["workload documents"], record_property)


# --------------------------------------------------------------------------------------
# workload mutants
# --------------------------------------------------------------------------------------


def _small(v: Any) -> dict[str, Any]:
    """The variant's parameters scaled down eightfold (seq 4096 -> 512, heads 32 -> 4),
    so that an accepted mutant simulates in milliseconds."""
    out: dict[str, Any] = {}
    for p in v.params:
        if p.type is int and isinstance(p.default, int) and p.default > 1 and p.name != "seed":
            out[p.name] = max(1, p.default // 8)
        elif p.name == "spatial":
            out[p.name] = "16x16"
    return out


def _seed_documents() -> list[dict[str, Any]]:
    """Real workload documents: every variant at a small size, synthetic attention in
    prefill and decode, a GEMM."""
    docs = [workload_to_dict(build_variant(v.name, **_small(v))) for v in list_variants()]
    docs.append(workload_to_dict(attention_workload(2, 8, 256, 64, kv_heads=2, phase="prefill")))
    docs.append(workload_to_dict(attention_workload(1, 8, 1, 64, kv_len=2048, phase="decode")))
    docs.append(workload_to_dict(gemm_workload(256, 512, 128, batch=2)))
    return docs


def test_fuzz_workload_mutants(
    tmp_path: Path, hardware: dict[str, Any], record_property: Any
) -> None:
    campaign = Campaign("workload mutants")
    rng = random.Random(8)
    seeds = _seed_documents()
    for i in range(QUOTA["workload mutants"]):
        doc = rng.choice(seeds)
        if i % 4 == 3:
            text = mutate_text(rng, to_json(doc))
        else:
            text = to_json(mutate(rng, doc))
        campaign.run(text, lambda t=text, i=i: _exercise(_load(tmp_path, t), hardware, i))
    _finish(campaign, QUOTA["workload mutants"], record_property)


# --------------------------------------------------------------------------------------
# command lines
# --------------------------------------------------------------------------------------


class Sandbox:
    """Input files and output destinations of the command-line campaign, in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.workload = root / "w.json"
        save_workload(attention_workload(1, 4, 128, 64, kv_heads=2, phase="prefill"), self.workload)
        self.gemm = root / "g.json"
        save_workload(gemm_workload(64, 128, 32), self.gemm)
        self.bad = root / "bad.json"
        self.bad.write_text('{"format": "attnsim-workload", "version": 1, "blocks": [[[[', "utf-8")
        self.target = root / "t.yaml"
        self.target.write_text(targets_dir().joinpath("rtx-4090.yaml").read_text("utf-8"), "utf-8")
        self.folder = root / "sub"
        self.folder.mkdir()
        self.link = root / "planted.json"
        self.link.symlink_to(root / "victim.json")
        self.outputs = [
            str(root / "out.json"),
            str(root / "sub" / "out2.json"),
            str(self.link),
            str(root / "missing" / "out.json"),
            str(root / ("n" * 300 + ".json")),
            str(self.folder),
            "/proc/x.json",
            "/dev/null/x.json",
            str(root / "a" / ("b" * 250) / "c.json"),
            "",
        ]
        self.inputs = [
            str(self.workload),
            str(self.gemm),
            str(self.bad),
            str(self.folder),
            "/dev/null",
            "/dev/zero",
            str(root / "missing.json"),
            str(root / ("n" * 300 + ".json")),
            "/proc/self/mem",
        ]
        self.dirs = self._dirs()

    def _dirs(self) -> set[str]:
        return {str(p) for p in self.root.rglob("*") if p.is_dir()}

    def check_clean(self) -> None:
        """No folder was created and no temporary file was left behind."""
        dirs = self._dirs()
        if dirs != self.dirs:
            raise AssertionError(f"folders created: {sorted(dirs - self.dirs)}")
        left = [p.name for p in self.root.iterdir() if p.name.endswith(".tmp")]
        if left:
            raise AssertionError(f"temporary files left: {left}")
        if (self.root / "victim.json").exists():
            raise AssertionError("a planted link was followed")


HOSTILE_TOKENS = (
    "-1",
    "0",
    "1",
    "7",
    "3",
    "1e400",
    "nan",
    "inf",
    "9" * 5000,
    "2147483648",
    "4611686018427387904",
    "x",
    "",
    "--",
    "-",
    "--json",
    "--help",
    "-v",
    "a\nb",
    "\x00",
    "é" * 3,
    "n" * 300,
    "h100-sxm5-80gb",
    "flash-attention-9",
)
VARIANTS = [v.name for v in list_variants()]


def _templates(box: Sandbox, rng: random.Random) -> list[str]:
    wl, out = rng.choice(box.inputs[:2]), rng.choice(box.outputs)
    hw = rng.choice(["h100-sxm5-80gb", "host-cpu", "b200", str(box.target), "vitallm-16nm", "nope"])
    size = lambda: str(rng.choice([1, 2, 4, 16, 64, 128, 256]))  # noqa: E731
    variant = rng.choice(VARIANTS)
    choices: list[list[str]] = [
        ["simulate", "--hw", hw, "--workload", wl],
        ["simulate", "--hw", hw, "--workload", wl, "--json"],
        ["simulate", "--hw", hw, "--workload", wl, "--block-q", size(), "--block-k", size()],
        ["simulate", "--hw", hw, "--workload", wl, "--timeline", out, "--top", size()],
        ["simulate", "--hw", hw, "--workload", wl, "--family", rng.choice(["flash-attention-2", "triton-bundled", "numba-flash-cpu", "unfused"])],
        ["workload", "attention", "--heads", size(), "--seq", size(), "--head-dim", size(), "-o", out],
        ["workload", "attention", "--heads", "8", "--kv-heads", "2", "--seq", size(), "--head-dim", "64",
         "--mask", rng.choice(["window", "causal", "block-sparse", "full"]), "--window", size(), "-o", out],
        ["workload", "attention", "--heads", "4", "--head-dim", "32", "--mask", "neighborhood",
         "--spatial", f"{size()}x{size()}", "--window", "3x3", "-o", out],
        ["workload", "attention", "--heads", "4", "--head-dim", "32", "--mask", "shared-prefix",
         "--prefix", size(), "--continuations", "2", "--continuation-len", size(), "-o", out],
        ["workload", "gemm", "--m", size(), "--n", size(), "--k", size(), "-o", out],
        ["workload", "show", rng.choice(box.inputs)],
        ["workload", "show", wl, "--json"],
        ["workload", variant, "--seq", size(), "-o", out],
        ["workload", "--list", "--no-speedups", "--json"],
        ["hw", "list"],
        ["hw", "show", hw],
        ["hw", "validate", rng.choice([str(box.target), *box.inputs])],
        # a fit takes most of a second when it succeeds: only its refusals are fuzzed
        ["fit-constants", rng.choice(["nope", str(box.bad), str(box.folder), "/dev/null"])],
        ["trace", rng.choice(["nosuch", "vit-b16"]), "--batch", "0", "-o", out],
        ["trace", "nosuch-model", "-o", out],
        ["trace", "--json"],
        ["demo", "--out", out, "--text-tokens", "-3"],
        ["sweep", "plan", rng.choice([SWEEP_SPEC, *box.inputs])],
        ["sweep", rng.choice([SWEEP_SPEC, *box.inputs]), "-o", out, "--workers", size()],
        ["report", rng.choice([str(box.folder), *box.inputs]), "-o", out],
        ["measure", "--kernel", "nope", "--device", "cpu"],
        ["validate", "--device", "tpu"],
        ["calibrate", "--threads", "x"],
    ]  # fmt: skip
    return rng.choice(choices)


#: A real sweep spec for the ``sweep`` command lines.
SWEEP_SPEC = str(Path(__file__).resolve().parents[2] / "examples" / "sweep-small.yaml")
#: Commands run only up to argument parsing (their work takes seconds to minutes): a
#: command line that parses is not executed.
PARSE_ONLY = ("demo", "measure", "validate", "calibrate")


def _mutate_argv(rng: random.Random, argv: list[str], box: Sandbox) -> list[str]:
    argv = list(argv)
    for _ in range(rng.randint(0, 3)):
        roll = rng.random()
        i = rng.randrange(len(argv))
        if roll < 0.25 and len(argv) > 1:
            del argv[i]
        elif roll < 0.4:
            argv.insert(i, argv[i])
        elif roll < 0.8:
            argv[i] = rng.choice(HOSTILE_TOKENS)
        else:
            argv[i] = rng.choice(box.inputs + box.outputs)
    return argv


def _parse_only(argv: list[str]) -> bool:
    """Command lines whose work takes a second or more when they parse: a demo, a
    measurement, a calibration, a fit, a real trace, the variants table with its simulated
    speedups."""
    command = next((a for a in argv if not a.startswith("-")), "")
    if command in PARSE_ONLY or (command == "trace" and "vit-b16" in argv):
        return True
    if command == "fit-constants" and any(t in list_targets() for t in argv):
        return True
    if command == "sweep" and SWEEP_SPEC in argv:  # plans and runs simulate many points
        return True
    return command == "workload" and "--no-speedups" not in argv


def _run_command(argv: list[str], box: Sandbox) -> bool:
    """Run (or only parse) one command line; True when it exited 0."""
    if _parse_only(argv):
        parser, _ = cli_main._cli(tuple(cli_main.COMMAND_MODULES))
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                parser.parse_args(argv)
        except SystemExit as exc:
            if exc.code not in (0, 2):
                raise AssertionError(f"argparse exit {exc.code}") from None
            return exc.code == 0
        return True
    outcome = run_main(argv)
    box.check_clean()
    return outcome.code == 0


def _warm_up(box: Sandbox) -> None:
    """Import what each command imports once, so import time is not counted as a hang."""
    for argv in (
        ["simulate", "--hw", "h100-sxm5-80gb", "--workload", str(box.workload)],
        ["workload", "show", str(box.workload)],
        ["hw", "show", "h100-sxm5-80gb"],
        ["trace", "nosuch", "-o", str(box.root / "x.json")],
        ["workload", "--list", "--no-speedups"],
    ):
        run_main(argv)


def test_fuzz_command_lines(tmp_path: Path, record_property: Any) -> None:
    box = Sandbox(tmp_path)
    _warm_up(box)
    campaign = Campaign("command lines")
    rng = random.Random(8)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # a relative output never lands in the checkout
    try:
        for i in range(QUOTA["command lines"]):
            argv = _templates(box, rng)
            if i % 5:
                argv = _mutate_argv(rng, argv, box)
            campaign.run(" ".join(map(repr, argv)), lambda a=argv: _run_command(a, box))
    finally:
        os.chdir(cwd)
    _finish(campaign, QUOTA["command lines"], record_property)


# --------------------------------------------------------------------------------------
# measurement CSVs
# --------------------------------------------------------------------------------------


def _csv_rows() -> list[list[str]]:
    import csv

    files = sorted(Path(str(measurements_dir())).glob("*.csv"))
    text = files[0].read_text(encoding="utf-8").splitlines()
    return [text[0:1], *csv.reader(text[1:])]  # version line, header, rows


CSV_CELLS = ("-1", "0", "nan", "inf", "1e400", "9" * 5000, "x", "", '{"kind": "causal"}',
             '{"kind": "window"}', "[" * 5000, '{"kind": "sliding_window", "left": 1e999}',
             "4611686018427387904", "prefill", "decode", "attention", "gemm", '"')  # fmt: skip


def test_fuzz_measurement_csvs(tmp_path: Path, record_property: Any) -> None:
    import csv
    import io

    campaign = Campaign("measurement CSVs")
    rng = random.Random(8)
    version, header, *rows = _csv_rows()
    path = tmp_path / "m.csv"
    for _ in range(QUOTA["measurement CSVs"]):
        body = [list(r) for r in rng.sample(rows, k=min(len(rows), rng.randint(1, 4)))]
        head = list(header)
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            row = rng.choice(body)
            if roll < 0.7:
                row[rng.randrange(len(row))] = rng.choice(CSV_CELLS)
            elif roll < 0.8:
                row.pop(rng.randrange(len(row)))
            elif roll < 0.9:
                head[rng.randrange(len(head))] = rng.choice(CSV_CELLS)
            else:
                body.append(list(row))
        buf = io.StringIO()
        csv.writer(buf).writerows([head, *body])
        text = version[0] + "\n" + buf.getvalue()
        if rng.random() < 0.1:
            text = text[: rng.randrange(len(text))]
        path.write_text(text, encoding="utf-8")
        campaign.run(text, lambda: read_measurements(path))
    _finish(campaign, QUOTA["measurement CSVs"], record_property)


# --------------------------------------------------------------------------------------
# target YAMLs
# --------------------------------------------------------------------------------------


def _bundled_targets() -> Iterator[dict[str, Any]]:
    for name in list_targets():
        yield yaml.safe_load(targets_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8"))


def test_fuzz_target_yamls(tmp_path: Path, record_property: Any) -> None:
    campaign = Campaign("target YAMLs")
    rng = random.Random(8)
    seeds = list(_bundled_targets())
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    for i in range(QUOTA["target YAMLs"]):
        doc = mutate(rng, rng.choice(seeds))
        try:
            text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        except (ValueError, OverflowError):
            text = str(doc)
        path = folder / f"t{i % 7}.yaml"
        path.write_text(text, encoding="utf-8")
        campaign.run(text[:300], lambda p=path: load_hardware(p))
    _finish(campaign, QUOTA["target YAMLs"], record_property)


# --------------------------------------------------------------------------------------
# sweep specs
# --------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: A few hundred bytes that expand into gigabytes through aliases (a "billion laughs").
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def _yaml_text_damage(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.2:
        return ALIAS_BOMB + text
    if roll < 0.4:
        return text + "\nextra: " + "[" * rng.choice([50, 5000]) + "]" * 50
    if roll < 0.6:
        i = rng.randrange(len(text))
        return (
            text[:i]
            + rng.choice(
                ["\t", ": :", "- ", "&x ", "*x ", "!!python/object:os.system ", "1e400", "9" * 5000]
            )
            + text[i:]
        )
    return text[: rng.randrange(len(text) + 1)]


def test_fuzz_sweep_specs(tmp_path: Path, record_property: Any) -> None:
    from attnsim.sweep.spec import load_spec

    campaign = Campaign("sweep specs")
    rng = random.Random(8)
    texts = [f.read_text(encoding="utf-8") for f in sorted(EXAMPLES.glob("sweep-*.yaml"))]
    seeds = [yaml.safe_load(t) for t in texts]
    path = tmp_path / "spec.yaml"
    for i in range(QUOTA["sweep specs"]):
        if i % 4 == 3:
            text = _yaml_text_damage(rng, rng.choice(texts))
        else:
            try:
                text = yaml.safe_dump(mutate(rng, rng.choice(seeds)), sort_keys=False)
            except (ValueError, OverflowError):
                text = rng.choice(texts)
        path.write_text(text, encoding="utf-8")
        campaign.run(text[:300], lambda: load_spec(path))
    _finish(campaign, QUOTA["sweep specs"], record_property)
