"""Content keys: a run is keyed by everything that decides its result.

``run_key`` hashes the resolved target (:attr:`Hardware.digest`, after overrides), the
workload (:func:`~attnsim.sweep.workloads.workload_digest`, after any precision change),
the kernel family asked for, the lowering options, and the *model digest*: the attnsim
version and the source and data files of the packages that compute a prediction
(``sim`` with its calibration data, ``workloads``, ``hwconfigs`` loader code,
``rtl_models``). A changed number in a target, a changed workload file or a changed
simulator therefore never reuses a stale result; equal inputs always do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

__all__ = ["model_digest", "run_key", "point_key", "MODEL_PACKAGES"]

#: Packages whose files decide a prediction (bundled target files excluded: a target's
#: content is in :attr:`Hardware.digest` of the target actually used).
MODEL_PACKAGES = ("attnsim.sim", "attnsim.workloads", "attnsim.hwconfigs", "attnsim.rtl_models")
_SKIP_DIRS = {"__pycache__", "targets"}
_SUFFIXES = (".py", ".yaml", ".yml", ".csv", ".json")


def _walk(node: Traversable, prefix: str, out: list[tuple[str, bytes]]) -> None:
    for entry in sorted(node.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name not in _SKIP_DIRS and not entry.name.startswith("."):
                _walk(entry, f"{prefix}{entry.name}/", out)
        elif entry.name.endswith(_SUFFIXES):
            out.append((f"{prefix}{entry.name}", entry.read_bytes()))


@cache
def model_digest() -> str:
    """SHA-256 (hex) of the attnsim version and every source/data file of
    :data:`MODEL_PACKAGES` (computed once per process)."""
    from attnsim import __version__

    h = hashlib.sha256(f"attnsim {__version__}\n".encode())
    for package in MODEL_PACKAGES:
        files: list[tuple[str, bytes]] = []
        _walk(resources.files(package), f"{package}/", files)
        for name, data in files:
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def _digest(doc: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def run_key(
    hardware_digest: str,
    workload_digest: str,
    family: str | None,
    options: Mapping[str, Any],
    model: str,
) -> str:
    """The key of one simulation: target, workload, family, options, model digest."""
    return _digest(
        {
            "hardware": hardware_digest,
            "workload": workload_digest,
            "family": family or "best",
            "options": dict(options),
            "model": model,
        }
    )


def point_key(
    hardware: str, precision: str | None, family: str | None, options: Mapping[str, Any]
) -> str:
    """The key of a design point (its runs share it): the resolved target (or, for a
    variant the loader refused, the base and overrides), precision, family, options."""
    return _digest(
        {
            "hardware": hardware,
            "precision": precision,
            "family": family or "best",
            "options": dict(options),
        }
    )
