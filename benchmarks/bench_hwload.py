"""Benchmark: how fast a hardware target loads (on the hot path of every sweep point), and
how fast hostile files are refused.

Times ``load_hardware("h100-sxm5-80gb")`` and the sweep case
``load_hardware("h100-sxm5-80gb", overrides={"units.sm.count": 100, "memory.hbm.bandwidth":
"4.8 TB/s"})``: the first call in a fresh process (nothing cached) and the median of many
calls after it. With ``--against REV`` the same is measured for the ``hwconfigs/`` of git
revision REV (everything else as in this tree), in separate processes, interleaved round
by round, so that the ratio holds on a busy machine. Then it times the refusal of small
hostile files (an alias bomb, deep nesting, many values, an oversized file) with this
tree's code. Prints a table and writes benchmarks/results/bench_hwload.csv.

    .venv/bin/python benchmarks/bench_hwload.py [--against fcd7cf1] [--rounds 5] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "bench_hwload.csv"
FOLDERS = ("sim", "hwconfigs", "workloads", "kernels", "rtl_models", "reports")

_TIMING = """
import json, statistics, sys, time
from attnsim.hwconfigs import load_hardware
calls = int(sys.argv[1])
overrides = {"units.sm.count": 100, "memory.hbm.bandwidth": "4.8 TB/s"}
out = {}
for case, kw in (("plain", {}), ("overrides", {"overrides": overrides})):
    t0 = time.perf_counter(); load_hardware("h100-sxm5-80gb", **kw); first = time.perf_counter() - t0
    walls = []
    for _ in range(calls):
        t0 = time.perf_counter(); load_hardware("h100-sxm5-80gb", **kw)
        walls.append(time.perf_counter() - t0)
    out[case] = {"first_s": first, "median_s": statistics.median(walls)}
print(json.dumps(out))
"""


def _tree(folder: Path, hwconfigs: Path) -> Path:
    """A folder laid out as the installed ``attnsim`` package, with ``hwconfigs`` from
    ``hwconfigs`` (the editable install's finder comes after PYTHONPATH)."""
    package = folder / "attnsim"
    package.mkdir(parents=True)
    for entry in (ROOT / "attnsim").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in FOLDERS:
        (package / name).symlink_to(hwconfigs if name == "hwconfigs" else ROOT / name)
    return folder


def _export(revision: str, folder: Path) -> Path:
    """``hwconfigs/`` of git ``revision``, extracted under ``folder``."""
    data = subprocess.run(
        ["git", "archive", revision, "hwconfigs"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "hwconfigs"


def _run(tree: Path, calls: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", _TIMING, str(calls)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _hostile(folder: Path) -> list[dict[str, object]]:
    from attnsim.hwconfigs import validate_file
    from attnsim.hwconfigs.parse import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

    bomb = "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    files = {
        "alias bomb (9^9 values)": bomb,
        f"nesting {MAX_DEPTH * 4} deep": "x: " + "[" * MAX_DEPTH * 4 + "]" * MAX_DEPTH * 4,
        f"{MAX_NODES * 2} values": "x: [" + ",".join(["1"] * MAX_NODES * 2) + "]",
        f"{2 * MAX_FILE_BYTES} bytes": "#" * 2 * MAX_FILE_BYTES,
    }
    rows = []
    for case, text in files.items():
        path = folder / "hostile.yaml"
        path.write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        lines = validate_file(path)
        rows.append(
            {
                "case": case,
                "bytes": len(text.encode()),
                "wall_s": time.perf_counter() - t0,
                "problem": lines[0].split(": ", 2)[-1][:70],
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--against", metavar="REV", help="also time hwconfigs/ of this git revision")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trees = {"this tree": _tree(folder / "new", ROOT / "hwconfigs")}
        if args.against:
            trees[args.against] = _tree(folder / "old", _export(args.against, folder / "rev"))
        runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in trees}
        for _ in range(args.rounds):  # interleaved: the machine's drift hits both alike
            for name, tree in trees.items():
                runs[name].append(_run(tree, args.calls))
        hostile = _hostile(folder)
    rows = []
    for name, results in runs.items():
        for case in ("plain", "overrides"):
            rows.append(
                {
                    "code": name,
                    "case": case,
                    "first_ms": statistics.median(r[case]["first_s"] for r in results) * 1e3,
                    "median_ms": statistics.median(r[case]["median_s"] for r in results) * 1e3,
                    "rounds": len(results),
                    "calls": args.calls,
                }
            )
    frame = pd.DataFrame(rows)
    if args.against:
        base = frame[frame.code == args.against].set_index("case")["median_ms"]
        frame["vs_" + args.against] = frame.apply(
            lambda r: r.median_ms / base[r.case], axis=1
        ).round(3)
    frame["machine"] = f"{platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}"
    OUT.parent.mkdir(exist_ok=True)
    frame.to_csv(OUT, index=False)
    console = Console()
    table = Table(title="load_hardware('h100-sxm5-80gb') (median of round medians)")
    for column in frame.columns[:-1]:
        table.add_column(column, justify="left" if column in ("code", "case") else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row[:-1]))
    console.print(table)
    table = Table(title="hostile files, refused by this tree")
    for column in ("case", "bytes", "wall_s", "problem"):
        table.add_column(column)
    for r in hostile:
        table.add_row(str(r["case"]), str(r["bytes"]), f"{r['wall_s']:.4f}", str(r["problem"]))
    console.print(table)
    console.print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
