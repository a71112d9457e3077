"""Lowering families, registered by name.

A *family* is a named way of running ops of some kinds on a target — a kernel design,
not a piece of hardware: ``flash-attention-3`` (warp-specialised, softmax overlapped
with the GEMMs), ``flash-attention-2``, ``triton-bundled``, ``unfused``, ``gemm-tiled``…
A target lists the attention families it runs, best first (``kernel_families``);
generic families (GEMM, memory-bound ops, FFT, linear attention) run everywhere. Adding a
family is one module plus one :func:`register_family` call; duplicates are refused.

A family lowers one op at a time (``lower``: op -> :class:`OpTasks`, kernels run one
after another), or — for an accelerator whose engines pipeline work *across* ops (the
heads of an attention layer through a projection core and an attention core) — a whole
block at a time (``lower_block``: block -> :class:`BlockTasks`, a task graph of every op
of one instance of the block). :func:`choose_block_family` picks a block family when the
target lists one that lowers every op of the block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import OpTasks, TaskGraph
from attnsim.workloads.ops import Op
from attnsim.workloads.workload import Block

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
class BlockTasks:
    """A whole block (one instance) lowered at once.

    Attributes:
        family: the family that lowered it.
        graph: tasks of every op, each with ``op`` set to the op's index in the block.
        notes: per op index, the choices lowering made (tile sizes, splits, skip rates).
    """

    family: str
    graph: TaskGraph
    notes: Mapping[int, Mapping[str, str | int | float]] = field(default_factory=dict)


LowerBlockFn = Callable[[Block, TargetView, LoweringOptions], BlockTasks]


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
        lower_block: lowers a whole block to one task graph (see module docstring), or
            None for a family that lowers op by op only.
    """

    name: str
    op_kinds: frozenset[str]
    lower: LowerFn
    generic: bool = False
    description: str = ""
    prefers: Callable[[Op], bool] | None = None
    lower_block: LowerBlockFn | None = None


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


def choose_block_family(
    block: Block, view: TargetView, requested: str | None = None
) -> LoweringFamily | None:
    """The block family that lowers all of ``block`` on ``view``'s target, or None (then
    the block is lowered op by op).

    With ``requested`` naming a block family the target runs, that family is used when
    it lowers every op kind of the block; otherwise the first block family in the
    target's ``kernel_families`` that does.
    """
    kinds = {op.kind for op in block.ops}
    names = list(view.hw.kernel_families)
    if requested is not None and requested in names:
        names.remove(requested)
        names.insert(0, requested)
    for name in names:
        family = FAMILIES.get(name)
        if family is not None and family.lower_block is not None and kinds <= family.op_kinds:
            return family
    return None
