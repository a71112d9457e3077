"""Memory-bound ops (``memory-bound`` family): softmax, norms, elementwise, embedding
gathers and ops the tracer did not know. Each streams its compulsory bytes through DRAM
once (:func:`sim.lowering.common.streaming_kernel`) and does its few vector ops per
element on the way. Per-element op counts are the algorithm's, stated per kind below."""

from __future__ import annotations

from attnsim.sim.lowering.common import streaming_kernel
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import OpTasks
from attnsim.workloads.ops import ElementwiseOp, EmbeddingOp, NormOp, Op, SoftmaxOp, UnknownOp

#: Vector ops per element: softmax = max, subtract, sum, divide (+1 exp on the SFU);
#: layernorm = mean, variance (2), normalise, scale, shift; rmsnorm = square, sum,
#: normalise, scale; groupnorm as layernorm.
VECTOR_OPS_PER_ELEMENT = {"softmax": 4.0, "layernorm": 6.0, "rmsnorm": 4.0, "groupnorm": 6.0}


def lower_memory_bound(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower one memory-bound op to a single streaming kernel."""
    del options
    io = op.io_bytes()
    reads = io.inputs + io.weights
    writes = io.outputs
    exp_ops = 0.0
    if isinstance(op, SoftmaxOp):
        elements = float(op.rows * op.cols)
        vector_ops = VECTOR_OPS_PER_ELEMENT["softmax"] * elements
        exp_ops = elements
    elif isinstance(op, NormOp):
        vector_ops = VECTOR_OPS_PER_ELEMENT.get(op.norm, 6.0) * op.rows * op.cols
    elif isinstance(op, ElementwiseOp):
        vector_ops = op.flops()
    elif isinstance(op, EmbeddingOp):
        vector_ops = 0.0
    elif isinstance(op, UnknownOp):
        vector_ops = 0.0
    else:
        raise LoweringError(f"memory-bound does not lower {op.kind} ops")
    kernel = streaming_kernel(
        f"{op.kind} {op.name}",
        view,
        read_bytes=reads,
        write_bytes=writes,
        vector_ops=vector_ops,
        exp_ops=exp_ops,
        flops=op.flops(),
    )
    return OpTasks(family="memory-bound", kernels=(kernel,), notes={})


register_family(
    LoweringFamily(
        name="memory-bound",
        op_kinds=frozenset({"softmax", "norm", "elementwise", "embedding", "unknown"}),
        lower=lower_memory_bound,
        generic=True,
        description="one streaming pass over DRAM: softmax, norms, elementwise, gathers",
    )
)
