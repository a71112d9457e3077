"""Unfused attention (``unfused`` family): the score matrix goes through DRAM.

Three kernels, as eager PyTorch runs ``softmax(Q K^T) V``: a batched GEMM writes the
``Sq x Sk`` scores of every query head, a softmax kernel reads them and writes the
probabilities, a second batched GEMM reads them with V. Masks save nothing here (the
full matrix is computed and the mask applied in the softmax pass); GQA K/V is expanded
per query head (``repeat_kv``). Decode is the same with ``Sq`` = query length.
"""

from __future__ import annotations

from attnsim.sim.lowering.common import streaming_kernel
from attnsim.sim.lowering.gemm import GemmShape, gemm_kernels
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import OpTasks
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import AttentionOp, Op


def lower_unfused_attention(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower an :class:`AttentionOp` to GEMM, softmax, GEMM."""
    if not isinstance(op, AttentionOp):
        raise LoweringError(f"unfused lowers attention ops, not {op.kind}")
    s = op.spec
    e = nbytes(op.dtype, 1)
    heads = s.batch * s.q_heads
    scores = float(heads) * s.q_len * s.kv_len
    qk = GemmShape(
        heads, s.q_len, s.kv_len, s.head_dim_qk, e, e, e, op.dtype, 2.0 * scores * s.head_dim_qk
    )
    pv = GemmShape(
        heads, s.q_len, s.head_dim_v, s.kv_len, e, e, e, op.dtype, 2.0 * scores * s.head_dim_v
    )
    k1, n1 = gemm_kernels("scores = Q K^T", view, qk, options=options)
    soft = streaming_kernel(
        "masked softmax",
        view,
        read_bytes=scores * e,
        write_bytes=scores * e,
        vector_ops=5.0 * scores,
        exp_ops=scores,
    )
    k2, n2 = gemm_kernels("O = P V", view, pv, options=options)
    notes: dict[str, str | int | float] = {
        "qk_tile": n1["tile"],
        "pv_tile": n2["tile"],
        "scores_bytes": scores * e,
    }
    return OpTasks(family="unfused", kernels=(*k1, soft, *k2), notes=notes)


register_family(
    LoweringFamily(
        name="unfused",
        op_kinds=frozenset({"attention"}),
        lower=lower_unfused_attention,
        description="eager attention: scores and probabilities round-trip through DRAM",
    )
)
