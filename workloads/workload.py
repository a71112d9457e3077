"""A workload: ordered blocks of ops, each block repeated ``count`` times.

Transformers repeat one layer dozens of times; a block stores that layer's ops once with
a ``count``, so the simulator lowers and simulates it once and multiplies (DESIGN:
"cheap where nothing happens"). Order is execution order; ops inside a block run in
order, and the blocks run in order, each ``count`` times back to back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import WorkloadError
from .ops import Op


@dataclass(frozen=True)
class Block:
    """A named group of ops executed ``count`` times in a row (e.g. 32 identical layers)."""

    name: str
    ops: tuple[Op, ...]
    count: int = 1

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not isinstance(self.name, str):
            problems.append(f"Block.name: {self.name!r} is not a string; expected a string")
        if isinstance(self.ops, list):
            object.__setattr__(self, "ops", tuple(self.ops))
        if not isinstance(self.ops, tuple):
            problems.append(f"Block.ops: {self.ops!r}; expected a tuple of Op")
        else:
            for i, op in enumerate(self.ops):
                if not isinstance(op, Op):
                    problems.append(f"Block.ops[{i}]: {op!r} is not an Op; expected an Op")
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            problems.append(
                f"Block.count: {self.count!r} is not an integer; expected an integer >= 1"
            )
        elif self.count < 1:
            problems.append(f"Block.count: {self.count} is too small; expected an integer >= 1")
        if problems:
            raise WorkloadError(problems)

    def flops(self) -> float:
        """FLOPs of all ``count`` repetitions."""
        return self.count * sum(op.flops() for op in self.ops)

    def io_bytes(self) -> float:
        """Compulsory bytes of all ``count`` repetitions."""
        return self.count * sum(op.io_bytes().total for op in self.ops)


@dataclass(frozen=True)
class Workload:
    """An ordered tuple of :class:`Block` s with a name, a token count and free-form metadata.

    ``tokens`` is the number of new tokens one run processes, all sequences of the batch
    together (``batch x q_len``; ``batch x 1`` for a one-token decode step), so throughput
    is ``tokens / latency_s`` in tokens/s; ``None`` when not meaningful. ``meta`` holds provenance (model name,
    generator, seed, ...): strings and numbers only, so it serialises losslessly.
    """

    name: str
    blocks: tuple[Block, ...]
    tokens: int | None = None
    meta: Mapping[str, str | int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not isinstance(self.name, str):
            problems.append(f"Workload.name: {self.name!r} is not a string; expected a string")
        if isinstance(self.blocks, list):
            object.__setattr__(self, "blocks", tuple(self.blocks))
        if not isinstance(self.blocks, tuple):
            problems.append(f"Workload.blocks: {self.blocks!r}; expected a tuple of Block")
        else:
            for i, b in enumerate(self.blocks):
                if not isinstance(b, Block):
                    problems.append(f"Workload.blocks[{i}]: {b!r} is not a Block; expected a Block")
        if self.tokens is not None and (
            isinstance(self.tokens, bool) or not isinstance(self.tokens, int) or self.tokens < 1
        ):
            problems.append(f"Workload.tokens: {self.tokens!r}; expected null or an integer >= 1")
        if not isinstance(self.meta, Mapping):
            problems.append(f"Workload.meta: {self.meta!r}; expected a mapping")
        else:
            for k, v in self.meta.items():
                if not isinstance(k, str):
                    problems.append(
                        f"Workload.meta: key {k!r} is not a string; expected string keys"
                    )
                if isinstance(v, bool) or not isinstance(v, str | int | float):
                    problems.append(
                        f"Workload.meta.{k}: {v!r} is not a string or number; expected a string or number"
                    )
            object.__setattr__(self, "meta", dict(self.meta))
        if problems:
            raise WorkloadError(problems)

    def flat(self) -> Iterator[tuple[Block, Op]]:
        """Every op in execution order with its block (each stands for ``block.count`` runs)."""
        for block in self.blocks:
            for op in block.ops:
                yield block, op

    def total_flops(self) -> float:
        """FLOPs of the whole workload, repetitions included."""
        return float(sum(b.flops() for b in self.blocks))

    def total_bytes(self) -> float:
        """Compulsory bytes of the whole workload, repetitions included."""
        return float(sum(b.io_bytes() for b in self.blocks))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able body (without the format/version header; see :mod:`workloads.serialize`)."""
        return {
            "name": self.name,
            "tokens": self.tokens,
            "meta": dict(self.meta),
            "blocks": [
                {"name": b.name, "count": b.count, "ops": [op.to_dict() for op in b.ops]}
                for b in self.blocks
            ],
        }


def save_workload(w: Workload, path: str | os.PathLike[str]) -> Path:
    """Write ``w`` as a versioned JSON file (see :func:`workloads.serialize.save_workload`)."""
    from .serialize import save_workload as _save

    return _save(w, path)


def load_workload(path: str | os.PathLike[str]) -> Workload:
    """Read a workload file (see :func:`workloads.serialize.load_workload`)."""
    from .serialize import load_workload as _load

    return _load(path)
