"""Lowering of attention-free token mixers and setup ops: spectral dictionary, Haar and
graph wavelets, group-rational KAN activations, block-mask construction.

All but the dictionary's coefficient GEMM are memory-bound: what decides their time is
how many times the data crosses DRAM, so each family states its passes.

* ``spectral-dictionary`` — the token->atom coefficient GEMM by the target's GEMM
  family, one streaming kernel for the top-k selection and synthesis, then the FFT
  convolution along the tokens: rFFTs of x and of the synthesis (passes as
  ``fft-stockham``: one per scratchpad-sized radix group), the complex product, the
  inverse FFT passes.
* ``haar-wavelet`` — one tile takes a slice of channels over the whole sequence. When a
  slice of at least :data:`MIN_CHANNELS` channels of one sequence (input plus a work
  buffer) fits the scratchpad, every level runs on chip: one DRAM pass. Otherwise each
  analysis and synthesis level is a streaming pass through DRAM over the data of that
  level (``2 * levels`` passes, the level sizes halving).
* ``graph-wavelet-spmm`` — ``order`` CSR SpMM kernels (Chebyshev recurrence, the output
  accumulated in each kernel's epilogue). Each reads its two previous terms, the CSR
  arrays and the neighbour rows it gathers: gathers hit the cache level, and miss to
  DRAM in the fraction of the term that does not fit the cache
  (``max(0, 1 - C / (N*d*elem))``, the same linear hit rule as fused attention's K/V).
* ``group-rational`` — one streaming pass, coefficients in registers.
* ``mask-setup`` — one streaming kernel evaluating ``mask_mod`` on every pair; eager
  construction also writes the boolean matrix and reads it back for the block reduction.
"""

from __future__ import annotations

import math

from attnsim.sim.lowering.common import STREAM_TILE_BYTES, streaming_kernel, traffic
from attnsim.sim.lowering.fft import fft_passes
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.lowering.variants_attention import gemm_kernels_for
from attnsim.sim.tasks import Kernel, OpTasks, TileClass
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import GemmOp, Op
from attnsim.workloads.ops_variants import (
    GraphWaveletOp,
    GroupRationalOp,
    HaarWaveletMixerOp,
    MaskSetupOp,
    SpectralDictionaryMixerOp,
)

__all__ = ["MIN_CHANNELS", "gather_miss_fraction", "haar_on_chip"]

#: Fewest channels a Haar tile holds (a 16-byte vector of fp16 is 8 channels): below
#: that the slice is too thin to load efficiently and the levels go through DRAM.
MIN_CHANNELS = 8


def _expect(op: Op, cls: type, family: str) -> None:
    if not isinstance(op, cls):
        raise LoweringError(f"{family} lowers {cls.kind} ops, not {op.kind}")  # type: ignore[attr-defined]


def lower_spectral_dictionary(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`SpectralDictionaryMixerOp` (see module docstring)."""
    del options
    _expect(op, SpectralDictionaryMixerOp, "spectral-dictionary")
    assert isinstance(op, SpectralDictionaryMixerOp)
    elem = nbytes(op.dtype, 1)
    x_bytes = op.batch * op.seq * op.dim * elem
    spec_bytes = op.batch * (op.seq // 2 + 1) * op.dim * 2 * elem  # complex half spectrum
    passes = fft_passes(op.seq, 2 * elem, view.scratchpad.capacity_bytes)
    one_fft = 2.5 * op.seq * math.log2(op.seq) * op.dim * op.batch if op.seq > 1 else 0.0
    kernels: list[Kernel] = list(
        gemm_kernels_for(
            GemmOp(
                name=f"{op.name} coefficients",
                dtype=op.dtype,
                m=op.batch * op.seq,
                n=op.atoms,
                k=op.dim,
                weight_operand="b",
            ),
            view,
        )
    )
    coef_bytes = op.batch * op.seq * op.atoms * elem
    kernels.append(
        streaming_kernel(
            f"{op.name} top-{op.active} synthesis",
            view,
            read_bytes=coef_bytes + 3 * op.atoms * op.dim * elem,
            write_bytes=x_bytes,
            vector_ops=op.synthesis_flops(),
            exp_ops=float(op.batch * op.seq * op.active * op.dim),  # the cosines, on the SFU
            flops=op.synthesis_flops(),
        )
    )

    def fft(label: str, first_read: float, last_write: float) -> list[Kernel]:
        return [
            streaming_kernel(
                f"{op.name} {label} pass {p + 1}/{passes}",
                view,
                read_bytes=first_read if p == 0 else spec_bytes,
                write_bytes=last_write if p == passes - 1 else spec_bytes,
                vector_ops=one_fft / passes,
                flops=one_fft / passes,
            )
            for p in range(passes)
        ]

    kernels += fft("rfft(x)", x_bytes, spec_bytes)
    kernels += fft("rfft(s)", x_bytes, spec_bytes)
    product = 6.0 * (op.seq // 2 + 1) * op.dim * op.batch
    kernels.append(
        streaming_kernel(
            f"{op.name} spectral product",
            view,
            read_bytes=2 * spec_bytes,
            write_bytes=spec_bytes,
            vector_ops=product,
            flops=product,
        )
    )
    kernels += fft("irfft", spec_bytes, x_bytes)
    return OpTasks(
        family="spectral-dictionary", kernels=tuple(kernels), notes={"fft_passes": passes}
    )


def haar_on_chip(op: HaarWaveletMixerOp, view: TargetView) -> bool:
    """True when :data:`MIN_CHANNELS` channels of a whole sequence (and a work buffer of
    the same size) fit one unit's scratchpad."""
    elem = nbytes(op.dtype, 1)
    return 2 * op.seq * MIN_CHANNELS * elem <= view.scratchpad.capacity_bytes


def lower_haar(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`HaarWaveletMixerOp` (see module docstring)."""
    del options
    _expect(op, HaarWaveletMixerOp, "haar-wavelet")
    assert isinstance(op, HaarWaveletMixerOp)
    elem = nbytes(op.dtype, 1)
    io = op.io_bytes()
    if haar_on_chip(op, view):
        kernel = streaming_kernel(
            f"{op.name} haar (all levels on chip)",
            view,
            read_bytes=io.inputs + io.weights,
            write_bytes=io.outputs,
            vector_ops=op.flops(),
            flops=op.flops(),
        )
        return OpTasks(family="haar-wavelet", kernels=(kernel,), notes={"dram_passes": 1})
    kernels: list[Kernel] = []
    rows = op.batch * op.dim * elem
    sizes = [op.seq, *op.level_pairs()]
    for j in range(op.levels):  # analysis: read level j, write approx + detail
        n_in, n_out = sizes[j], sizes[j + 1]
        kernels.append(
            streaming_kernel(
                f"{op.name} analysis level {j + 1}",
                view,
                read_bytes=n_in * rows,
                write_bytes=2 * n_out * rows,
                vector_ops=4.0 * n_out * op.batch * op.dim,
                flops=4.0 * n_out * op.batch * op.dim,
            )
        )
    for j in reversed(range(op.levels)):  # synthesis back up
        n_in, n_out = sizes[j + 1], sizes[j]
        kernels.append(
            streaming_kernel(
                f"{op.name} synthesis level {j + 1}",
                view,
                read_bytes=2 * n_in * rows,
                write_bytes=n_out * rows,
                vector_ops=4.0 * n_in * op.batch * op.dim,
                flops=4.0 * n_in * op.batch * op.dim,
            )
        )
    return OpTasks(
        family="haar-wavelet", kernels=tuple(kernels), notes={"dram_passes": 2 * op.levels}
    )


def gather_miss_fraction(view: TargetView, working_set_bytes: float) -> float:
    """Fraction of gathered rows that miss the cache: 0 while the term fits it."""
    if view.cache is None:
        return 1.0
    if working_set_bytes <= view.cache.capacity_bytes:
        return 0.0
    return 1.0 - view.cache.capacity_bytes / working_set_bytes


def _stream_split(
    name: str,
    view: TargetView,
    dram_read: float,
    cache_read: float,
    write: float,
    vector_ops: float,
    flops: float,
) -> Kernel:
    """A streaming kernel whose cache-level reads exceed its DRAM reads (gathers)."""
    n_tiles = max(1, min(view.units * 8, math.ceil((cache_read + write) / STREAM_TILE_BYTES)))
    vec = view.rate("vector", "fp32")
    compute = vector_ops / n_tiles / vec.per_unit_ops_s
    tile = TileClass(
        name=name,
        engine_s={vec.engine: compute},
        compute_s=compute,
        read_bytes=traffic(view, dram_read / n_tiles, cache_read / n_tiles),
        write_bytes=traffic(view, write / n_tiles),
        fixed_s=view.dram.latency_s,
        ops={("vector", vec.precision): vector_ops / n_tiles},
        flops=flops / n_tiles,
    )
    return Kernel(
        name=name,
        unit=view.unit,
        slots_per_unit=1,
        runs=((tile, n_tiles),),
        launch_s=view.launch_s,
        order="CSR row blocks",
    )


def lower_graph_wavelet(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`GraphWaveletOp` (see module docstring)."""
    del options
    _expect(op, GraphWaveletOp, "graph-wavelet-spmm")
    assert isinstance(op, GraphWaveletOp)
    elem = nbytes(op.dtype, 1)
    term = op.batch * op.nodes * op.dim * elem
    gathered = op.batch * op.nnz * op.dim * elem
    csr = op.batch * op.csr_bytes()
    miss = gather_miss_fraction(view, op.nodes * op.dim * elem * min(op.batch, view.units))
    per_flops = op.spmm_flops() / op.order + 2.0 * op.batch * op.nodes * op.dim
    kernels: list[Kernel] = []
    for p in range(op.order):
        prev2 = term if p > 0 else 0.0  # T_{p-2}
        acc = term if p > 0 else 0.0  # Y read back for accumulation after the first term
        own = term  # T_{p-1}, streamed in row order
        dram = own + prev2 + acc + csr + gathered * miss
        cache = own + prev2 + acc + csr + gathered
        kernels.append(
            _stream_split(
                f"{op.name} spmm T{p + 1}",
                view,
                dram_read=dram,
                cache_read=cache,
                write=2 * term,  # T_p and the accumulated Y
                vector_ops=per_flops,
                flops=per_flops,
            )
        )
    notes: dict[str, str | int | float] = {"spmm_kernels": op.order, "gather_miss": round(miss, 4)}
    return OpTasks(family="graph-wavelet-spmm", kernels=tuple(kernels), notes=notes)


def lower_group_rational(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`GroupRationalOp`: one streaming pass (see module docstring)."""
    del options
    _expect(op, GroupRationalOp, "group-rational")
    io = op.io_bytes()
    kernel = streaming_kernel(
        f"{op.name} rational",
        view,
        read_bytes=io.inputs + io.weights,
        write_bytes=io.outputs,
        vector_ops=op.flops(),
        flops=op.flops(),
    )
    return OpTasks(family="group-rational", kernels=(kernel,), notes={})


def lower_mask_setup(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`MaskSetupOp` (see module docstring)."""
    del options
    _expect(op, MaskSetupOp, "mask-setup")
    assert isinstance(op, MaskSetupOp)
    dense = float(op.pairs) if op.materialized else 0.0  # one byte per bool
    kernel = streaming_kernel(
        f"{op.name} create_block_mask",
        view,
        read_bytes=dense,
        write_bytes=dense + op.index_bytes,
        vector_ops=op.flops(),
        flops=op.flops(),
    )
    return OpTasks(
        family="mask-setup", kernels=(kernel,), notes={"materialized": int(op.materialized)}
    )


for _name, _kind, _fn, _desc in (
    ("spectral-dictionary", "spectral_dictionary", lower_spectral_dictionary,
     "SDict mixer: rFFT passes, coefficient GEMM, top-k synthesis, inverse FFT"),
    ("haar-wavelet", "haar_wavelet", lower_haar,
     "LMWT: all Haar levels on chip when a channel slice fits, else a DRAM pass per level"),
    ("graph-wavelet-spmm", "graph_wavelet", lower_graph_wavelet,
     "GWT: Chebyshev CSR SpMMs with cache-hit gathers, output accumulated in the epilogue"),
    ("group-rational", "group_rational", lower_group_rational,
     "KAT group-rational activation: one streaming pass"),
    ("mask-setup", "mask_setup", lower_mask_setup,
     "FlexAttention create_block_mask: one kernel evaluating mask_mod on every pair"),
):  # fmt: skip
    register_family(
        LoweringFamily(
            name=_name, op_kinds=frozenset({_kind}), lower=_fn, generic=True, description=_desc
        )
    )
