"""Shared pieces for zoo models built from transformers classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from attnsim.workloads.errors import WorkloadError
from torch import nn

__all__ = ["SDPA", "apply_overrides", "count_params", "fake_kv_cache", "head_dim_of"]

#: Config keyword that selects PyTorch SDPA attention in transformers models.
SDPA: dict[str, Any] = {"attn_implementation": "sdpa"}


def apply_overrides(where: str, config: Any, overrides: Mapping[str, Any]) -> Any:
    """Set config fields from ``overrides``; an unknown field is a :class:`WorkloadError`."""
    problems = []
    for key, value in overrides.items():
        if not hasattr(config, key):
            problems.append(
                f"zoo.{where}: override {key!r} is not a field of {type(config).__name__}; "
                f"expected an existing config field"
            )
            continue
        setattr(config, key, value)
    if problems:
        raise WorkloadError(problems)
    return config


def head_dim_of(config: Any) -> int:
    """Per-head size of a transformers decoder config."""
    hd = getattr(config, "head_dim", None)
    return int(hd) if hd else int(config.hidden_size // config.num_attention_heads)


def fake_kv_cache(config: Any, batch: int, kv_len: int, dtype: torch.dtype) -> Any:
    """A transformers ``DynamicCache`` holding ``kv_len`` tokens per layer.

    Called inside a ``FakeTensorMode``: the K/V tensors are fake (no memory).  With
    ``kv_len == 0`` the cache is empty (prefill that fills it).
    """
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    if kv_len:
        shape = (batch, int(config.num_key_value_heads), kv_len, head_dim_of(config))
        for layer in range(int(config.num_hidden_layers)):
            cache.update(torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype), layer)
    return cache


def count_params(model: nn.Module) -> int:
    """Parameters of a module, tied ones once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
