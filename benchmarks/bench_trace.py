"""Benchmark: how long tracing takes and how much memory it needs.

Each case runs in a fresh Python subprocess (so the peak RSS is that of the trace alone,
imports included, and no cache is warm): import the zoo, build the model with fake
weights, trace it.  The child reports its wall times and ``ru_maxrss``.  The headline
case is Llama-3-70B prefill of 131072 tokens (batch 1), which must stay under 2 GB peak
RSS and take seconds.

    .venv/bin/python benchmarks/bench_trace.py [--repeats N] [--quick]

Prints a table and writes ``benchmarks/results/bench_trace.csv`` (median of the
repeats, with the machine and versions).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_trace.csv"
LIMIT_BYTES = 2 * 1024**3

CASES = [
    # name, model, kwargs of build_workload
    ("llama3-70b prefill 128k", "llama3-70b", {"seq": 131072, "phase": "prefill"}),
    ("llama3-70b decode @128k", "llama3-70b", {"phase": "decode", "kv_len": 131072}),
    ("llama3-8b prefill 128k", "llama3-8b", {"seq": 131072, "phase": "prefill"}),
    ("vlm-llava-style prefill", "vlm-llava-style", {"seq": 512, "phase": "prefill"}),
]

CHILD = r"""
import json, os, resource, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
t0 = time.perf_counter()
from attnsim.workloads.zoo import build_workload
import transformers  # noqa: F401  (count the import in import_s, not trace_s)
t1 = time.perf_counter()
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
kwargs = json.loads(sys.argv[2])
wl = build_workload(sys.argv[1], **kwargs)
t2 = time.perf_counter()
att = [op for b, op in wl.flat() if op.kind == "attention"]
print(json.dumps({
    "import_s": t1 - t0,
    "trace_s": t2 - t1,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "rss_after_import_bytes": rss_import,
    "ops": sum(len(b.ops) * b.count for b in wl.blocks),
    "blocks": len(wl.blocks),
    "tflop": wl.total_flops() / 1e12,
    "kv_len": att[-1].spec.kv_len if att else 0,
}))
"""


def run_case(model: str, kwargs: dict) -> dict:
    """One traced case in a fresh interpreter; returns the child's measurements."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--quick", action="store_true", help="only the 70B 128k prefill case")
    args = parser.parse_args()
    import torch
    import transformers

    cases = CASES[:1] if args.quick else CASES
    rows = []
    for label, model, kwargs in cases:
        runs = [run_case(model, kwargs) for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        rows.append(
            {
                "case": label,
                "model": model,
                "batch": 1,
                "seq": kwargs.get("seq", 1),
                "phase": kwargs["phase"],
                "kv_len": med["kv_len"],
                "repeats": args.repeats,
                "trace_s_median": round(med["trace_s"], 3),
                "trace_s_min": round(min(r["trace_s"] for r in runs), 3),
                "trace_s_max": round(max(r["trace_s"] for r in runs), 3),
                "import_s_median": round(med["import_s"], 3),
                "peak_rss_mib": round(med["peak_rss_bytes"] / 2**20, 1),
                "rss_after_import_mib": round(med["rss_after_import_bytes"] / 2**20, 1),
                "ops": int(med["ops"]),
                "tflop": round(med["tflop"], 1),
                "under_2gb": med["peak_rss_bytes"] < LIMIT_BYTES,
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
            }
        )
    header = f"{'case':28} {'trace s':>9} {'(min-max)':>15} {'import s':>9} {'peak RSS MiB':>13} {'ops':>7} {'TFLOP':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        spread = f"({r['trace_s_min']:.2f}-{r['trace_s_max']:.2f})"
        print(
            f"{r['case']:28} {r['trace_s_median']:9.2f} {spread:>15} {r['import_s_median']:9.2f} "
            f"{r['peak_rss_mib']:13.1f} {r['ops']:7d} {r['tflop']:10.1f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    bad = [r["case"] for r in rows if not r["under_2gb"]]
    if bad:
        print(f"over 2 GB peak RSS: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
