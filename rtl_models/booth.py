"""Radix-4 Booth multiplier array ("BoothFlex core"): INT8 x INT8 attention, ternary x
INT8 projections on the same partial-product rows, and a bit-serial variant
("BoothFlex-BS") whose cycles follow the multiplier's non-zero Booth digits.

Sources: VitaLLM's BoothFlex core "reuses a radix-4 Booth datapath for both INT8 x INT8
attention and ternary-INT" (arXiv:2605.00320 abstract); "an extended bit-serial design
(BoothFlex-BS)" for precision-agile inference (arXiv:2604.27396 abstract). Radix-4
(modified) Booth recoding: A. D. Booth, "A signed binary multiplication technique", Q. J.
Mech. Appl. Math. 4(2), 1951; O. L. MacSorley, "High-speed arithmetic in binary
computers", Proc. IRE 49(1), 1961.

Recoding: an 8-bit two's-complement multiplier ``y`` becomes four digits
``d_i = -2 y[2i+1] + y[2i] + y[2i-1]`` (``y[-1] = 0``) in {-2, -1, 0, 1, 2} with
``y = sum_i d_i 4^i``; each digit selects a partial product {0, +-x, +-2x} of the
multiplicand ``x``, shifted by ``2i``. :func:`booth_digits` implements it and
:func:`booth_multiply` rebuilds products from the digits alone.

Microarchitecture (the abstracts give no organisation; ASSUMPTION A-B1, the same
column organisation as the ternary array so both cores share a schedule): ``cols`` (C)
columns of ``rows`` (R) Booth multipliers each; the left operand's R-slice is
broadcast to every column with its Booth digits encoded once per row (ASSUMPTION
A-B3: one encoder per row, shared by the columns); a column sums its multipliers'
partial products in a compressor tree into an accumulator bank of ``acc_depth`` int32
partial sums. Tile schedule as the ternary array: column blocks, then chunks of
``acc_depth`` rows, then reduction blocks; a B slice is loaded once per chunk.

Modes:

* ``"int8"``: the left operand A (queries, probabilities) is the Booth-recoded
  multiplier, B (keys, values) the multiplicand. All four PP rows per multiplier each
  cycle: ``N = m * ceil(k/R) * ceil(n/C)`` issue cycles.
* ``"ternary_int8"``: B holds ternary weights; a ternary weight's Booth recoding has one
  digit (``d_0 = w``), so each multiplier's four PP rows carry four independent
  ternary x int8 products with the shifts bypassed (ASSUMPTION A-B4, the reading of
  "reuses the datapath ... without duplicating arrays"): ``R' = 4R`` products per column
  per cycle, ``N = m * ceil(k/(4R)) * ceil(n/C)``.
* ``"bitserial_int8"``: each multiplier has one PP generator and walks the non-zero
  Booth digits of its A element, one per cycle (zero digits skipped; ASSUMPTION A-B5);
  the R lanes run in lock step, so one row's R-slice takes ``max(1, max_r nnz(d))``
  cycles (``nnz`` of a value's four digits, 0..4) and
  ``N = ceil(n/C) * sum over rows and k blocks of that``. :func:`booth_array_run`
  counts it exactly for given operands; :meth:`BoothArray.tile_cost` gives its
  expectation for ``params.a_distribution`` with i.i.d. elements (exact from the digit
  count's distribution: ``E[max] = sum_c c (F(c)^R - F(c-1)^R)``), rounded up.

Pipeline (ASSUMPTION A-B2): operand register, Booth encode + PP select, the
multiplier's 4:2 reduction, ``ceil(log2 R)`` column-tree levels, accumulator:
``L = ceil(log2 R) + 4`` stages (``ceil(log2 R) + 3`` in bit-serial mode, which has no
4:2 stage); ``cycles = N + L - 1``.

Events: ``booth.encode`` (A elements recoded), ``booth.pp`` (partial products with a
non-zero digit, summed), ``booth.pp_zero`` (PP slots gated by a zero digit),
``booth.idle_lane`` (PP slot-cycles of edge blocks or bit-serial waits with no data),
``booth.acc`` (accumulator updates), ``booth.b_load`` (R x C B-register loads).
Ports: ``act_in`` (A, int8), ``weight_in`` (B: int8, or packed ternary at
``ternary_bits`` per weight), ``out`` (int32 partial sums).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .cost import RtlModelError, TileShape, UnitCost, check_positive_int, raise_problems
from .distributions import INT8_VALUES, Int8Distribution, absmax_gaussian_sigma
from .intmath import as_int_array, int_matmul, wrap_signed
from .unit import UNIT_MODELS, UnitModelBase, UnitParams

__all__ = [
    "BoothArrayParams",
    "BoothArray",
    "BOOTH_ARRAY",
    "BOOTH_MODES",
    "booth_digits",
    "booth_multiply",
    "booth_nonzero_digits",
    "booth_array_run",
    "expected_serial_step_cycles",
]

#: Modes of the Booth array.
BOOTH_MODES = ("int8", "ternary_int8", "bitserial_int8")

#: Radix-4 digits of an 8-bit multiplier.
DIGITS = 4


def _recode_bits(y: np.ndarray) -> np.ndarray:
    """Radix-4 Booth digits from the two's-complement bits of int8 ``y`` (the
    definition; :func:`booth_digits` looks its result up in a 256-entry table)."""
    u = np.asarray(y).astype(np.int64) & 0xFF
    bits = [(u >> j) & 1 for j in range(8)]
    out = np.empty(u.shape + (DIGITS,), dtype=np.int8)
    for i in range(DIGITS):
        low = bits[2 * i - 1] if i > 0 else np.zeros_like(u)
        out[..., i] = -2 * bits[2 * i + 1] + bits[2 * i] + low
    return out


#: Booth digits of every int8 value (row ``v + 128``), built from the bit definition.
_DIGIT_TABLE = _recode_bits(INT8_VALUES)
_DIGIT_TABLE.setflags(write=False)
# A ternary weight recodes to one digit, d0 = w: the basis of the ternary mode (A-B4).
assert not _DIGIT_TABLE[[127, 128, 129], 1:].any()
assert (_DIGIT_TABLE[[127, 128, 129], 0] == [-1, 0, 1]).all()


def booth_digits(y: np.ndarray) -> np.ndarray:
    """Radix-4 Booth digits of int8 values: shape ``y.shape + (4,)``, int8 in {-2..2},
    digit ``i`` weighing ``4**i``: ``d_i = -2 y[2i+1] + y[2i] + y[2i-1]``."""
    return _DIGIT_TABLE[np.asarray(y).astype(np.int16) + 128]


def booth_multiply(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x * y`` (int64, elementwise, broadcast) built only from the Booth partial
    products of multiplier ``y``: ``sum_i d_i(y) * x * 4**i``."""
    d = booth_digits(y).astype(np.int64)
    xx = np.asarray(x, dtype=np.int64)[..., None]
    return (d * xx * (4 ** np.arange(DIGITS, dtype=np.int64))).sum(axis=-1)


#: Non-zero Booth digits of each int8 value (index ``v + 128``).
_NNZ_TABLE = np.count_nonzero(_DIGIT_TABLE, axis=-1).astype(np.int64)


def booth_nonzero_digits(y: np.ndarray) -> np.ndarray:
    """How many of the four Booth digits of each int8 value are non-zero (0..4)."""
    return _NNZ_TABLE[np.asarray(y, dtype=np.int64) + 128]


def _default_distribution() -> Int8Distribution:
    # absmax-quantised Gaussian activations of a head-dim-128 query (see distributions)
    return Int8Distribution("gaussian", round(absmax_gaussian_sigma(128), 3))


@dataclass(frozen=True)
class BoothArrayParams(UnitParams):
    """Configuration of one Booth multiplier array.

    Attributes:
        rows: R, Booth multipliers per column (reduction lanes).
        cols: C, columns.
        acc_depth: partial sums per column in the accumulator bank.
        acc_bits: accumulator width (two's-complement wrap).
        ternary_per_multiplier: ternary products one multiplier carries per cycle in
            ``ternary_int8`` mode (its PP rows, 4 for radix-4 on 8 bits; ASSUMPTION A-B4).
        ternary_bits: storage bits per ternary weight on the B port (five trits a byte).
        a_distribution: stated distribution of the A operand's int8 elements, for
            expected digit statistics (default: an absmax-quantised Gaussian query of
            128 elements, sigma = 127 / sqrt(2 ln 256) = 38.2 LSB; ASSUMPTION A-B6).

    Defaults (R = 8, C = 4: 32 INT8 MACs per cycle) follow the vitallm-16nm target's
    assumed BoothFlex size (ASSUMPTION; the abstracts give none).
    """

    rows: int = 8
    cols: int = 4
    acc_depth: int = 64
    acc_bits: int = 32
    ternary_per_multiplier: int = 4
    ternary_bits: float = 1.6
    a_distribution: Int8Distribution = field(default_factory=_default_distribution)

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("rows", "cols", "acc_depth"):
            check_positive_int(f"booth_array.{name}", getattr(self, name), problems)
        check_positive_int("booth_array.acc_bits", self.acc_bits, problems, minimum=18)
        tpm = self.ternary_per_multiplier
        if isinstance(tpm, bool) or not isinstance(tpm, int) or not (1 <= tpm <= DIGITS):
            problems.append(
                f"rtl_models: booth_array.ternary_per_multiplier: got {tpm!r}; expected "
                f"an integer in [1, {DIGITS}] (one per partial-product row)"
            )
        if not isinstance(self.ternary_bits, int | float) or not (
            math.log2(3) - 1e-9 <= self.ternary_bits <= 8
        ):
            problems.append(
                f"rtl_models: booth_array.ternary_bits: got {self.ternary_bits!r}; "
                "expected bits per ternary weight in [log2(3), 8]"
            )
        if not isinstance(self.a_distribution, Int8Distribution):
            problems.append(
                f"rtl_models: booth_array.a_distribution: got "
                f"{type(self.a_distribution).__name__}; expected Int8Distribution"
            )
        raise_problems(problems)

    def pipeline_depth(self, mode: str) -> int:
        """Register stages from operand input to accumulator in ``mode``."""
        tree = (self.rows - 1).bit_length()
        return tree + (3 if mode == "bitserial_int8" else 4)


def _digit_count_pmf(dist: Int8Distribution) -> np.ndarray:
    """P(nnz Booth digits = c) for c = 0..4 under ``dist``."""
    return np.bincount(_NNZ_TABLE, weights=dist.pmf(), minlength=DIGITS + 1)


def expected_serial_step_cycles(dist: Int8Distribution, lanes: int) -> float:
    """Expected cycles of one bit-serial step: ``E[max(1, max of lanes i.i.d. digit
    counts)]`` under ``dist`` (exact, from the digit count's distribution)."""
    cdf = np.cumsum(_digit_count_pmf(dist))
    total = 1.0 * cdf[1] ** lanes
    for c in range(2, DIGITS + 1):
        total += c * (cdf[c] ** lanes - cdf[c - 1] ** lanes)
    return float(total)


def _reduction_lanes(params: BoothArrayParams, mode: str) -> int:
    return params.rows * (params.ternary_per_multiplier if mode == "ternary_int8" else 1)


def _cost(
    params: BoothArrayParams,
    tile: TileShape,
    mode: str,
    *,
    nonzero_pp: float,
    issue: float,
) -> UnitCost:
    m, k, n = tile.m, tile.k, tile.n
    lanes = _reduction_lanes(params, mode)
    nb = -(-n // params.cols)
    kb = -(-k // lanes)
    reloads = -(-m // params.acc_depth)
    if mode == "int8":
        slots_per_cycle = DIGITS * params.rows * params.cols
        pp_slots = float(DIGITS * m * k * n)
    elif mode == "ternary_int8":
        slots_per_cycle = lanes * params.cols
        pp_slots = float(m * k * n)
    else:  # one PP generator per multiplier, one non-zero digit per cycle
        slots_per_cycle = params.rows * params.cols
        pp_slots = nonzero_pp
    b_bytes = params.ternary_bits / 8.0 if mode == "ternary_int8" else 1.0
    precision = "ternary" if mode == "ternary_int8" else "int8"
    return UnitCost(
        cycles=int(math.ceil(issue - 1e-9)) + params.pipeline_depth(mode) - 1,
        ops={("matmul", precision): 2.0 * m * k * n},
        events={
            "booth.encode": float(nb * m * k) if mode != "ternary_int8" else 0.0,
            "booth.pp": nonzero_pp,
            "booth.pp_zero": max(0.0, pp_slots - nonzero_pp),
            "booth.idle_lane": max(0.0, issue * slots_per_cycle - pp_slots),
            "booth.acc": float(m * kb * n),
            "booth.b_load": float(nb * kb * reloads),
        },
        port_bytes={
            "act_in": float(nb * m * k),
            "weight_in": reloads * k * n * b_bytes,
            "out": m * n * params.acc_bits / 8.0,
        },
    )


class BoothArray(UnitModelBase[BoothArrayParams]):
    """The Booth multiplier array as a unit model (modes :data:`BOOTH_MODES`).

    ``tile_cost`` in ``bitserial_int8`` (and the PP counts of ``int8``) are expectations
    under ``params.a_distribution``; ``ternary_int8`` PP counts assume the ternary zero
    fraction of :func:`~attnsim.rtl_models.ternary_mac.absmean_zero_fraction`.
    """

    name = "booth_array"
    modes = BOOTH_MODES
    params_type = BoothArrayParams

    def peak_ops_per_cycle(self, params: BoothArrayParams) -> dict[tuple[str, str], float]:
        """``rows x cols`` INT8 MACs a cycle (parallel mode; a bit-serial step is at
        least a cycle, so never more), and ``ternary_per_multiplier`` times as many
        ternary MACs (a MAC = 2 ops)."""
        macs = float(params.rows * params.cols)
        return {
            ("matmul", "int8"): 2.0 * macs,
            ("matmul", "ternary"): 2.0 * macs * params.ternary_per_multiplier,
        }

    def components(self, params: BoothArrayParams) -> dict[str, float]:
        """``rows x cols`` radix-4 Booth multipliers; ``cols x acc_depth`` accumulators
        of ``acc_bits`` flip-flops; an 8-bit B (multiplicand) register per multiplier."""
        multipliers = float(params.rows * params.cols)
        return {
            "booth.multiplier": multipliers,
            "booth.acc_bit": float(params.cols * params.acc_depth * params.acc_bits),
            "booth.b_bit": 8.0 * multipliers,
        }

    def _cost(self, params: BoothArrayParams, tile: TileShape, mode: str) -> UnitCost:
        from .ternary_mac import absmean_zero_fraction

        m, k, n = tile.m, tile.k, tile.n
        nb = -(-n // params.cols)
        lanes = _reduction_lanes(params, mode)
        kb = -(-k // lanes)
        mean_nnz = params.a_distribution.expect(_NNZ_TABLE.astype(np.float64))
        if mode == "ternary_int8":
            return _cost(
                params,
                tile,
                mode,
                nonzero_pp=m * k * n * (1.0 - absmean_zero_fraction()),
                issue=float(m * kb * nb),
            )
        if mode == "int8":
            return _cost(
                params, tile, mode, nonzero_pp=m * k * n * mean_nnz, issue=float(m * kb * nb)
            )
        full, tail = divmod(k, lanes)
        per_row = float(full) * expected_serial_step_cycles(params.a_distribution, lanes)
        if tail:
            per_row += expected_serial_step_cycles(params.a_distribution, tail)
        return _cost(params, tile, mode, nonzero_pp=m * k * n * mean_nnz, issue=m * nb * per_row)


BOOTH_ARRAY = BoothArray()
UNIT_MODELS.register("booth_array", BOOTH_ARRAY)


def booth_array_run(
    a: np.ndarray,
    b: np.ndarray,
    params: BoothArrayParams | None = None,
    mode: str = "int8",
) -> tuple[np.ndarray, UnitCost]:
    """Bit-exact ``a @ b`` through Booth partial products, and its exact cost.

    Args:
        a: int8 left operand (m, k): the recoded multiplier in ``int8`` and
            ``bitserial_int8`` modes, the multiplicand (activations) in ``ternary_int8``.
        b: right operand (k, n): int8, or ternary {-1, 0, +1} in ``ternary_int8``.
        params: the array (default :class:`BoothArrayParams`).
        mode: one of :data:`BOOTH_MODES`.

    Returns:
        (int32 result (m, n) accumulated from the Booth digits' partial products, the
        exact :class:`UnitCost` for these operands).
    """
    params = params or BoothArrayParams()
    mode = BOOTH_ARRAY.resolve_mode(mode)
    aa = as_int_array("a", a, ndim=2, lo=-128, hi=127, where="booth_array_run")
    lo = -1 if mode == "ternary_int8" else -128
    hi = 1 if mode == "ternary_int8" else 127
    bb = as_int_array("b", b, ndim=2, lo=lo, hi=hi, where="booth_array_run")
    if aa.shape[1] != bb.shape[0]:
        raise RtlModelError(
            f"rtl_models: booth_array_run.b: got {bb.shape[0]} rows; expected {aa.shape[1]} (a's k)"
        )
    m, k = aa.shape
    n = bb.shape[1]
    tile = TileShape(m, k, n)
    if mode == "ternary_int8":
        # the multiplier is the weight: its only Booth digit d0 selects +-x or 0
        d0 = _DIGIT_TABLE[bb.astype(np.int16) + 128, 0]
        out = int_matmul(aa, d0)
        nonzero_pp = float(m * np.count_nonzero(d0))
        issue = float(m * -(-k // _reduction_lanes(params, mode)) * -(-n // params.cols))
    else:
        d = booth_digits(aa)  # (m, k, 4)
        # all four partial-product planes in one product: rows i*m .. i*m+m-1 = digit i
        planes = int_matmul(np.moveaxis(d, -1, 0).reshape(DIGITS * m, k), bb)
        planes = planes.reshape(DIGITS, m, n)
        out = np.zeros((m, n), dtype=np.int64)
        for i in range(DIGITS):
            out += planes[i] << (2 * i)
        nnz = _NNZ_TABLE[aa.astype(np.int16) + 128]  # (m, k)
        nonzero_pp = float(nnz.sum() * n)
        nb = -(-n // params.cols)
        lanes = params.rows
        kb = -(-k // lanes)
        if mode == "int8":
            issue = float(m * kb * nb)
        else:
            padded = np.zeros((m, kb * lanes), dtype=np.int64)
            padded[:, :k] = nnz
            steps = np.maximum(padded.reshape(m, kb, lanes).max(axis=2), 1)
            issue = float(nb * steps.sum())
    cost = _cost(params, tile, mode, nonzero_pp=nonzero_pp, issue=issue)
    out = wrap_signed(out, params.acc_bits)
    return out.astype(np.int32 if params.acc_bits <= 32 else np.int64), cost
