"""The ``host-cpu`` target belongs to the host: measured on first use, cached per machine.

A CPU target measured on one machine predicted another of the same kind 33-114% off,
so ``host-cpu`` always means *this* machine. The first command that needs it on a
machine without one runs the ``attnsim calibrate`` micro-benchmarks (about half a minute,
with a progress bar), writes the result to the user's cache and says so in one line;
later commands load the cached file. ``attnsim calibrate`` refreshes it. A target some of
whose values were timed while another process held the cores says so in their sources
(``DISTURBED``), and each use warns in one line.

The cache folder is ``$ATTNSIM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/attnsim``,
else ``~/.cache/attnsim`` — never the source tree. A machine is keyed by its CPU model,
the cores this process may use and its memory size (:class:`Machine`); a file name
carries the key and the calibration format (:data:`FORMAT`), so a cache written by an
older attnsim, or on another machine sharing the home folder, is never read as this
one's.

The bundled ``host-cpu-example`` target is one such file measured on the project's
development machine, kept as an example under a name that cannot be mistaken for this
host.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnsim.errors import one_line
from attnsim.hwconfigs import Hardware, HardwareConfigError, hardware_from_dict, load_hardware
from attnsim.kernels.hostinfo import available_cores, cpu_model, mem_total_bytes

__all__ = [
    "CACHE_ENV",
    "EXAMPLE_TARGET",
    "FORMAT",
    "HOST_TARGET",
    "Machine",
    "cache_dir",
    "host_target",
    "host_target_path",
    "refresh_host_target",
    "this_machine",
    "with_threads",
]

#: The name that always means this machine.
HOST_TARGET = "host-cpu"
#: The bundled example measured on the project's development machine.
EXAMPLE_TARGET = "host-cpu-example"
#: Environment variable naming the cache folder.
CACHE_ENV = "ATTNSIM_CACHE_DIR"
#: Version of what ``attnsim calibrate`` measures and writes; bumped when the document
#: gains quantities the model reads, so that an older cache is measured again.
FORMAT = 2

if TYPE_CHECKING:  # pragma: no cover
    from attnsim.calibration import CalibrationResult

_log = logging.getLogger("attnsim")


@dataclass(frozen=True)
class Machine:
    """What names a machine for its cached target: CPU model, the cores this process may
    use, and memory (bytes, rounded to 256 MiB: the kernel's reserved share moves by a few
    MiB between boots)."""

    cpu_model: str
    cores: int
    mem_bytes: int | None

    def describe(self) -> str:
        """``"AMD EPYC, 2 cores, 24 GiB"``."""
        mem = f", {self.mem_bytes / (1 << 30):.3g} GiB" if self.mem_bytes else ""
        return f"{self.cpu_model}, {self.cores} cores{mem}"

    def key(self) -> str:
        """A file-name-safe key: a readable slug and a digest of the three facts."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.cpu_model.lower()).strip("-")[:40] or "cpu"
        facts = f"{self.cpu_model}|{self.cores}|{self.mem_bytes}"
        digest = hashlib.sha256(facts.encode()).hexdigest()[:10]
        mem = f"-{round(self.mem_bytes / (1 << 30))}g" if self.mem_bytes else ""
        return f"{slug}-{self.cores}c{mem}-{digest}"


def this_machine() -> Machine:
    """The machine this process runs on (reads ``/proc``; no timing)."""
    mem = mem_total_bytes()
    rounded = round(mem / (1 << 28)) * (1 << 28) if mem else None
    return Machine(cpu_model(), available_cores(), rounded)


def cache_dir() -> Path:
    """``$ATTNSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/attnsim``, else ``~/.cache/attnsim``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "attnsim"


def host_target_path(machine: Machine | None = None) -> Path:
    """Where the cached ``host-cpu`` target of ``machine`` (default: this one) lives."""
    m = machine or this_machine()
    return cache_dir() / f"{HOST_TARGET}-v{FORMAT}-{m.key()}.yaml"


def host_target(
    *,
    announce: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
    quick: bool = False,
) -> Hardware:
    """This machine's ``host-cpu`` target: the cached file, or measured now and cached.

    Measuring takes about half a minute (``quick``: about 10 s); ``announce`` receives the
    one line that says so (and one more if some values were timed while preempted) (default: a warning on the ``attnsim`` logger, which Python prints
    on stderr when logging is not configured), ``progress`` the name of each benchmark
    (default: a tqdm bar on an interactive terminal).

    Raises:
        attnsim.calibration.CalibrationError: the cache folder cannot be written.
    """
    from attnsim.calibration import disturbed_values

    machine = this_machine()
    path = host_target_path(machine)
    say = announce or _log.warning
    hw: Hardware | None = None
    if path.is_file():
        try:
            hw = load_hardware(path)
        except HardwareConfigError as exc:
            say(
                f"attnsim: the cached host-cpu target {one_line(path)} does not load "
                f"({one_line(exc.problems[0])}); measuring this machine again"
            )
    else:
        say(
            f"attnsim: no host-cpu target for this machine ({machine.describe()}) yet: "
            f"measuring it now (about {'10 s' if quick else 'half a minute'}), cached in "
            f"{one_line(path)}"
        )
    if hw is None:
        hw = refresh_host_target(progress=progress, quick=quick).hardware
    disturbed = disturbed_values(hw)
    if disturbed:
        say(
            f"attnsim: warning: {len(disturbed)} values of the host-cpu target were timed "
            "while another process held the cores (DISTURBED in "
            f"{one_line(path)}); predictions that use them are unreliable: run "
            "`attnsim calibrate` when the machine is quieter"
        )
    return hw


def refresh_host_target(
    *,
    progress: Callable[[str], None] | None = None,
    quick: bool = False,
    threads: int | None = None,
) -> CalibrationResult:
    """Measure this machine and (re)write its cached target (see :func:`host_target`)."""
    from attnsim.calibration import calibrate

    if progress is not None:
        return calibrate(output=None, threads=threads, quick=quick, progress=progress)
    from tqdm import tqdm

    from attnsim.kernels.microbench import benchmark_steps

    with tqdm(total=benchmark_steps(), desc="calibrating", unit="step", disable=None) as bar:
        started = [0]

        def step(name: str) -> None:
            if started[0]:
                bar.update(1)  # the previous benchmark is done
            started[0] += 1
            bar.set_postfix_str(name)

        result = calibrate(output=None, threads=threads, quick=quick, progress=step)
        bar.update(bar.total - bar.n)
        return result


def _cpu_engine(doc: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for name, engine in doc.get("engines", {}).items():
        if isinstance(engine, dict) and engine.get("kind") == "cpu_core":
            return name, engine
    return None


def _value(node: Any) -> Any:
    return node["value"] if isinstance(node, dict) and "value" in node else node


def with_threads(hw: Hardware, threads: int) -> Hardware:
    """``hw`` (a CPU target) as run on ``threads`` of its cores: the core engine's count
    becomes ``threads`` and its rates are the per-core rates measured at that thread
    count (the target's ``block_*`` constants, interpolated where not timed; see
    :class:`attnsim.sim.lowering.attention_cpu.BlockTable`), so a prediction changes with
    the thread count the way the kernel does. The variant goes through the loader like a
    file. A target without a CPU core engine, or already at ``threads``, is returned as is.

    Raises:
        ValueError: ``threads`` below 1.
    """
    from attnsim.sim.lowering.attention_cpu import BlockTable

    if threads < 1:
        raise ValueError(f"threads: {threads}; expected an integer >= 1")
    doc = hw.to_dict()
    found = _cpu_engine(doc)
    if found is None:
        return hw
    name, engine = found
    count = int(_value(engine["count"]))
    if count == threads:
        return hw
    table = BlockTable(hw.calibration)
    engine["count"] = {
        "value": threads,
        "source": f"{threads} of the {count} cores {hw.name} was measured on "
        f"(attnsim validate --threads {threads})",
    }
    src = f"per-core rate at {threads} threads from the target's block timings"
    core = hw.engines[name]
    for op_class, precisions in engine.get("ops_per_cycle", {}).items():
        for precision, node in precisions.items():
            per_cycle = core.ops_per_cycle[op_class][precision]  # one core, at `count` busy
            kind = {"matmul": "pair", "exp": "softmax"}.get(op_class)
            if kind is not None and table:
                per_cycle *= _block_ratio(table, kind, threads, count)
                precisions[precision] = {"value": per_cycle, "source": src}
            else:
                precisions[precision] = node  # a rate per core: the same on fewer cores
    doc["description"] = f"{hw.description} [run on {threads} of its {count} cores]"
    return hardware_from_dict(doc, f"{hw.name} at {threads} threads")


def _block_ratio(table: Any, kind: str, threads: int, count: int) -> float:
    """How much faster one core runs the 64 x 64 x 64 block at ``threads`` busy cores
    than at ``count`` (1 when the table has no such timing)."""
    shape = (64, 64, 64)
    at_t = table.seconds(kind, shape, threads)
    at_n = table.seconds(kind, shape, count)
    if at_t is None or at_n is None:
        return 1.0
    return float(at_n / at_t)
