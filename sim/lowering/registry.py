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

#: Largest tile size a user may ask for (rows or keys of one attention tile).
MAX_BLOCK = 2**16


@dataclass(frozen=True)
class LoweringOptions:
    """User choices that override what lowering would pick (None = let it choose).

    Attributes:
        block_q: query rows per attention tile.
        block_k: keys per attention key block.

    Sizes that are not integers in ``[1, MAX_BLOCK]`` raise :class:`LoweringError`; whether
    a size suits a family's hardware tiles is the family's check (:func:`check_options`).
    """

    block_q: int | None = None
    block_k: int | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("block_q", "block_k"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{name}: {value!r} is not an integer; expected a tile size >= 1")
            elif not 1 <= value <= MAX_BLOCK:
                problems.append(
                    f"{name}: {value} is out of range; expected a tile size from 1 to {MAX_BLOCK}"
                )
        if problems:
            raise LoweringError(problems)


#: A family's check of the user's options on a target: problem lines, [] when fine.
OptionsCheck = Callable[[LoweringOptions, TargetView], list[str]]


def tile_multiples(
    block_q: int, block_k: int, why: str, *, power_of_two: bool = False
) -> OptionsCheck:
    """An :data:`OptionsCheck` requiring ``--block-q``/``--block-k`` overrides to be
    multiples of the hardware's tile granularity (``why`` names it, e.g. the MMA shape),
    and powers of two when the kernel's language needs them (Triton's ``tl.arange``)."""

    def check(options: LoweringOptions, view: TargetView) -> list[str]:
        problems = []
        for name, value, step in (
            ("block_q", options.block_q, block_q),
            ("block_k", options.block_k, block_k),
        ):
            if value is None:
                continue
            if value % step:
                up = -(-value // step) * step
                problems.append(
                    f"{name}: {value} is not a multiple of {step} ({why}); expected a multiple "
                    f"of {step}, e.g. {up}"
                )
            elif power_of_two and value & (value - 1):
                problems.append(
                    f"{name}: {value} is not a power of two ({why}); expected e.g. "
                    f"{1 << (value.bit_length() - 1)} or {1 << value.bit_length()}"
                )
        return problems

    return check


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
        check_options: the family's rules for user options on a target (e.g. tile sizes
            in multiples of the matrix unit's tile, :func:`tile_multiples`); None accepts
            any valid :class:`LoweringOptions`.
    """

    name: str
    op_kinds: frozenset[str]
    lower: LowerFn
    generic: bool = False
    description: str = ""
    check_options: OptionsCheck | None = None


FAMILIES: Registry[LoweringFamily] = Registry("kernel family", LoweringError)


def register_family(family: LoweringFamily) -> LoweringFamily:
    """Add ``family`` to :data:`FAMILIES`; a second family of the same name is an error."""
    return FAMILIES.register(family.name, family)


def check_options(family: LoweringFamily, options: LoweringOptions, view: TargetView) -> None:
    """Raise :class:`LoweringError` when ``options`` break ``family``'s rules on ``view``'s
    target (every problem at once, each naming the family and the target)."""
    if family.check_options is None:
        return
    problems = family.check_options(options, view)
    if problems:
        raise LoweringError([f"{family.name} on {view.hw.name}: {p}" for p in problems])


def choose_family(op: Op, view: TargetView, requested: str | None = None) -> LoweringFamily:
    """The family that lowers ``op`` on ``view``'s target.

    With ``requested`` (a family name) that family is used for the ops it supports; it
    must exist and, unless generic, be one the target lists. Otherwise the first family
    in the target's ``kernel_families`` that lowers ``op.kind`` is used (the best known
    kernel), then the first generic family that does.
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
        if family_listed is not None and op.kind in family_listed.op_kinds:
            return family_listed
    for family in FAMILIES.values():
        if family.generic and op.kind in family.op_kinds:
            return family
    raise LoweringError(f"{view.hw.name}: no kernel family lowers {op.kind} ops")
