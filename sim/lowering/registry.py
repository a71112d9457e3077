"""Lowering families, registered by name.

A *family* is a named way of running ops of some kinds on a target — a kernel design,
not a piece of hardware: ``flash-attention-3`` (warp-specialised, softmax overlapped
with the GEMMs), ``flash-attention-2``, ``triton-bundled``, ``unfused``, ``gemm-tiled``…
A target lists the attention families it runs, best first (``kernel_families``);
generic families (GEMM, memory-bound ops, FFT, linear attention) run everywhere. Adding a
family is one module plus one :func:`register_family` call; duplicates are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import OpTasks
from attnsim.workloads.ops import Op

from attnsim.registry import Registry


@dataclass(frozen=True)
class Mechanism:
    """A named mechanism of a kernel family's model (for ablations and reports).

    Attributes:
        name: what ``LoweringOptions.disable`` names to switch it off.
        description: what it models and what "off" means.
        source: where the mechanism comes from (paper, code, micro-benchmark).
    """

    name: str
    description: str
    source: str


#: Every mechanism a family can switch off, by name.
MECHANISMS: Registry[Mechanism] = Registry("mechanism", LoweringError)


def register_mechanism(name: str, description: str, source: str) -> Mechanism:
    """Add a mechanism to :data:`MECHANISMS` (a duplicate name is refused)."""
    return MECHANISMS.register(name, Mechanism(name, description, source))


@dataclass(frozen=True)
class LoweringOptions:
    """User choices that override what lowering would pick (None = let it choose).

    Attributes:
        block_q: query rows per attention tile.
        block_k: keys per attention key block.
        disable: mechanisms switched off (names in :data:`MECHANISMS`), for ablations:
            each family's model without that mechanism.
        tile_shapes: N-d (query tile, key tile) shapes for NATTEN's families (one
            entry per axis of the token grid), e.g. ``((2, 8, 8), (2, 8, 8))``.
    """

    block_q: int | None = None
    block_k: int | None = None
    disable: frozenset[str] = frozenset()
    tile_shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        for name in ("block_q", "block_k"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"LoweringOptions.{name} must be >= 1, got {value}")
        object.__setattr__(self, "disable", frozenset(self.disable))
        if self.tile_shapes is not None:
            q, kv = self.tile_shapes
            if len(q) != len(kv) or not q or min(q + kv) < 1:
                raise ValueError(
                    f"LoweringOptions.tile_shapes must be two equally long tuples of sizes "
                    f">= 1, got {self.tile_shapes}"
                )

    def enabled(self, mechanism: str) -> bool:
        """Whether ``mechanism`` (a registered name) is on."""
        return mechanism not in self.disable

    def check(self) -> None:
        """Raise :class:`LoweringError` naming any disabled mechanism that is not known."""
        for name in sorted(self.disable):
            MECHANISMS.lookup(name, where="disable")


LowerFn = Callable[[Op, TargetView, LoweringOptions], OpTasks]


@dataclass(frozen=True)
class LoweringFamily:
    """A registered family.

    Attributes:
        name: the name targets list and users ask for.
        op_kinds: op kinds (``Op.kind``) it lowers.
        lower: the function that turns one op into :class:`OpTasks`.
        generic: runs on every target without being listed in ``kernel_families``.
        description: one line for ``--help`` and reports.
        prefers: when the target lists several families for an op kind, this one is the
            default only for the ops ``prefers(op)`` accepts (None: every op of its kinds);
            e.g. NATTEN's kernels for neighborhood masks. Asked for by name, it lowers
            every op of its kinds.
    """

    name: str
    op_kinds: frozenset[str]
    lower: LowerFn
    generic: bool = False
    description: str = ""
    prefers: Callable[[Op], bool] | None = None


FAMILIES: Registry[LoweringFamily] = Registry("kernel family", LoweringError)


def register_family(family: LoweringFamily) -> LoweringFamily:
    """Add ``family`` to :data:`FAMILIES`; a second family of the same name is an error."""
    return FAMILIES.register(family.name, family)


def choose_family(op: Op, view: TargetView, requested: str | None = None) -> LoweringFamily:
    """The family that lowers ``op`` on ``view``'s target.

    With ``requested`` (a family name) that family is used for the ops it supports; it
    must exist and, unless generic, be one the target lists. Otherwise the first family
    in the target's ``kernel_families`` that lowers ``op.kind`` (and prefers the op, see
    :attr:`LoweringFamily.prefers`) is used (the best known kernel), then the first
    generic family that does.
    """
    if requested is not None:
        family = FAMILIES.lookup(requested)
        if not family.generic and requested not in view.hw.kernel_families:
            raise LoweringError(
                f"{view.hw.name} does not run kernel family {requested!r}; it runs: "
                f"{', '.join(view.hw.kernel_families) or 'none listed'}"
            )
        if op.kind in family.op_kinds:
            return family
    for name in view.hw.kernel_families:
        family_listed = FAMILIES.get(name)
        if (
            family_listed is not None
            and op.kind in family_listed.op_kinds
            and (family_listed.prefers is None or family_listed.prefers(op))
        ):
            return family_listed
    for family in FAMILIES.values():
        if family.generic and op.kind in family.op_kinds:
            return family
    raise LoweringError(f"{view.hw.name}: no kernel family lowers {op.kind} ops")
