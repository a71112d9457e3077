"""The demo behind ``make demo``: the main job end to end on the bundled defaults.

1. the bundled hardware targets;
2. a vision-language model (LLaVA-1.5-7B dims) traced from PyTorch under FakeTensorMode;
3. simulated on two GPU targets: the costliest ops of each and the totals side by side;
4. a Perfetto timeline of the first target;
5. a design-space sweep (``examples/sweep-small.yaml``) on a local process pool;
6. a quick validation on this CPU: a handful of attention problems timed on the bundled
   numba kernel and predicted on this machine's ``host-cpu`` target (measured and cached
   on first use, as ``attnsim validate`` does; the stored block timings, which
   BENCHMARKS.md shows are steadier than re-timing them before each case);
7. the design-space report of the sweep with the validation beside it; its path is
   printed last.

Everything is written under ``out_dir`` (``./attnsim-demo/``), which the demo creates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from attnsim.api import as_hardware, report, simulate, sweep, trace
from attnsim.fileio import output_folder
from attnsim.hwconfigs import list_targets
from attnsim.reports import ops_table, summary_table, targets_table, write_trace
from attnsim.sim import Result
from attnsim.workloads.serialize import save_workload


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs (defaults are the bundled ones)."""

    model: str = "vlm-llava-style"
    text_tokens: int = 512
    targets: tuple[str, ...] = ("h100-sxm5-80gb", "a100-sxm4-80gb")
    out_dir: Path = Path("attnsim-demo")
    top_ops: int = 12
    validate: bool = True
    sweep_spec: Path | None = None  #: None: examples/sweep-small.yaml of the repository
    workers: int | None = None


def default_sweep_spec() -> Path:
    """``examples/sweep-small.yaml`` of the repository (the demo runs from a checkout)."""
    return Path(__file__).resolve().parents[1] / "examples" / "sweep-small.yaml"


def run_demo(config: DemoConfig | None = None, console: Console | None = None) -> list[Result]:
    """Run the demo, printing as it goes; returns the simulation results."""
    cfg = config or DemoConfig()
    con = console or Console(width=160)
    output_folder(cfg.out_dir, option="--out")

    con.rule("1. bundled hardware targets")
    con.print(targets_table([as_hardware(name) for name in list_targets()]))

    con.rule(f"2. trace {cfg.model} (prefill, {cfg.text_tokens} text tokens)")
    workload = trace(cfg.model, seq=cfg.text_tokens)
    path = save_workload(workload, cfg.out_dir / f"{cfg.model}.json")
    ops = sum(len(b.ops) for b in workload.blocks)
    con.print(
        f"{ops} distinct op records in {len(workload.blocks)} blocks "
        f"({', '.join(f'{b.name} x{b.count}' for b in workload.blocks if b.count > 1)}), "
        f"{workload.total_flops() / 1e12:.2f} TFLOP, {workload.tokens} tokens -> {path}"
    )

    con.rule("3. simulate on " + " and ".join(cfg.targets))
    results = [simulate(t, workload, timeline=(i == 0)) for i, t in enumerate(cfg.targets)]
    for r in results:
        con.print(
            ops_table(
                r,
                title=f"{r.workload} on {r.hardware}: {cfg.top_ops} costliest ops",
                top=cfg.top_ops,
            )
        )
    con.print(summary_table(results, title=f"{cfg.model}: totals side by side"))

    con.rule("4. timeline")
    trace_path = write_trace(
        results[0], cfg.out_dir / f"{cfg.model}-{results[0].hardware}.perfetto.json"
    )
    con.print(
        f"Perfetto timeline of {results[0].hardware}: {trace_path.resolve()} (open it in https://ui.perfetto.dev)"
    )

    spec = cfg.sweep_spec or default_sweep_spec()
    if not spec.is_file():
        from attnsim.sweep import SweepError

        raise SweepError(
            f"--sweep-spec: {spec}: not found; expected a sweep spec (the demo uses "
            "examples/sweep-small.yaml of a checkout)"
        )
    con.rule(f"5. design-space sweep: {spec}")
    table = sweep(spec, cfg.out_dir / "sweep", workers=cfg.workers, progress=True)
    s = table.attrs["summary"]
    con.print(
        f"{s['points']} points x {s['workloads']} workloads in {s['elapsed_s']:.1f} s "
        f"({s['points_per_s']:.1f} points/s on {s['workers']} workers): {s['points_by_status']}"
        f" -> {cfg.out_dir / 'sweep'}"
    )

    validation_dir = None
    if cfg.validate:
        con.rule("6. quick validation on this CPU (bundled numba kernel vs host-cpu prediction)")
        import pandas as pd

        from attnsim.cli.validate import print_report
        from attnsim.reports.validation import write_validation
        from attnsim.validation import validate_live

        val, _ = validate_live(
            "cpu",
            quick=True,
            progress=lambda name: con.print(f"measuring {name}", style="dim"),
            announce=lambda line: con.print(line, style="bold", highlight=False),
        )
        print_report(val, con)
        doc = val.to_dict()
        validation_dir = cfg.out_dir / "validation"
        write_validation(
            pd.DataFrame(doc["cases"]), pd.DataFrame(doc["summary"]["speedups"]), validation_dir
        )

    con.rule("7. design-space report")
    index = report(cfg.out_dir / "sweep", cfg.out_dir / "report", validation=validation_dir)
    con.print(f"report: {index.resolve()} (Markdown: {index.with_suffix('.md').resolve()})")
    return results
