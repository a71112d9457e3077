"""Chunked linear / lightning attention (``linear-attention-chunked`` family).

One tile per (batch, head) walks the sequence chunk by chunk, keeping the ``d x d``
state on chip (Lightning Attention-2 / GLA kernels): per chunk of ``c`` tokens the
intra-chunk masked attention (``4·c²·d`` matmul ops) and the inter-chunk state read-out
and update (``4·c·d²``), with decay adding vector work. The chunks of a head depend on
each other through the state, so they are serial inside the tile; heads run in parallel.
Decode is the recurrent form: the state is read and written through DRAM per token.
Matmul and vector work of a chunk are serial (no overlap is claimed).
"""

from __future__ import annotations

import math

from attnsim.sim.lowering.common import traffic
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, OpTasks, TileClass
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import LinearAttentionOp, Op


def lower_linear_attention(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`LinearAttentionOp` (see module docstring)."""
    del options
    if not isinstance(op, LinearAttentionOp):
        raise LoweringError(f"linear-attention-chunked lowers linear_attention ops, not {op.kind}")
    d, T = op.head_dim, op.seq_len
    elem = nbytes(op.dtype, 1)
    tiles = op.batch * op.heads
    mm = view.rate("matmul", op.dtype)
    vec = view.rate("vector", "fp32")
    flops = op.flops() / tiles
    if op.phase == "decode":
        mm_ops = 0.0
        vec_ops = flops
        state = d * d * 4.0
        reads = 3 * T * d * elem + state
        writes = T * d * elem + state
    else:
        chunks = math.ceil(T / op.chunk)
        c = op.chunk
        mm_ops = chunks * (4.0 * c * c * d + 4.0 * c * d * d)
        vec_ops = chunks * ((c * c + d * d + 2.0 * c * d) if op.decay else 0.0) + chunks * c * c
        reads = 3 * T * d * elem
        writes = T * d * elem + d * d * elem
    mm_s = mm_ops / mm.per_unit_ops_s
    vec_s = vec_ops / vec.per_unit_ops_s
    engine_s = {mm.engine: mm_s}
    engine_s[vec.engine] = engine_s.get(vec.engine, 0.0) + vec_s
    tile = TileClass(
        name=f"linear attention head ({op.phase})",
        engine_s=engine_s,
        compute_s=mm_s + vec_s,
        read_bytes=traffic(view, reads),
        write_bytes=traffic(view, writes),
        fixed_s=view.dram.latency_s,
        ops={("matmul", mm.precision): mm_ops, ("vector", vec.precision): vec_ops},
        flops=flops,
    )
    kernel = Kernel(
        name=f"linear attention {op.name}",
        unit=view.unit,
        slots_per_unit=1,
        runs=((tile, tiles),),
        launch_s=view.launch_s,
        order="(batch, head)",
    )
    return OpTasks(family="linear-attention-chunked", kernels=(kernel,), notes={"chunk": op.chunk})


register_family(
    LoweringFamily(
        name="linear-attention-chunked",
        op_kinds=frozenset({"linear_attention"}),
        lower=lower_linear_attention,
        generic=True,
        description="chunked linear attention, d x d state on chip, chunks serial per head",
    )
)
