"""Calibrate the ``host-cpu`` target: micro-benchmarks of this machine -> its YAML file.

:func:`calibrate` runs :func:`kernels.microbench.run_microbenchmarks`, turns the measured
machine constants into a version-1 hardware document (:func:`host_cpu_document`), checks
it with :func:`hwconfigs.hardware_from_dict` and writes it atomically (a temporary file
in the same folder, checked again with :func:`hwconfigs.validate_file`, then renamed).
By default it writes this machine's cached target (:mod:`attnsim.hosttarget`), never a
file in the source tree.

Besides the target's engine rates (the 64 x 64 sgemm pair, the online softmax, the mask
loop at every thread), the document carries the kernel's building blocks *by block
shape and thread count* as named constants ``block_pair_r<rows>_d<d>_k<keys>_t<threads>``
and ``block_softmax_...`` (seconds per call on one core; see
:func:`attnsim.sim.lowering.attention_cpu.block_constant`): one rate per target hides
that OpenBLAS runs a 4-row decode block several times slower per flop than a 64-row one,
and that a core runs slower when every core is busy.

Only machine constants are fitted, from micro-benchmarks: compute rates of the CPU
kernel's building blocks, cache and memory bandwidths and latencies, the cost of entering
a numba parallel region. No attention timing goes in. Every measured value's source reads
``measured <UTC date> by attnsim calibrate: <what was timed>``; what is not measured
(energies, static power) keeps a labelled ``assumption: ...`` source.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attnsim.errors import OutputFileError, ProblemsError, one_line
from attnsim.fileio import check_output_path
from attnsim.hwconfigs import Hardware, hardware_from_dict, validate_file
from attnsim.kernels.microbench import (
    CORE_DRAM_BYTES,
    MATMUL_HEAD_DIMS,
    TILE,
    HostInfo,
    MicrobenchError,
    Microbenchmarks,
    ShapeTiming,
    Stat,
    run_microbenchmarks,
)
from attnsim.sim.lowering.attention_cpu import block_constant

__all__ = [
    "TARGET_NAME",
    "CalibrationError",
    "CalibrationResult",
    "calibrate",
    "default_output",
    "disturbed_values",
    "host_cpu_document",
    "render_document",
    "summary_rows",
    "write_document",
]

TARGET_NAME = "host-cpu"
#: Starts the part of a source that says its value was timed while another process held
#: the cores (every run preempted): such a value is not the machine's speed.
DISTURBED_MARK = "DISTURBED:"
#: Environment variable that moves the cache of host targets (see attnsim.hosttarget).
CACHE_ENV = "ATTNSIM_CACHE_DIR"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")

#: Labelled assumptions kept from the hand-written host-cpu target (nothing here is timed).
_ENERGY_ASSUMPTIONS: dict[str, Any] = {
    "per_op": {
        "matmul": {
            "fp32": {
                "value": "2.3 pJ",
                "source": "assumption: Horowitz ISSCC 2014 45 nm fp32 (3.7 + 0.9) / 2 per op, unscaled",
            }
        },
        "vector": {"fp32": {"value": "2.3 pJ", "source": "assumption: as matmul fp32"}},
        "exp": {
            "fp32": {"value": "40 pJ", "source": "assumption: ~20 scalar instructions per exp"}
        },
    },
    "static_power": {
        "value": "10 W",
        "source": "assumption: share of package idle power for 2 cores",
    },
}
_READ_ENERGY: dict[str, dict[str, str]] = {
    "l1": {
        "value": "1.25 pJ/B",
        "source": "assumption: Horowitz ISSCC 2014 8 KB SRAM 10 pJ per 64 bit at 45 nm, unscaled",
    },
    "l2": {
        "value": "2.5 pJ/B",
        "source": "assumption: Horowitz ISSCC 2014 32 KB SRAM 20 pJ per 64 bit at 45 nm, unscaled",
    },
    "l3": {
        "value": "12.5 pJ/B",
        "source": "assumption: Horowitz ISSCC 2014 1 MB SRAM 100 pJ per 64 bit at 45 nm, unscaled",
    },
    "dram": {
        "value": "20 pJ/bit",
        "source": "assumption: DDR4 DIMM access incl. I/O, order of Horowitz ISSCC 2014 DRAM figures",
    },
}
#: Used only where the operating system does not say (each labelled as an assumption).
_FALLBACK_CAPACITY = {"l1": "32 KiB", "l2": "512 KiB", "l3": "8 MiB", "dram": "16 GiB"}


class CalibrationError(ProblemsError):
    """Bad input to ``calibrate`` (an output that cannot be written, ...);
    ``problems`` holds one finished line per problem."""


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` measured, the document it built and where it wrote it."""

    measurements: Microbenchmarks
    document: dict[str, Any]
    hardware: Hardware
    path: Path


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------
def _sig(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}"


def _rate(ops_per_s: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if ops_per_s >= scale:
            return f"{_sig(ops_per_s / scale)} {prefix}{unit}"
    return f"{_sig(ops_per_s)} {unit}"


def _bytes(n: int) -> str:
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def _seconds(s: float) -> str:
    if s >= 1e-3:
        return f"{_sig(s * 1e3)} ms"
    if s >= 1e-6:
        return f"{_sig(s * 1e6)} us"
    return f"{_sig(s * 1e9)} ns"


def _spread(stat: Stat) -> str:
    if stat.disturbed:
        return (
            f"{DISTURBED_MARK} {stat.preempted} of {stat.repeats} runs were preempted (another "
            f"process held a core); median of all runs, spread (max - min) / median "
            f"{100 * stat.spread:.1f}%; re-run attnsim calibrate on a quieter machine"
        )
    left_out = f", {stat.preempted} preempted runs left out" if stat.preempted else ""
    return (
        f"median of {stat.repeats} clean runs{left_out}, spread (max - min) / median "
        f"{100 * stat.spread:.1f}%"
    )


def disturbed_values(hw: Hardware) -> list[str]:
    """Key paths of ``hw``'s values that ``attnsim calibrate`` timed while preempted."""
    return sorted(path for path, src in hw.sources.items() if DISTURBED_MARK in src)


def machine_description(host: HostInfo) -> str:
    """``"AMD EPYC, 2 cores, 23.5 GiB"``: the machine a target was measured on."""
    mem = (
        f", {host.mem_total_bytes / (1 << 30):.3g} GiB" if host.mem_total_bytes is not None else ""
    )
    return f"{host.cpu_model}, {host.cores} cores{mem}"


# --------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------
def host_cpu_document(mb: Microbenchmarks, name: str = TARGET_NAME) -> dict[str, Any]:
    """The hardware document (version 1, units written out) of ``mb``, named ``name``.

    Any name but ``host-cpu`` is an example kept for reference: its description says
    that it was measured on the machine it names, not on the machine reading it.
    """
    tag = f"measured {mb.date} by attnsim calibrate"
    n = mb.threads
    host = mb.host

    def measured(value: str, what: str) -> dict[str, str]:
        return {"value": value, "source": f"{tag}: {what}"}

    if host.clock_hz is not None:
        clock = measured(f"{_sig(host.clock_hz / 1e6, 7)} MHz", f"read from {host.clock_read_from}")
    else:
        clock = {"value": "2 GHz", "source": f"assumption: {host.clock_read_from}"}

    mm = {d: mb.matmul[d] for d in MATMUL_HEAD_DIMS}
    mm_parts = "; ".join(
        f"d={d}: {_sig(s.median / 1e9)} GFLOP/s ({_spread(s)})" for d, s in mm.items()
    )
    call_s = mb.blas_call.median if mb.blas_call is not None else 0.0
    mm_rate = matmul_rate_without_calls(mb)
    throughput = {
        "matmul": {
            "fp32": measured(
                _rate(mm_rate, "FLOP/s"),
                f"attnsim.kernels.cpu._flash_nb._scores (S = Q K^T, {TILE}x{TILE}xd) + _accumulate "
                f"(acc += P V, {TILE}xdx{TILE}) on one {TILE}x{TILE} tile per thread, "
                f"{n} threads busy (prange, thread-local buffers), single-threaded OpenBLAS; "
                f"2*{TILE}*{TILE}*(2d) ops per pair; geometric mean of {mm_parts}; "
                f"the two calls' fixed cost (calibration.blas_call_overhead, "
                f"{_sig(call_s * 1e6)} us each) taken out, since the simulator charges it per call",
            )
        },
        "vector": {
            "fp32": measured(
                _rate(mb.vector.median, "FLOP/s"),
                f"attnsim.kernels.cpu._flash_nb._mask_range_row over a {TILE}x{TILE} tile (diagonal "
                f"range mask), 2 ops per element, {n} threads busy; {_spread(mb.vector)}",
            )
        },
        "exp": {
            "fp32": measured(
                _rate(mb.softmax.median, "OPS"),
                f"softmax scores/s (exp2 + max + sum + rescale per score): "
                f"attnsim.kernels.cpu._flash_nb._softmax_rows on a {TILE}x{TILE} tile whose running "
                f"max changes every pass (acc rescale of d=64 runs), "
                f"{n} threads busy; {_spread(mb.softmax)}",
            )
        },
    }
    engines = {
        "core": {
            "kind": "cpu_core",
            "unit": "core",
            "count": {
                "value": n,
                "source": f"{tag}: numba.get_num_threads() = {n} "
                f"(threading layer {mb.threading_layer}; {host.cores} usable cores)",
            },
            "clock": clock,
            "throughput": throughput,
        }
    }

    def capacity(level: str, number: int) -> dict[str, str]:
        cache = host.cache(number)
        if cache is None:
            return {
                "value": _FALLBACK_CAPACITY[level],
                "source": f"assumption: sysfs reports no level-{number} cache",
            }
        return measured(_bytes(cache.size_bytes), f"read from {cache.read_from}")

    def bandwidth(level: str, what: str) -> dict[str, str]:
        stat = mb.bandwidth[level]
        return measured(_rate(stat.median, "B/s"), f"{what}; {_spread(stat)}")

    def latency(level: str) -> dict[str, str]:
        stat = mb.latency[level]
        return measured(
            _seconds(stat.median),
            f"one thread, dependent-load pointer chase over a random cyclic permutation of "
            f"the 64 B lines of a {_bytes(mb.chase_bytes[level])} buffer (numba); "
            f"{_spread(stat)}",
        )

    if host.mem_total_bytes is not None:
        dram_capacity = measured(_bytes(host.mem_total_bytes), "read from /proc/meminfo MemTotal")
    else:
        dram_capacity = {
            "value": _FALLBACK_CAPACITY["dram"],
            "source": "assumption: /proc/meminfo has no MemTotal",
        }

    buf = mb.buffer_bytes
    memory = {
        "l1": {
            "scope": "per_unit",
            "unit": "core",
            "capacity": capacity("l1", 1),
            "bandwidth": bandwidth(
                "l1", f"one thread summing a {_bytes(buf['l1'])} float32 buffer repeatedly (numba)"
            ),
            "latency": latency("l1"),
            "read_energy": _READ_ENERGY["l1"],
        },
        "l2": {
            "scope": "per_unit",
            "unit": "core",
            "capacity": capacity("l2", 2),
            "bandwidth": bandwidth(
                "l2", f"one thread summing a {_bytes(buf['l2'])} float32 buffer repeatedly (numba)"
            ),
            "latency": latency("l2"),
            "read_energy": _READ_ENERGY["l2"],
        },
        "l3": {
            "scope": "shared",
            "capacity": capacity("l3", 3),
            "bandwidth": bandwidth(
                "l3",
                f"{n} threads each summing its slice of a {_bytes(buf['l3'])} float32 buffer "
                f"repeatedly (numba prange), bytes read",
            ),
            "latency": latency("l3"),
            "read_energy": _READ_ENERGY["l3"],
        },
        "dram": {
            "scope": "shared",
            "capacity": dram_capacity,
            "bandwidth": bandwidth(
                "dram",
                f"{n} threads each copying its slice of a {_bytes(buf['dram'])} buffer "
                f"(np.copyto), read + write counted",
            ),
            "latency": latency("dram"),
            "read_energy": _READ_ENERGY["dram"],
        },
    }
    launch = mb.launch_overhead
    constants: dict[str, Any] = {
        "launch_overhead": measured(
            _seconds(launch.median),
            f"median wall time of one call of an njit(parallel=True) function whose "
            f"prange body over {n} iterations only stores its index (entering and "
            f"leaving a numba parallel region, Python dispatch included); each run the "
            f"median of {mb.launch_calls_per_run} calls timed one by one; {_spread(launch)}",
        )
    }
    if mb.blas_call is not None:
        constants["blas_call_overhead"] = measured(
            _seconds(mb.blas_call.median),
            f"single-threaded OpenBLAS sgemm on a 1x1x1 problem through "
            f"attnsim.kernels.cpu._flash_nb._scores, {n} threads busy; {_spread(mb.blas_call)}",
        )
    for level, stat in mb.core_bandwidth.items():
        what = (
            f"a {_bytes(mb.buffer_bytes['l3'])} float32 buffer"
            if level == "l3"
            else f"a {_bytes(CORE_DRAM_BYTES)} float32 buffer (far beyond the last-level cache)"
        )
        constants[f"core_bandwidth_{level}"] = measured(
            _rate(stat.median, "B/s"),
            f"bytes/s one thread alone reads from {level}: summing {what} repeatedly (numba); "
            f"a core's share of the shared level is at most this; {_spread(stat)}",
        )
    for timing in mb.shapes:
        constants.update(_block_constants(timing, tag))
    description = f"{machine_description(host)}: measured by attnsim calibrate on {mb.date}"
    if name != TARGET_NAME:
        description += (
            f" (an example kept for reference; predictions for the machine you are on use "
            f"{TARGET_NAME}, measured there)"
        )
    return {
        "version": 1,
        "name": name,
        "kind": "cpu",
        "description": description,
        "engines": engines,
        "memory": memory,
        "energy": _ENERGY_ASSUMPTIONS,
        "kernel_families": ["numba-flash-cpu", "unfused"],
        "calibration": constants,
    }


def _block_constants(timing: ShapeTiming, tag: str) -> dict[str, dict[str, str]]:
    """The two named constants of one block shape at one thread count."""
    t = timing
    shape = f"{t.rows} query rows x {t.bk} keys at head dimension {t.d}"
    busy = f"on one core while {t.threads} cores run it" if t.threads > 1 else "on one core alone"
    return {
        block_constant("pair", t.rows, t.d, t.bk, t.threads): {
            "value": _seconds(t.pair.median),
            "source": (
                f"{tag}: seconds per sgemm pair of the kernel (S = Q K^T then acc += P V, "
                f"single-threaded OpenBLAS through attnsim.kernels.cpu._flash_nb._scores and "
                f"_accumulate, both calls' fixed cost included) on a block of {shape}, "
                f"cache-resident operands, {busy} "
                f"({_sig(t.pair_ops / t.pair.median / 1e9)} GFLOP/s per core); {_spread(t.pair)}"
            ),
        },
        block_constant("softmax", t.rows, t.d, t.bk, t.threads): {
            "value": _seconds(t.softmax.median),
            "source": (
                f"{tag}: seconds per online-softmax update (exp2, max, sum, rescale of the "
                f"accumulator) of the kernel (attnsim.kernels.cpu._flash_nb._softmax_rows) on "
                f"a block of {shape}, every score live, {busy}; {_spread(t.softmax)}"
            ),
        },
    }


def matmul_rate_without_calls(mb: Microbenchmarks) -> float:
    """Whole-CPU matmul ops/s of the tile pair with the two sgemm calls' fixed cost taken
    out (geometric mean over head dims): the lowering adds that cost per call itself."""
    call_s = mb.blas_call.median if mb.blas_call is not None else 0.0
    logs = []
    for d, stat in mb.matmul.items():
        ops = 2.0 * TILE * TILE * 2 * d
        per_thread_s = ops / (stat.median / mb.threads)
        logs.append(math.log(ops / max(per_thread_s - 2 * call_s, 0.5 * per_thread_s) * mb.threads))
    return math.exp(sum(logs) / len(logs))


def summary_rows(mb: Microbenchmarks) -> list[tuple[str, Stat, float, str]]:
    """``(quantity, stat, scale, unit)`` per measured value, for tables: the value shown
    is ``stat.median / scale`` in ``unit``."""
    rows: list[tuple[str, Stat, float, str]] = []
    for t in mb.shapes:
        shape = f"{t.rows}x{t.d}x{t.bk}"
        rows.append((f"sgemm pair {shape} ({t.threads} thr)", t.pair, 1e-6, "us"))
        rows.append((f"online softmax {shape} ({t.threads} thr)", t.softmax, 1e-6, "us"))
    rows.append((f"mask loop ({mb.threads} thr)", mb.vector, 1e9, "GFLOP/s"))
    rows.append(("parallel-region launch", mb.launch_overhead, 1e-6, "us"))
    if mb.blas_call is not None:
        rows.append(("sgemm call overhead", mb.blas_call, 1e-6, "us"))
    names = {"l1": "1 thr", "l2": "1 thr", "l3": f"{mb.threads} thr", "dram": f"{mb.threads} thr"}
    for level, stat in mb.bandwidth.items():
        what = "copy r+w" if level == "dram" else "read"
        rows.append(
            (
                f"{level} {what} bandwidth ({_bytes(mb.buffer_bytes[level])}, {names[level]})",
                stat,
                1e9,
                "GB/s",
            )
        )
    for level, stat in mb.core_bandwidth.items():
        rows.append((f"{level} read bandwidth (1 thr alone)", stat, 1e9, "GB/s"))
    for level, stat in mb.latency.items():
        rows.append((f"{level} latency ({_bytes(mb.chase_bytes[level])} chase)", stat, 1e-9, "ns"))
    return rows


def render_document(doc: dict[str, Any], mb: Microbenchmarks) -> str:
    """YAML text of ``doc`` behind a comment header with the measurement summary."""
    lines = [
        f"# {doc['name']}: {machine_description(mb.host)}, written by `attnsim calibrate` "
        f"on {mb.date} (UTC)" + (" --quick" if mb.quick else ""),
        "# Do not edit by hand: re-run `attnsim calibrate` (see attnsim/calibration.py).",
        f"# CPU: {mb.host.cpu_model}; {mb.threads} numba threads ({mb.threading_layer}); "
        f"numba {mb.host.numba_version}, numpy {mb.host.numpy_version}, "
        f"Python {mb.host.python}; benchmarks took {mb.elapsed_s:.0f} s.",
        "# Measured (median; min..max over the timed runs):",
    ]
    for name, stat, scale, unit in summary_rows(mb):
        lines.append(
            f"#   {name:<44} {_sig(stat.median / scale):>9} {unit:<8} "
            f"({_sig(stat.low / scale, 3)}..{_sig(stat.high / scale, 3)}, "
            f"spread {100 * stat.spread:.1f}%)"
        )
    header = "\n".join(lines) + "\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def default_output() -> Path:
    """This machine's cached ``host-cpu`` target (:func:`attnsim.hosttarget.host_target_path`)."""
    from attnsim.hosttarget import host_target_path

    return host_target_path()


def _check_output(output: str | os.PathLike[str] | None) -> Path:
    if output is None:
        path = default_output()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # the cache folder is ours to make
        except OSError as exc:
            raise CalibrationError(
                f"{one_line(path.parent)}: cannot create the cache folder "
                f"({one_line(exc.strerror or exc)}); expected a writable "
                f"${CACHE_ENV} or -o FILE"
            ) from None
        option = f"cache {path.parent}"
    else:
        path = Path(output)
        option = "-o"
        if path.suffix not in (".yaml", ".yml") and not path.is_dir():
            raise CalibrationError(
                f"-o {one_line(path)}: expected a file name ending in .yaml or .yml"
            )
    try:
        return check_output_path(path, option=option)
    except OutputFileError as exc:
        raise CalibrationError(exc.problems) from None


def write_document(text: str, path: str | os.PathLike[str]) -> Hardware:
    """Check ``text`` and write it to ``path`` atomically; returns the loaded target.

    The text is parsed and checked with :func:`hwconfigs.hardware_from_dict`, written to
    a temporary file beside ``path``, checked again with :func:`hwconfigs.validate_file`,
    then renamed over ``path``. Nothing is written when a check fails
    (:class:`hwconfigs.HardwareConfigError`).
    """
    target = Path(path)
    hardware = hardware_from_dict(yaml.safe_load(text), str(target))
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.stem[:40]}-", suffix=".yaml", dir=target.parent
        )
    except OSError as exc:
        raise CalibrationError(
            f"{one_line(target)}: cannot write ({one_line(exc.strerror or exc)})"
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        problems = validate_file(tmp)
        if problems:
            raise CalibrationError(problems)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CalibrationError(
            f"{one_line(target)}: cannot write ({one_line(exc.strerror or exc)})"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return hardware


def calibrate(
    output: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    name: str = TARGET_NAME,
) -> CalibrationResult:
    """Measure this machine and write its target.

    Args:
        output: the YAML file to write; ``None`` writes (refreshes) this machine's cached
            ``host-cpu`` target (:func:`attnsim.hosttarget.host_target_path`).
        threads: numba threads for the whole-CPU benchmarks (default: every usable core).
        quick: fewer, shorter timed runs (about 15 s instead of about a minute).
        progress: called with the name of each benchmark before it runs.
        name: the target's name (``host-cpu``; another name marks an example, e.g. the
            bundled ``host-cpu-example``).

    Raises:
        CalibrationError: the output cannot be written, or a rate is not a positive number.
        kernels.microbench.MicrobenchError: a thread count the machine cannot run.
    """
    if not _NAME.fullmatch(name):
        raise CalibrationError(
            f"--name: {one_line(name)!r}; expected letters, digits, '-' and '_' "
            "(e.g. host-cpu-example)"
        )
    path = _check_output(output)
    mb = run_microbenchmarks(threads=threads, quick=quick, progress=progress)
    bad = [
        name for name, s, _, _ in summary_rows(mb) if not (math.isfinite(s.median) and s.median > 0)
    ]
    if bad:
        raise CalibrationError(
            f"{one_line(path)}: not written; not a positive number: {', '.join(bad)}"
        )
    doc = host_cpu_document(mb, name)
    text = render_document(doc, mb)
    hardware = write_document(text, path)
    return CalibrationResult(measurements=mb, document=doc, hardware=hardware, path=path)


#: Exception types that mean "bad input" to :func:`calibrate`.
BAD_INPUT: tuple[type[BaseException], ...] = (CalibrationError, MicrobenchError)
