"""Timing harness, kernel registry and the measurement CSV format.

``measure(kernel, problem)`` runs a registered kernel on seeded random inputs: warm-up
calls (which also compile), then timed calls until both a minimum total time and a
minimum count are reached; it reports the median and the spread (quartiles, min, max)
as a :class:`Measurement`. On the CPU the thread count is pinned (numba and torch) and
recorded; on a GPU each call is timed with CUDA events.

Measurements are stored in CSV files (``kernels/measurements/``) whose first line is a
version tag; :func:`read_measurements` refuses a corrupt file with a
:class:`MeasurementFileError` naming the file, the row and the column.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import functools
import importlib
import json
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
from attnsim.workloads.masks import mask_from_dict
from attnsim.workloads.spec import AttentionSpec

from attnsim.errors import ProblemsError
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
    "measurements_dir",
    "read_measurements",
    "register_kernel",
    "write_measurements",
]

CSV_VERSION = 1
_CSV_TAG = f"# attnsim measurements v{CSV_VERSION}"


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
    pairs only (a multiply-accumulate is 2 FLOPs).
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


def write_measurements(path: str | os.PathLike[str], rows: Sequence[Measurement]) -> Path:
    """Append ``rows`` to the CSV at ``path`` (created with its version line and header).

    An existing file must carry the same version and header, else
    :class:`MeasurementFileError`.
    """
    out = Path(path)
    if out.exists() and out.stat().st_size > 0:
        read_measurements(out)  # refuse to append to a corrupt or foreign file
        new = False
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        new = True
    with out.open("a", newline="", encoding="utf-8") as fh:
        if new:
            fh.write(_CSV_TAG + "\n")
        writer = csv.writer(fh)
        if new:
            writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([_format(getattr(row, c)) for c in CSV_COLUMNS])
    return out


def read_measurements(path: str | os.PathLike[str]) -> list[Measurement]:
    """Read a measurement CSV written by :func:`write_measurements`.

    Every problem is collected (unknown version, wrong header, a row of the wrong
    length, a value of the wrong type, a negative time) and raised together as a
    :class:`MeasurementFileError` whose lines read ``FILE: row N: column C: ...``.
    """
    src = Path(path)
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MeasurementFileError([f"{src}: cannot read ({exc})"]) from None
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# attnsim measurements v"):
        raise MeasurementFileError(
            [f"{src}: row 1: missing the version line; expected {_CSV_TAG!r}"]
        )
    if lines[0].strip() != _CSV_TAG:
        raise MeasurementFileError(
            [
                f"{src}: row 1: version {lines[0][len('# attnsim measurements v') :]!r} is not "
                f"supported; expected {CSV_VERSION} (re-record with this version of attnsim)"
            ]
        )
    reader = csv.reader(lines[1:])
    header = next(reader, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        missing = [c for c in CSV_COLUMNS if header is None or c not in header]
        extra = [c for c in (header or []) if c not in CSV_COLUMNS]
        raise MeasurementFileError(
            [
                f"{src}: row 2: header does not match version {CSV_VERSION}"
                f"{'; missing ' + ', '.join(missing) if missing else ''}"
                f"{'; unknown ' + ', '.join(extra) if extra else ''}; expected "
                f"{','.join(CSV_COLUMNS)}"
            ]
        )
    problems: list[str] = []
    out: list[Measurement] = []
    for lineno, row in enumerate(reader, start=3):
        if not row:
            continue
        if len(row) != len(CSV_COLUMNS):
            problems.append(f"{src}: row {lineno}: {len(row)} values; expected {len(CSV_COLUMNS)}")
            continue
        values: dict[str, Any] = {}
        bad = False
        for col, raw in zip(CSV_COLUMNS, row, strict=True):
            kind = _TYPES[col]
            try:
                values[col] = kind(raw) if kind is not str else raw
            except ValueError:
                problems.append(
                    f"{src}: row {lineno}: column {col}: {raw!r} is not "
                    f"{'an integer' if kind is int else 'a number'}"
                )
                bad = True
                continue
            if col.endswith("_s") and values[col] < 0:
                problems.append(f"{src}: row {lineno}: column {col}: {raw} is negative")
                bad = True
        if not bad and values["op"] not in ("attention", "gemm"):
            problems.append(
                f"{src}: row {lineno}: column op: {values['op']!r}; expected attention or gemm"
            )
            bad = True
        if not bad and values["op"] == "attention":
            try:
                mask_from_dict(json.loads(values["mask"]))
            except (ValueError, TypeError, RecursionError) as exc:
                problems.append(
                    f"{src}: row {lineno}: column mask: not a mask ({str(exc).splitlines()[0]})"
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
) -> list[float]:
    for _ in range(warmup):
        call()
    times: list[float] = []
    total = 0.0
    while len(times) < max_repeats and (len(times) < min_repeats or total < min_time_s):
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return times


def _times_cuda(
    call: Callable[[], Any], warmup: int, min_time_s: float, min_repeats: int, max_repeats: int
) -> list[float]:
    import torch

    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    times: list[float] = []
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
            times.append(dt)
            total += dt
    return times


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
    calls (at most ``max_repeats``). CPU calls are timed with ``time.perf_counter`` with
    numba and torch pinned to ``threads`` threads; CUDA calls with CUDA events.
    """
    spec = get_kernel(kernel)
    problems: list[str] = []
    if device not in ("cpu", "cuda"):
        problems.append(f"--device: {device!r}; expected cpu or cuda")
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
        problems.append(f"--dtype: {kernel} runs {', '.join(spec.dtypes)}, not {dtype!r}")
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
    opts: dict[str, Any] = {"block_q": block_q, "block_k": block_k, "seed": seed}
    n_threads = int(threads) if threads is not None else default_threads()
    if device == "cpu":
        with _pinned_threads(n_threads):
            call, info = spec.prepare(problem, device, dtype, opts)
            times = _times_cpu(call, max(1, warmup), min_time_s, min_repeats, max_repeats)
        load = _load_average()
        how = (
            f"perf_counter per call; {max(1, warmup)} warm-up; numba+torch threads pinned to "
            f"{n_threads}; load average before {load}"
        )
        device_name, driver = cpu_model(), platform.platform()
    else:
        import torch

        call, info = spec.prepare(problem, device, dtype, opts)
        times = _times_cuda(call, max(1, warmup), min_time_s, min_repeats, max_repeats)
        how = f"CUDA events per call; {max(1, warmup)} warm-up"
        device_name, driver = torch.cuda.get_device_name(), _gpu_driver()
        n_threads = 0
    arr = np.asarray(times)
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
    values: dict[str, Any] = dict(
        kernel=kernel,
        op=op,
        dtype=dtype,
        **fields_,
        **{
            key: int(info.get(key, 0))
            for key in ("block_q", "block_k", "tiles_full", "tiles_partial")
        },
        flops=problem_flops(problem),
        device=device,
        device_name=device_name,
        driver=driver,
        numba_version=_version("numba"),
        numpy_version=np.__version__,
        torch_version=_version("torch"),
        triton_version=_version("triton"),
        date_utc=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        threads=n_threads,
        repeats=int(arr.size),
        median_s=float(np.median(arr)),
        p25_s=float(np.percentile(arr, 25)),
        p75_s=float(np.percentile(arr, 75)),
        min_s=float(arr.min()),
        max_s=float(arr.max()),
        how=how,
    )
    return Measurement(**values)
