"""The demo behind ``make demo``: the whole path on the bundled defaults.

1. the bundled hardware targets;
2. a vision-language model (LLaVA-1.5-7B dims) traced from PyTorch under FakeTensorMode;
3. simulated on two GPU targets: the costliest ops of each and the totals side by side;
4. a Perfetto timeline of the first target;
5. a quick validation on this CPU: a handful of attention problems timed on the bundled
   numba kernel and predicted on the calibrated ``host-cpu`` target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from attnsim.api import as_hardware, simulate, trace
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

    if cfg.validate:
        con.rule("5. quick validation on this CPU (bundled numba kernel vs host-cpu prediction)")
        from attnsim.cli.validate import print_report
        from attnsim.validation import validate_live

        report, _ = validate_live(
            "cpu",
            quick=True,
            per_case_rates=True,
            progress=lambda name: con.print(f"measuring {name}", style="dim"),
        )
        print_report(report, con)
    return results
