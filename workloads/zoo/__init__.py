"""The model zoo: registered model builders and :func:`build_workload`.

``build_workload("llama3-8b", batch=1, seq=2048)`` traces a model with fake weights into
a :class:`~workloads.workload.Workload`; ``list_models()`` lists the entries.  Adding a
model is one module that calls :func:`register_model`, imported below.
"""

# each module registers its models on import (one line per model family)
from attnsim.workloads.zoo import (  # noqa: F401
    bigbird,
    bitnet,
    lightning,
    llama,
    nat,
    variants,
    variants_hf,
    variants_sparse,
    vit,
    vlm,
)
from attnsim.workloads.zoo.registry import (
    DTYPES,
    MODELS,
    ModelEntry,
    TraceInputs,
    TraceRequest,
    build_model,
    build_workload,
    get_model,
    list_models,
    parameter_count,
    register_model,
)

__all__ = [
    "DTYPES",
    "MODELS",
    "ModelEntry",
    "TraceInputs",
    "TraceRequest",
    "build_model",
    "build_workload",
    "get_model",
    "list_models",
    "parameter_count",
    "register_model",
]
