"""Ternary MAC array ("TINT core"): int8 activations x weights in {-1, 0, +1}, int32
accumulation, adds and subtracts only.

Microarchitecture (VitaLLM's TINT core is "multiplier-free" for ternary x INT
projections, arXiv:2605.00320 abstract; the papers' abstracts give no array
organisation, so the organisation below is ASSUMPTION A-T1, chosen because it keeps a
decode GEMV (m = 1) at full utilisation: every weight is used once and nothing waits
for a systolic fill):

* ``cols`` (C) output columns side by side; each column is one dot-product lane:
  ``rows`` (R) ternary selectors (pass ``+a``, pass ``-a``, or gate to 0), a pipelined
  R-input adder tree and an accumulator bank of ``acc_depth`` int32 partial sums.
* Each cycle one R-slice of one activation row is broadcast to all C columns, and an
  R x C slice of weights (held in a double-buffered weight register) selects.
* Tile schedule: for each block of C output columns, for each chunk of up to
  ``acc_depth`` activation rows, for each block of R reduction elements: load the R x C
  weight slice once, then issue the chunk's rows one per cycle. Issue cycles
  ``N = ceil(n/C) * ceil(k/R) * m``; weights are read ``ceil(m/acc_depth)`` times,
  activations ``ceil(n/C)`` times.
* Pipeline (the registers of ``verilog/tint_column.v``): operand register + one
  register per adder-tree level (``ceil(log2 R)``) + the accumulator:
  ``L = ceil(log2 R) + 2`` stages. The last issue's result is in the accumulator
  ``L - 1`` cycles after it, so a tile takes ``cycles = N + L - 1``. Partial sums are
  drained through a double-buffered accumulator bank while the next chunk computes
  (ASSUMPTION A-T2: no drain stall).
* Zeros: a zero weight gates its selector (operand isolation, no toggling) but does
  not skip a cycle: the tree is synchronous (ASSUMPTION A-T3; skipping would need
  compaction of the weight stream). Zero-weight slots are counted as
  ``tint.zero_gated`` events for energy, not as saved cycles.

Events (per tile): ``tint.add`` (selector outputs of a non-zero weight: an add or a
subtract into the tree), ``tint.zero_gated`` (slots with a zero weight),
``tint.idle_lane`` (lane-cycles of edge blocks with no data), ``tint.acc`` (accumulator
updates), ``tint.weight_load`` (R x C weight-register loads).
Ports: ``act_in`` (int8 activations broadcast once per column block), ``weight_in``
(packed ternary weights, ``weight_bits`` per weight), ``out`` (int32 partial sums).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cost import RtlModelError, TileShape, UnitCost, check_positive_int, raise_problems
from .intmath import as_int_array, int_matmul, wrap_signed
from .unit import UNIT_MODELS, UnitModelBase, UnitParams

__all__ = [
    "TernaryMacParams",
    "TernaryMacArray",
    "TERNARY_MAC_ARRAY",
    "absmean_zero_fraction",
    "ternary_mac_run",
    "pipeline_depth",
    "TernaryColumnModel",
]


def absmean_zero_fraction() -> float:
    """Fraction of zero weights BitNet b1.58's absmean quantiser gives Gaussian weights.

    BitNet b1.58 (Ma et al., arXiv:2402.17764, eq. 1-3) scales a weight matrix by its
    mean magnitude ``gamma`` and rounds to {-1, 0, +1}, so a weight is zero when
    ``|w| < gamma / 2``. For Gaussian weights ``gamma = sigma * sqrt(2 / pi)``, hence
    ``P(zero) = erf(1 / (2 sqrt(pi)))``, about 0.31 (a derived figure: real checkpoints
    are not exactly Gaussian, so the target may override it).
    """
    return math.erf(1.0 / (2.0 * math.sqrt(math.pi)))


def pipeline_depth(rows: int) -> int:
    """Register stages from operand input to accumulator for an R-input column:
    operand register + ``ceil(log2 R)`` tree levels + accumulator."""
    return (rows - 1).bit_length() + 2


@dataclass(frozen=True)
class TernaryMacParams(UnitParams):
    """Configuration of one ternary MAC array.

    Attributes:
        rows: R, reduction lanes per column (activations consumed per cycle).
        cols: C, output columns (dot-product lanes).
        acc_depth: partial sums per column the accumulator bank holds (rows of the left
            operand that reuse one loaded weight slice).
        weight_bits: storage bits per ternary weight on the weight port; 1.6 = five
            trits packed per byte, as the BitNet/VitaLLM packing the project assumes
            (docs/INTERFACES.md ``storage_bits("ternary")``), unpacked at the array input.
        acc_bits: accumulator width (two's-complement wrap on overflow).
        weight_zero_fraction: expected fraction of zero weights, for expected event
            counts (default: :func:`absmean_zero_fraction`, about 0.31).

    Defaults (R = 32, C = 8, 256 MACs per cycle) are ASSUMPTION A-T4: the papers'
    abstracts give no array size; a target passes its own.
    """

    rows: int = 32
    cols: int = 8
    acc_depth: int = 64
    weight_bits: float = 1.6
    acc_bits: int = 32
    weight_zero_fraction: float = absmean_zero_fraction()

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("rows", "cols", "acc_depth"):
            check_positive_int(f"ternary_mac_array.{name}", getattr(self, name), problems)
        check_positive_int("ternary_mac_array.acc_bits", self.acc_bits, problems, minimum=12)
        if not isinstance(self.weight_bits, int | float) or not (
            math.log2(3) - 1e-9 <= self.weight_bits <= 8
        ):
            problems.append(
                f"rtl_models: ternary_mac_array.weight_bits: got {self.weight_bits!r}; "
                f"expected bits per ternary weight in [log2(3), 8]"
            )
        z = self.weight_zero_fraction
        if not isinstance(z, int | float) or not (0.0 <= z <= 1.0):
            problems.append(
                f"rtl_models: ternary_mac_array.weight_zero_fraction: got {z!r}; "
                "expected a fraction in [0, 1]"
            )
        raise_problems(problems)


def _schedule(params: TernaryMacParams, tile: TileShape) -> tuple[int, int, int, int]:
    """(issue cycles, column blocks, k blocks, weight reloads) of a tile."""
    nb = -(-tile.n // params.cols)
    kb = -(-tile.k // params.rows)
    reloads = -(-tile.m // params.acc_depth)
    return nb * kb * tile.m, nb, kb, reloads


def _cost(params: TernaryMacParams, tile: TileShape, nonzero_weights: float) -> UnitCost:
    """Cost of a tile whose weight matrix has ``nonzero_weights`` non-zeros."""
    m, k, n = tile.m, tile.k, tile.n
    issue, nb, kb, reloads = _schedule(params, tile)
    lane_cycles = issue * params.rows * params.cols
    return UnitCost(
        cycles=issue + pipeline_depth(params.rows) - 1,
        ops={("matmul", "ternary"): 2.0 * m * k * n},
        events={
            "tint.add": m * nonzero_weights,
            "tint.zero_gated": m * (k * n - nonzero_weights),
            "tint.idle_lane": float(lane_cycles - m * k * n),
            "tint.acc": float(m * kb * n),
            "tint.weight_load": float(nb * kb * reloads),
        },
        port_bytes={
            "act_in": float(nb * m * k),
            "weight_in": reloads * k * n * params.weight_bits / 8.0,
            "out": m * n * params.acc_bits / 8.0,
        },
    )


class TernaryMacArray(UnitModelBase[TernaryMacParams]):
    """The ternary MAC array as a unit model (mode ``"ternary_int8"``)."""

    name = "ternary_mac_array"
    modes = ("ternary_int8",)
    params_type = TernaryMacParams

    def peak_ops_per_cycle(self, params: TernaryMacParams) -> dict[tuple[str, str], float]:
        """``rows x cols`` ternary MACs a cycle (a MAC = 2 ops)."""
        return {("matmul", "ternary"): 2.0 * params.rows * params.cols}

    def components(self, params: TernaryMacParams) -> dict[str, float]:
        """``rows x cols`` adder-tree lanes; ``cols x acc_depth`` accumulators of
        ``acc_bits`` flip-flops; a double-buffered weight register of 2 bits (one trit)
        per lane."""
        lanes = float(params.rows * params.cols)
        return {
            "tint.lane": lanes,
            "tint.acc_bit": float(params.cols * params.acc_depth * params.acc_bits),
            "tint.weight_bit": 2.0 * 2.0 * lanes,
        }

    def _cost(self, params: TernaryMacParams, tile: TileShape, mode: str) -> UnitCost:
        expected_nonzero = tile.k * tile.n * (1.0 - params.weight_zero_fraction)
        return _cost(params, tile, expected_nonzero)


TERNARY_MAC_ARRAY = TernaryMacArray()
UNIT_MODELS.register("ternary_mac_array", TERNARY_MAC_ARRAY)


def ternary_mac_run(
    acts: np.ndarray, weights: np.ndarray, params: TernaryMacParams | None = None
) -> tuple[np.ndarray, UnitCost]:
    """Bit-exact result and exact cost of ``acts @ weights`` on the array.

    Args:
        acts: int8 activations, shape (m, k), values in [-128, 127].
        weights: ternary weights, shape (k, n), values in {-1, 0, +1} (any integer dtype).
        params: the array (default :class:`TernaryMacParams`).

    Returns:
        (int32 outputs of shape (m, n), the tile's :class:`UnitCost` with event counts
        from these operands). The accumulators wrap at ``acc_bits`` like the hardware.
    """
    params = params or TernaryMacParams()
    a = as_int_array("acts", acts, ndim=2, lo=-128, hi=127, where="ternary_mac_run")
    w = as_int_array("weights", weights, ndim=2, lo=-1, hi=1, where="ternary_mac_run")
    if a.shape[1] != w.shape[0]:
        raise RtlModelError(
            f"rtl_models: ternary_mac_run.weights: got {w.shape[0]} rows; expected "
            f"{a.shape[1]} (the activations' k)"
        )
    out = wrap_signed(int_matmul(a, w), params.acc_bits)
    tile = TileShape(a.shape[0], a.shape[1], w.shape[1])
    cost = _cost(params, tile, float(np.count_nonzero(w)))
    dtype = np.int32 if params.acc_bits <= 32 else np.int64
    return out.astype(dtype), cost


# ----------------------------------------------------------------------------------------
# Cycle-level model of one column, register for register as verilog/tint_column.v
# ----------------------------------------------------------------------------------------

#: 2-bit weight codes on a column's weight inputs (the Verilog's encoding).
WEIGHT_CODE = {0: 0b00, 1: 0b01, -1: 0b11}


class TernaryColumnModel:
    """One column of the array, clock by clock: the same registers as
    ``verilog/tint_column.v``, so the two can be compared cycle by cycle.

    Per clock edge (:meth:`step`): the operand stage registers the R selector outputs
    (``+a``, ``-a`` or 0) with ``valid`` and ``first``; each tree level registers
    pairwise sums of the level before; the accumulator loads the tree's sum when the
    value reaching it is ``first`` (a new output), or adds it, when valid.
    """

    def __init__(self, rows: int, acc_bits: int = 32) -> None:
        if rows < 1:
            raise RtlModelError(f"rtl_models: TernaryColumnModel.rows: got {rows}; expected >= 1")
        self.rows = rows
        self.levels = (rows - 1).bit_length()
        self.width = 1 << self.levels
        self.acc_bits = acc_bits
        # stage 0 = operand register, stages 1..levels = tree levels
        self.data: list[list[int]] = [[0] * (self.width >> s) for s in range(self.levels + 1)]
        self.valid = [False] * (self.levels + 1)
        self.first = [False] * (self.levels + 1)
        self.acc = 0
        self.acc_valid = False

    def _wrap(self, v: int) -> int:
        half = 1 << (self.acc_bits - 1)
        return ((v + half) % (1 << self.acc_bits)) - half

    def step(self, valid: bool, first: bool, acts: list[int], weights: list[int]) -> None:
        """One rising clock edge with these inputs (``acts`` and ``weights`` of length
        ``rows``; weights in {-1, 0, +1})."""
        top = self.levels
        if self.valid[top]:
            s = self.data[top][0]
            self.acc = self._wrap(s if self.first[top] else self.acc + s)
        self.acc_valid = self.valid[top]
        for s in range(top, 0, -1):
            prev = self.data[s - 1]
            self.data[s] = [prev[2 * i] + prev[2 * i + 1] for i in range(len(self.data[s]))]
            self.valid[s] = self.valid[s - 1]
            self.first[s] = self.first[s - 1]
        terms = [a * w for a, w in zip(acts, weights, strict=True)]
        self.data[0] = terms + [0] * (self.width - self.rows)
        self.valid[0] = valid
        self.first[0] = first
