"""Timing harness, kernel registry and the measurement CSV format.

``measure(kernel, problem)`` runs a registered kernel on seeded random inputs: warm-up
calls (which also compile), then timed calls until both a minimum total time and a
minimum count are reached; it reports the median and the spread (quartiles, min, max)
as a :class:`Measurement`. On the CPU the thread count is pinned (numba and torch) and
recorded, and every call carries the run-queue delay the scheduler added to it
(:mod:`kernels.timing`): the statistics are over the *clean* calls, the preempted ones
are counted, and a timing with too few clean calls, or whose clean calls form two
clusters, is marked ``unreliable`` with the reason instead of passing for the kernel's
time. On a GPU each call is timed with CUDA events.

:func:`measure_interleaved` times many problems the way a noisy host needs: in rounds,
each problem a short burst per round, alternate rounds in reverse order (so a slow
drift of the machine's speed weighs on every problem alike), the statistics over the
clean calls of all rounds.

Measurements are stored in CSV files (``kernels/measurements/``) whose first line is a
version tag; :func:`read_measurements` refuses a corrupt file with a
:class:`MeasurementFileError` naming the file, the row and the column, and reads files
of every earlier version.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import functools
import importlib
import io
import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from attnsim.kernels.problems import GemmShape, Problem, problem_flops
from attnsim.kernels.timing import MIN_CLEAN, Sample, Timing, summarize, time_call
from attnsim.workloads.masks import mask_from_dict
from attnsim.workloads.spec import AttentionSpec

from attnsim.errors import InputFileError, ProblemsError, one_line
from attnsim.fileio import atomic_write, check_output_path, read_input_text
from attnsim.registry import Registry

__all__ = [
    "CSV_VERSION",
    "CSV_COLUMNS",
    "KERNELS",
    "KernelSpec",
    "Measurement",
    "MeasureError",
    "MeasurementFileError",
    "available_kernels",
    "cuda_available",
    "get_kernel",
    "measure",
    "measure_interleaved",
    "measurements_dir",
    "read_measurements",
    "register_kernel",
    "write_measurements",
]

CSV_VERSION = 2
#: Seconds :func:`measure_interleaved` waits before an extra round for preempted pairs.
EXTRA_ROUND_PAUSE_S = 2.0
_CSV_TAG = f"# attnsim measurements v{CSV_VERSION}"
_TAG_PREFIX = "# attnsim measurements v"
#: Largest measurement CSV read (bytes): far above any recording, far below harm.
MAX_CSV_BYTES = 64 * 1024 * 1024


class MeasureError(ProblemsError):
    """Bad input to the harness (unknown kernel, unsupported problem, no GPU, ...);
    ``problems`` holds one finished line per problem."""


class MeasurementFileError(ProblemsError):
    """A measurement CSV that cannot be read; ``problems`` lines name file, row, column."""


# --------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One timing of a bundled kernel on one problem (times in seconds, per call).

    ``op`` is ``"attention"`` (fields ``batch`` .. ``mask``, the ``AttentionSpec``) or
    ``"gemm"`` (``m``, ``n``, ``k``); unused fields are 0 / empty. ``block_q``/``block_k``
    and ``tiles_full``/``tiles_partial`` (per batch and head) are the tile sizes and the
    schedule the kernel actually ran (0 where not applicable). ``flops`` counts live
    pairs only (a multiply-accumulate is 2 FLOPs). The times are over ``repeats`` clean
    calls; ``preempted`` calls were left out because the scheduler delayed them;
    ``unreliable`` says why the median is not the kernel's time (``""`` when it is).
    """

    kernel: str
    op: str
    dtype: str
    batch: int = 0
    q_heads: int = 0
    kv_heads: int = 0
    q_len: int = 0
    kv_len: int = 0
    head_dim_qk: int = 0
    head_dim_v: int = 0
    phase: str = ""
    mask: str = ""  # JSON of MaskPattern.to_dict()
    m: int = 0
    n: int = 0
    k: int = 0
    block_q: int = 0
    block_k: int = 0
    tiles_full: int = 0
    tiles_partial: int = 0
    flops: float = 0.0
    device: str = "cpu"  # "cpu" | "cuda"
    device_name: str = ""
    driver: str = ""
    numba_version: str = ""
    numpy_version: str = ""
    torch_version: str = ""
    triton_version: str = ""
    date_utc: str = ""
    threads: int = 0
    repeats: int = 0
    median_s: float = 0.0
    p25_s: float = 0.0
    p75_s: float = 0.0
    min_s: float = 0.0
    max_s: float = 0.0
    how: str = ""
    preempted: int = 0
    unreliable: str = ""

    @property
    def reliable(self) -> bool:
        """Whether ``median_s`` is the kernel's time (not a preempted or bimodal run)."""
        return not self.unreliable

    @property
    def gflops(self) -> float:
        """Useful GFLOP/s at the median time."""
        return self.flops / self.median_s / 1e9 if self.median_s > 0 else 0.0

    def problem(self) -> Problem:
        """The problem measured, rebuilt (an ``AttentionSpec`` or a ``GemmShape``)."""
        if self.op == "gemm":
            return GemmShape(self.m, self.n, self.k)
        return AttentionSpec(
            batch=self.batch,
            q_heads=self.q_heads,
            kv_heads=self.kv_heads,
            q_len=self.q_len,
            kv_len=self.kv_len,
            head_dim_qk=self.head_dim_qk,
            head_dim_v=self.head_dim_v,
            phase=self.phase,
            mask=mask_from_dict(json.loads(self.mask)),
        )


CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Measurement))
#: Columns of each earlier version (read with the later columns at their defaults).
_OLD_COLUMNS: dict[int, tuple[str, ...]] = {
    1: tuple(c for c in CSV_COLUMNS if c not in ("preempted", "unreliable")),
}
_TYPES: dict[str, type] = {
    f.name: {"int": int, "float": float, "str": str}[str(f.type)] for f in fields(Measurement)
}


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------


def measurements_dir() -> Path:
    """The folder of recorded measurement CSVs (``kernels/measurements``)."""
    return Path(__file__).resolve().parent / "measurements"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _render(rows: Sequence[Measurement]) -> str:
    buf = io.StringIO()
    buf.write(_CSV_TAG + "\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_format(getattr(row, c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def write_measurements(path: str | os.PathLike[str], rows: Sequence[Measurement]) -> Path:
    """Append ``rows`` to the CSV at ``path`` (created with its version line and header).

    The file is rewritten atomically (:func:`attnsim.fileio.atomic_write`): an existing
    file is read first (a corrupt or foreign one is refused with
    :class:`MeasurementFileError`; one of an earlier version is upgraded) and written
    back with the new rows. No folder is created; an output that cannot be written is
    one line (:class:`attnsim.errors.OutputFileError`).
    """
    out = check_output_path(path, option="-o")
    old: list[Measurement] = []
    if out.exists() and out.stat().st_size > 0:
        old = read_measurements(out)  # refuse to append to a corrupt or foreign file
    atomic_write(out, _render([*old, *rows]), option="-o")
    return out


def _check_value(col: str, value: Any) -> str | None:
    """Why a parsed value is impossible, or ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if col.endswith("_s") and value < 0:
        return f"{value} is negative"
    if col == "median_s" and value == 0:
        return "0 is not a time; expected a positive number of seconds"
    if col in ("flops", "repeats", "preempted", "threads") and value < 0:
        return f"{value} is negative"
    return None


def read_measurements(path: str | os.PathLike[str]) -> list[Measurement]:
    """Read a measurement CSV written by :func:`write_measurements` (any version).

    Every problem is collected (unknown version, wrong header, a row of the wrong
    length, a value of the wrong type, a negative, zero, infinite or NaN time) and raised
    together as a :class:`MeasurementFileError` whose lines read
    ``FILE: row N: column C: ...``.
    """
    src = Path(path)
    name = one_line(src)
    try:
        text = read_input_text(src, what="measurement CSV", max_bytes=MAX_CSV_BYTES)
    except InputFileError as exc:
        raise MeasurementFileError(exc.problems) from None
    lines = text.splitlines()
    if not lines or not lines[0].startswith(_TAG_PREFIX):
        raise MeasurementFileError(
            [f"{name}: row 1: missing the version line; expected {_CSV_TAG!r}"]
        )
    tag = lines[0].strip()[len(_TAG_PREFIX) :]
    versions = {str(v): cols for v, cols in _OLD_COLUMNS.items()} | {str(CSV_VERSION): CSV_COLUMNS}
    if tag not in versions:
        raise MeasurementFileError(
            [
                f"{name}: row 1: version {one_line(tag)!r} is not supported; expected "
                f"{', '.join(sorted(versions))} (re-record with this version of attnsim)"
            ]
        )
    columns = versions[tag]
    reader = csv.reader(lines[1:])
    header = next(reader, None)
    if header is None or tuple(header) != columns:
        missing = [c for c in columns if header is None or c not in header]
        extra = [one_line(c) for c in (header or []) if c not in columns]
        raise MeasurementFileError(
            [
                f"{name}: row 2: header does not match version {tag}"
                f"{'; missing ' + ', '.join(missing) if missing else ''}"
                f"{'; unknown ' + ', '.join(extra) if extra else ''}; expected "
                f"{','.join(columns)}"
            ]
        )
    problems: list[str] = []
    out: list[Measurement] = []
    for lineno, row in enumerate(reader, start=3):
        if not row:
            continue
        if len(row) != len(columns):
            problems.append(f"{name}: row {lineno}: {len(row)} values; expected {len(columns)}")
            continue
        values: dict[str, Any] = {}
        bad = False
        for col, raw in zip(columns, row, strict=True):
            kind = _TYPES[col]
            try:
                values[col] = kind(raw) if kind is not str else raw
            except ValueError:
                problems.append(
                    f"{name}: row {lineno}: column {col}: {one_line(raw)!r} is not "
                    f"{'an integer' if kind is int else 'a number'}"
                )
                bad = True
                continue
            why = _check_value(col, values[col])
            if why is not None:
                problems.append(f"{name}: row {lineno}: column {col}: {why}")
                bad = True
        if not bad and values["op"] not in ("attention", "gemm"):
            problems.append(
                f"{name}: row {lineno}: column op: {one_line(values['op'])!r}; "
                "expected attention or gemm"
            )
            bad = True
        if not bad and values["op"] == "attention":
            try:
                mask_from_dict(json.loads(values["mask"]))
            except (ValueError, TypeError, RecursionError) as exc:
                problems.append(
                    f"{name}: row {lineno}: column mask: not a mask "
                    f"({one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)})"
                )
                bad = True
        if not bad:
            out.append(Measurement(**values))
    if problems:
        raise MeasurementFileError(problems)
    return out


# --------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------


@functools.cache
def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo`` (falls back to ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - not installed is an answer, not an error
        return ""


def _load_average() -> str:
    """The 1-minute load average with the core count (other work disturbs CPU timings)."""
    try:
        return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def cuda_available() -> tuple[bool, str]:
    """Whether a CUDA GPU can be used, and why not when it cannot."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU is available (torch.cuda.is_available() is false)"
    return True, ""


@functools.cache
def _gpu_driver() -> str:
    try:
        res = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        driver = res.stdout.strip().splitlines()[0] if res.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError, IndexError):
        driver = ""
    import torch

    cuda = torch.version.cuda or ""
    return f"nvidia {driver}; cuda {cuda}".strip() if driver else f"cuda {cuda}"


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

#: A prepared kernel: the call to time, plus facts about the schedule it runs.
Prepared = tuple[Callable[[], Any], dict[str, int]]


@dataclass(frozen=True)
class KernelSpec:
    """A registered kernel: which devices and ops it runs and how to prepare a call.

    ``prepare(problem, device, dtype, options)`` builds inputs on ``device`` and returns
    ``(call, info)``; ``info`` may give ``block_q``, ``block_k``, ``tiles_full``,
    ``tiles_partial``. It raises :class:`MeasureError` for problems it cannot run.
    """

    name: str
    devices: tuple[str, ...]
    ops: tuple[str, ...]
    description: str
    prepare: Callable[[Problem, str, str, dict[str, Any]], Prepared] = field(repr=False)
    dtypes: tuple[str, ...] = ("fp32",)


KERNELS: Registry[KernelSpec] = Registry("kernel", MeasureError)


def register_kernel(spec: KernelSpec) -> KernelSpec:
    """Add a kernel to :data:`KERNELS`; a duplicate name is refused."""
    return KERNELS.register(spec.name, spec)


def available_kernels() -> list[str]:
    """Registered kernel names, sorted."""
    return sorted(KERNELS)


def get_kernel(name: str) -> KernelSpec:
    """The registered kernel ``name``; unknown names suggest the closest one."""
    return KERNELS.lookup(name, where="--kernel")


_TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _inputs(spec: AttentionSpec, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((spec.batch, spec.q_heads, spec.q_len, spec.head_dim_qk), np.float32)
    k = rng.standard_normal((spec.batch, spec.kv_heads, spec.kv_len, spec.head_dim_qk), np.float32)
    v = rng.standard_normal((spec.batch, spec.kv_heads, spec.kv_len, spec.head_dim_v), np.float32)
    return q, k, v


def _attention_only(name: str, problem: Problem) -> AttentionSpec:
    if not isinstance(problem, AttentionSpec):
        raise MeasureError(
            f"--kernel {name}: runs attention problems, not {type(problem).__name__}"
        )
    if problem.q_heads < problem.kv_heads:
        raise MeasureError(
            f"--kernel {name}: q_heads {problem.q_heads} < kv_heads {problem.kv_heads} "
            "(query-head reduction) is not supported; expected kv_heads dividing q_heads"
        )
    return problem


def _prepare_numba_flash(
    problem: Problem, device: str, dtype: str, opts: dict[str, Any]
) -> Prepared:
    from attnsim.kernels.cpu import attention_forward, kernel_schedule
    from attnsim.kernels.cpu.flash import DEFAULT_BLOCK_K, DEFAULT_BLOCK_Q

    spec = _attention_only("numba-flash", problem)
    bq = int(opts.get("block_q") or DEFAULT_BLOCK_Q)
    bk = int(opts.get("block_k") or DEFAULT_BLOCK_K)
    q, k, v = _inputs(spec, int(opts.get("seed", 0)))
    sched = kernel_schedule(spec.mask, spec.q_len, spec.kv_len, bq, bk)
    info = {  # the tiles actually run (patch tiles of a neighborhood mask may be smaller)
        "block_q": sched.block_q,
        "block_k": sched.block_k,
        "tiles_full": sched.full_tiles,
        "tiles_partial": sched.partial_tiles,
    }
    return (lambda: attention_forward(q, k, v, spec.mask, block_q=bq, block_k=bk)), info


def _prepare_numba_decode(
    problem: Problem, device: str, dtype: str, opts: dict[str, Any]
) -> Prepared:
    from attnsim.kernels.cpu import decode_forward, kernel_schedule
    from attnsim.kernels.cpu.flash import DEFAULT_DECODE_BLOCK_K

    spec = _attention_only("numba-decode", problem)
    bk = int(opts.get("block_k") or DEFAULT_DECODE_BLOCK_K)
    if spec.q_len > bk:
        raise MeasureError(
            f"--kernel numba-decode: q_len {spec.q_len} exceeds block_k {bk}; expected a "
            "decode problem (--phase decode, a few new tokens)"
        )
    q, k, v = _inputs(spec, int(opts.get("seed", 0)))
    sched = kernel_schedule(spec.mask, spec.q_len, spec.kv_len, spec.q_len, bk, tiling="row-major")
    info = {
        "block_q": spec.q_len,
        "block_k": bk,
        "tiles_full": sched.full_tiles,
        "tiles_partial": sched.partial_tiles,
    }
    return (lambda: decode_forward(q, k, v, spec.mask, block_k=bk)), info


def _prepare_numba_gemm(
    problem: Problem, device: str, dtype: str, opts: dict[str, Any]
) -> Prepared:
    from attnsim.kernels.cpu import gemm

    if not isinstance(problem, GemmShape):
        raise MeasureError("--kernel numba-gemm: runs GEMM problems (--m --n --k), not attention")
    rng = np.random.default_rng(int(opts.get("seed", 0)))
    a = rng.standard_normal((problem.m, problem.k), np.float32)
    b = rng.standard_normal((problem.k, problem.n), np.float32)
    import numba
    from attnsim.kernels.cpu.flash import gemm_block

    block = int(opts.get("block_q") or gemm_block(problem.m, problem.n, numba.get_num_threads()))
    return (lambda: gemm(a, b, block=block)), {"block_q": block, "block_k": block}


def _prepare_torch_sdpa(
    problem: Problem, device: str, dtype: str, opts: dict[str, Any]
) -> Prepared:
    import torch

    spec = _attention_only("torch-sdpa", problem)
    q, k, v = _inputs(spec, int(opts.get("seed", 0)))
    tdt = getattr(torch, _TORCH_DTYPES[dtype])
    tq, tk, tv = (torch.from_numpy(x).to(device=device, dtype=tdt) for x in (q, k, v))
    kind = spec.mask.kind
    mask = None
    causal = False
    if kind == "causal" and spec.q_len == spec.kv_len:
        causal = True  # same mask, the fused path
    elif kind != "full":
        mask = torch.from_numpy(spec.mask.dense(spec.q_len, spec.kv_len)).to(device)
    gqa = spec.q_heads != spec.kv_heads
    fn = torch.nn.functional.scaled_dot_product_attention

    def call() -> Any:
        with torch.no_grad():
            return fn(tq, tk, tv, attn_mask=mask, is_causal=causal, enable_gqa=gqa)

    return call, {}


def _prepare_triton(kind: str) -> Callable[[Problem, str, str, dict[str, Any]], Prepared]:
    def prepare(problem: Problem, device: str, dtype: str, opts: dict[str, Any]) -> Prepared:
        from attnsim.kernels.gpu import require_triton

        require_triton()
        runners = importlib.import_module("attnsim.kernels.gpu.runners")
        spec = _attention_only(f"triton-{kind}", problem)
        return runners.prepare(kind, spec, dtype, opts)

    return prepare


register_kernel(
    KernelSpec(
        "numba-flash", ("cpu",), ("attention",),
        "numba + OpenBLAS FlashAttention-2 forward; skips dead tiles, masks partial ones",
        _prepare_numba_flash,
    )
)  # fmt: skip
register_kernel(
    KernelSpec(
        "numba-decode", ("cpu",), ("attention",),
        "numba flash-decoding: split-KV partial softmax per thread, then a reduction",
        _prepare_numba_decode,
    )
)  # fmt: skip
register_kernel(
    KernelSpec("numba-gemm", ("cpu",), ("gemm",), "numba tiled GEMM (OpenBLAS per tile)", _prepare_numba_gemm)
)  # fmt: skip
register_kernel(
    KernelSpec(
        "torch-sdpa", ("cpu", "cuda"), ("attention",),
        "torch.nn.functional.scaled_dot_product_attention (the reference)",
        _prepare_torch_sdpa, ("fp32", "fp16", "bf16"),
    )
)  # fmt: skip
register_kernel(
    KernelSpec(
        "triton-flash", ("cuda",), ("attention",),
        "Triton fused attention forward; iterates only live key blocks",
        _prepare_triton("flash"), ("fp16", "bf16", "fp32"),
    )
)  # fmt: skip
register_kernel(
    KernelSpec(
        "triton-decode", ("cuda",), ("attention",),
        "Triton split-KV decode + reduction",
        _prepare_triton("decode"), ("fp16", "bf16", "fp32"),
    )
)  # fmt: skip


# --------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _pinned_threads(threads: int) -> Iterator[None]:
    import numba
    import torch

    before_nb = numba.get_num_threads()
    before_t = torch.get_num_threads()
    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before_nb)
        torch.set_num_threads(before_t)


def default_threads() -> int:
    """The thread count used when none is given: every core numba may use."""
    import numba

    return int(getattr(numba.config, "NUMBA_NUM_THREADS", os.cpu_count() or 1))


def _times_cpu(
    call: Callable[[], Any], warmup: int, min_time_s: float, min_repeats: int, max_repeats: int
) -> list[Sample]:
    """Warm-up calls, then timed calls until ``min_time_s`` and ``min_repeats`` (at most
    ``max_repeats``); while fewer than :data:`kernels.timing.MIN_CLEAN` (or
    ``min_repeats``) calls are clean, more are timed, up to twice the count so far (and
    ``max_repeats``)."""
    for _ in range(warmup):
        call()
    samples: list[Sample] = []
    total = 0.0
    while len(samples) < max_repeats and (len(samples) < min_repeats or total < min_time_s):
        sample = time_call(call)
        samples.append(sample)
        total += sample.seconds
    limit = min(max_repeats, 2 * len(samples))
    want = min(MIN_CLEAN, min_repeats)
    while sum(s.clean for s in samples) < want and len(samples) < limit:
        samples.append(time_call(call))
    return samples


def _times_cuda(
    call: Callable[[], Any], warmup: int, min_time_s: float, min_repeats: int, max_repeats: int
) -> list[Sample]:
    import torch

    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    times: list[Sample] = []
    total = 0.0
    while len(times) < max_repeats and (len(times) < min_repeats or total < min_time_s):
        batch = max(1, min(max_repeats - len(times), min_repeats))
        events = [
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            for _ in range(batch)
        ]
        for start, stop in events:
            start.record()
            call()
            stop.record()
        torch.cuda.synchronize()
        for start, stop in events:
            dt = start.elapsed_time(stop) / 1e3
            times.append(Sample(float(dt), None))  # device time: the host scheduler is moot
            total += dt
    return times


def _check_request(
    kernel: str,
    problem: Problem,
    device: str,
    dtype: str,
    threads: int | None,
    min_repeats: int,
    max_repeats: int,
) -> KernelSpec:
    spec = get_kernel(kernel)
    problems: list[str] = []
    if device not in ("cpu", "cuda"):
        problems.append(f"--device: {one_line(device)!r}; expected cpu or cuda")
    elif device not in spec.devices:
        problems.append(
            f"--device {device}: kernel {kernel} runs on {', '.join(spec.devices)} only"
        )
    if problems:  # a wrong device makes the other checks moot
        raise MeasureError(problems)
    op = "gemm" if isinstance(problem, GemmShape) else "attention"
    if op not in spec.ops:
        problems.append(f"--kernel {kernel}: runs {', '.join(spec.ops)} problems, not {op}")
    if dtype not in spec.dtypes:
        problems.append(f"--dtype: {kernel} runs {', '.join(spec.dtypes)}, not {one_line(dtype)!r}")
    if threads is not None and threads < 1:
        problems.append(f"--threads: {threads}; expected an integer >= 1")
    if min_repeats < 1 or max_repeats < min_repeats:
        problems.append(f"--repeats: {min_repeats}..{max_repeats}; expected 1 <= min <= max")
    if problems:
        raise MeasureError(problems)
    if device == "cuda":
        ok, why = cuda_available()
        if not ok:
            raise MeasureError(f"--device cuda: {why}; expected a machine with an NVIDIA GPU")
    return spec


def _record(
    kernel: str,
    problem: Problem,
    dtype: str,
    device: str,
    info: dict[str, int],
    timing: Timing,
    n_threads: int,
    how: str,
) -> Measurement:
    """The :class:`Measurement` of ``timing`` (plain Python numbers only)."""
    if device == "cpu":
        device_name, driver = cpu_model(), platform.platform()
    else:
        import torch

        device_name, driver = torch.cuda.get_device_name(), _gpu_driver()
    fields_: dict[str, Any] = {}
    if isinstance(problem, GemmShape):
        fields_.update(m=problem.m, n=problem.n, k=problem.k)
    else:
        fields_.update(
            batch=problem.batch, q_heads=problem.q_heads, kv_heads=problem.kv_heads,
            q_len=problem.q_len, kv_len=problem.kv_len, head_dim_qk=problem.head_dim_qk,
            head_dim_v=problem.head_dim_v, phase=problem.phase,
            mask=json.dumps(problem.mask.to_dict(), separators=(",", ":")),
        )  # fmt: skip
    if not timing.observable and device == "cpu":
        how += "; scheduler delay not observable here (every call counted)"
    return Measurement(
        kernel=kernel,
        op="gemm" if isinstance(problem, GemmShape) else "attention",
        dtype=dtype,
        **fields_,
        block_q=int(info.get("block_q", 0)),
        block_k=int(info.get("block_k", 0)),
        tiles_full=int(info.get("tiles_full", 0)),
        tiles_partial=int(info.get("tiles_partial", 0)),
        flops=float(problem_flops(problem)),
        device=device,
        device_name=device_name,
        driver=driver,
        numba_version=_version("numba"),
        numpy_version=np.__version__,
        torch_version=_version("torch"),
        triton_version=_version("triton"),
        date_utc=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        threads=int(n_threads),
        repeats=int(timing.calls - timing.preempted) or int(timing.calls),
        median_s=float(timing.median_s),
        p25_s=float(timing.p25_s),
        p75_s=float(timing.p75_s),
        min_s=float(timing.min_s),
        max_s=float(timing.max_s),
        how=how,
        preempted=int(timing.preempted),
        unreliable=timing.unreliable,
    )


def measure(
    kernel: str,
    problem: Problem,
    *,
    device: str = "cpu",
    dtype: str = "fp32",
    threads: int | None = None,
    warmup: int = 2,
    min_time_s: float = 0.5,
    min_repeats: int = 5,
    max_repeats: int = 1000,
    block_q: int | None = None,
    block_k: int | None = None,
    seed: int = 0,
) -> Measurement:
    """Time ``kernel`` on ``problem`` and return a :class:`Measurement`.

    Warm-up calls (``warmup``, at least 1: the first call also compiles) are not timed;
    timed calls repeat until ``min_time_s`` seconds in total and at least ``min_repeats``
    calls (at most ``max_repeats``), and longer while too few are clean. CPU calls are
    timed with ``time.perf_counter`` with numba and torch pinned to ``threads`` threads,
    each with its scheduler delay; CUDA calls with CUDA events.
    """
    spec = _check_request(kernel, problem, device, dtype, threads, min_repeats, max_repeats)
    opts: dict[str, Any] = {"block_q": block_q, "block_k": block_k, "seed": seed}
    n_threads = int(threads) if threads is not None else default_threads()
    if device == "cpu":
        with _pinned_threads(n_threads):
            call, info = spec.prepare(problem, device, dtype, opts)
            samples = _times_cpu(call, max(1, warmup), min_time_s, min_repeats, max_repeats)
        timing = summarize(samples)
        how = (
            f"perf_counter per call; {max(1, warmup)} warm-up; numba+torch threads pinned to "
            f"{n_threads}; statistics over calls without scheduler delay "
            f"({timing.preempted} of {timing.calls} preempted); load average before "
            f"{_load_average()}"
        )
    else:
        call, info = spec.prepare(problem, device, dtype, opts)
        samples = _times_cuda(call, max(1, warmup), min_time_s, min_repeats, max_repeats)
        timing = summarize(samples)
        how = f"CUDA events per call; {max(1, warmup)} warm-up"
        n_threads = 0
    return _record(kernel, problem, dtype, device, info, timing, n_threads, how)


@dataclass
class _Case:
    """A prepared problem of :func:`measure_interleaved` and its samples so far."""

    kernel: str
    problem: Problem
    call: Callable[[], Any]
    info: dict[str, int]
    samples: list[Sample] = field(default_factory=list)


def measure_interleaved(
    items: Sequence[tuple[str, Problem]],
    *,
    device: str = "cpu",
    dtype: str = "fp32",
    threads: int | None = None,
    rounds: int = 3,
    burst_s: float = 0.1,
    min_calls: int = 2,
    before_burst: Callable[[int, int], None] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    seed: int = 0,
    extra_rounds: int = 2,
) -> list[Measurement]:
    """Time several ``(kernel, problem)`` pairs in interleaved rounds (CPU only).

    Every pair is prepared and called once untimed (compile, first touch). Then, in
    each of ``rounds`` rounds (odd rounds in reverse order), each pair runs a burst of
    timed calls: at least ``min_calls`` and at least ``burst_s`` seconds. A pair whose
    calls so far are too few clean ones gets twice ``min_calls`` in later rounds, and
    pairs whose timing is still preempted after the rounds get up to ``extra_rounds``
    more, after a pause of :data:`EXTRA_ROUND_PAUSE_S` (another process often leaves
    within seconds). ``before_burst(round, index)`` runs just before each burst
    (``attnsim validate --calibrate`` times the kernel's building blocks there);
    ``progress(done, total, label)`` after each. Returns one :class:`Measurement` per
    pair, in order, over the clean calls of all rounds.
    """
    if device != "cpu":
        raise MeasureError(f"--device {device}: interleaved timing runs on the CPU only")
    if rounds < 1 or min_calls < 1 or not burst_s >= 0:
        raise MeasureError(
            f"rounds {rounds}, min_calls {min_calls}, burst_s {burst_s}: expected "
            "rounds >= 1, min_calls >= 1, burst_s >= 0"
        )
    specs = [_check_request(k, p, device, dtype, threads, 1, 1) for k, p in items]
    n_threads = int(threads) if threads is not None else default_threads()
    opts: dict[str, Any] = {"block_q": None, "block_k": None, "seed": seed}
    total = rounds * len(items)
    done = 0
    with _pinned_threads(n_threads):
        cases: list[_Case] = []
        for spec, (kernel, problem) in zip(specs, items, strict=True):
            call, info = spec.prepare(problem, device, dtype, opts)
            call()  # compile / first touch, untimed
            cases.append(_Case(kernel, problem, call, info))
        for r in range(rounds + extra_rounds):
            order = list(range(len(cases)))
            if r >= rounds:  # the extra rounds: only pairs still preempted
                order = [i for i in order if _preempted(cases[i].samples)]
                if not order:
                    break
                time.sleep(EXTRA_ROUND_PAUSE_S)
                total += len(order)
            if r % 2:
                order.reverse()
            for i in order:
                case = cases[i]
                if before_burst is not None:
                    before_burst(r, i)
                short = r > 0 and sum(s.clean for s in case.samples) < MIN_CLEAN
                want = min_calls * (2 if short else 1)
                spent, calls = 0.0, 0
                while calls < want or spent < burst_s:
                    sample = time_call(case.call)
                    case.samples.append(sample)
                    spent += sample.seconds
                    calls += 1
                done += 1
                if progress is not None:
                    which = (
                        f"round {r + 1}/{rounds}" if r < rounds else f"extra round {r - rounds + 1}"
                    )
                    progress(done, total, f"{which}: {_label(case)}")
    load = _load_average()
    out = []
    for case in cases:
        timing = summarize(case.samples)
        how = (
            f"perf_counter per call; interleaved: {rounds} rounds over {len(cases)} problems "
            f"(alternate rounds reversed), bursts of >= {min_calls} calls and >= {burst_s:g} s; "
            f"numba+torch threads pinned to {n_threads}; statistics over calls without "
            f"scheduler delay ({timing.preempted} of {timing.calls} preempted); load average "
            f"after {load}"
        )
        out.append(
            _record(case.kernel, case.problem, dtype, device, case.info, timing, n_threads, how)
        )
    return out


def _preempted(samples: Sequence[Sample]) -> bool:
    """Whether a timing is unreliable because too few of its calls were clean."""
    return summarize(samples).unreliable.startswith("preempted")


def _label(case: _Case) -> str:
    p = case.problem
    if isinstance(p, GemmShape):
        return f"{case.kernel} gemm {p.m}x{p.n}x{p.k}"
    return f"{case.kernel} {p.phase} {p.mask.kind} q{p.q_len} kv{p.kv_len} d{p.head_dim_qk}"
