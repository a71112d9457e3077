"""What the operating system says about this machine (nothing here is timed).

CPU model, clock, data caches, memory size and the cores this process may use, read
from ``/proc`` and ``sysfs``. This module imports no numerical library, so naming the
machine (the key of its cached host target, :mod:`attnsim.hosttarget`) costs
milliseconds, not a numba import.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = [
    "CacheLevel",
    "HostInfo",
    "available_cores",
    "cpu_model",
    "host_info",
    "mem_total_bytes",
]

_SYS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return ""


@dataclass(frozen=True)
class CacheLevel:
    """A data cache of cpu0 as sysfs reports it: ``level`` (1, 2, 3), ``size_bytes`` and
    ``shared_cpus`` (how many CPUs share one instance); ``read_from`` says where from."""

    level: int
    size_bytes: int
    shared_cpus: int
    read_from: str


@dataclass(frozen=True)
class HostInfo:
    """What the operating system says about the machine (nothing here is timed)."""

    cpu_model: str
    clock_hz: float | None
    clock_read_from: str
    caches: tuple[CacheLevel, ...]
    mem_total_bytes: int | None
    cores: int
    python: str = field(default_factory=platform.python_version)
    numba_version: str = field(default_factory=lambda: _package_version("numba"))
    numpy_version: str = field(default_factory=lambda: _package_version("numpy"))

    def cache(self, level: int) -> CacheLevel | None:
        """The data (or unified) cache of ``level``, or ``None`` if sysfs has none."""
        return next((c for c in self.caches if c.level == level), None)


def _size_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)B?\s*", text, re.IGNORECASE)
    if m is None:
        raise ValueError(f"cache size {text!r}: expected e.g. '32K'")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(m.group(1)) * scale


def _cpu_count_in(text: str) -> int:
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return max(count, 1)


def _caches() -> tuple[CacheLevel, ...]:
    found: dict[int, CacheLevel] = {}
    for index in sorted(_SYS_CACHE.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _size_bytes((index / "size").read_text())
            shared_path = index / "shared_cpu_list"
            shared = _cpu_count_in(shared_path.read_text()) if shared_path.exists() else 1
        except (OSError, ValueError):
            continue
        if kind not in ("Data", "Unified") or level in found:
            continue
        found[level] = CacheLevel(
            level, size, shared, f"sysfs {index}/size ({kind}, level {level})"
        )
    return tuple(found[k] for k in sorted(found))


def _cpuinfo_field(name: str) -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(name)}\s*:\s*(.+)$", text, re.MULTILINE)
    return m.group(1).strip() if m else None


def _clock() -> tuple[float | None, str]:
    mhz = _cpuinfo_field("cpu MHz")
    if mhz is not None:
        try:
            return float(mhz) * 1e6, f"/proc/cpuinfo 'cpu MHz' = {mhz}"
        except ValueError:
            pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    m = re.search(r"^CPU max MHz:\s*([\d.]+)", out, re.MULTILINE)
    if m:
        return float(m.group(1)) * 1e6, f"lscpu 'CPU max MHz' = {m.group(1)}"
    return None, "no clock in /proc/cpuinfo or lscpu"


def mem_total_bytes() -> int | None:
    """``MemTotal`` of ``/proc/meminfo`` in bytes, or ``None``."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(r"^MemTotal:\s*(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def host_info() -> HostInfo:
    """CPU model, clock, caches and memory size as the operating system reports them."""
    clock, clock_from = _clock()
    return HostInfo(
        cpu_model=cpu_model(),
        clock_hz=clock,
        clock_read_from=clock_from,
        caches=_caches(),
        mem_total_bytes=mem_total_bytes(),
        cores=available_cores(),
    )
