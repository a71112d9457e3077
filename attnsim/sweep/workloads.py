"""The workloads of a sweep: recipes expanded into concrete workloads, with digests.

A ``workloads:`` entry is a workload file, a ``trace`` recipe (a zoo model traced under
FakeTensorMode) or an ``attention`` recipe (one attention op, the same parameters as
``attnsim workload attention``). A recipe's ``axes`` are crossed with each other and
with its ``variants``; each combination is one workload with the entry's weight.

Every workload is keyed by :func:`workload_digest`, a SHA-256 of its canonical
serialised form (the versioned JSON of ``workloads.serialize``), so two recipes that
build the same ops share results, and a workload file that changed is recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnsim.sweep.errors import SweepError
from attnsim.sweep.spec import WorkloadRecipe
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SharedPrefixMask,
    SlidingWindowMask,
)
from attnsim.workloads.ops import AttentionOp, GemmOp, Op
from attnsim.workloads.serialize import load_workload, workload_to_dict
from attnsim.workloads.synthetic import attention_workload, random_block_layout
from attnsim.workloads.workload import Block, Workload

__all__ = ["WorkloadCase", "build_workloads", "workload_digest", "with_precision"]


@dataclass(frozen=True)
class WorkloadCase:
    """One concrete workload of a sweep.

    Attributes:
        label: unique name in the results (``attention[mask=causal,seq=4096]``).
        weight: its weight in a point's metrics.
        workload: the built workload.
        digest: :func:`workload_digest` of it.
        params: the recipe parameters that vary (for the tables).
    """

    label: str
    weight: float
    workload: Workload
    digest: str
    params: Mapping[str, Any]


def workload_digest(w: Workload) -> str:
    """SHA-256 (hex) of the workload's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(workload_to_dict(w), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def with_precision(w: Workload, precision: str | None) -> Workload:
    """``w`` with its compute ops (GEMMs and attention) running in ``precision``: the
    precision of the engine that runs them. Other ops (norms, elementwise) keep theirs."""
    if precision is None:
        return w

    def retype(op: Op) -> Op:
        if isinstance(op, GemmOp | AttentionOp) and op.dtype != precision:
            return dataclasses.replace(op, dtype=precision)
        return op

    blocks = tuple(
        Block(name=b.name, ops=tuple(retype(op) for op in b.ops), count=b.count) for b in w.blocks
    )
    meta = {**dict(w.meta), "precision": precision}
    return Workload(name=w.name, blocks=blocks, tokens=w.tokens, meta=meta)


def _mask(p: Mapping[str, Any], where: str) -> tuple[MaskPattern, int, int]:
    kind = p.get("mask", "full")
    seq, kv_seq = p.get("seq"), p.get("kv_seq")
    if kind == "neighborhood":
        spatial = tuple(p.get("spatial") or ())
        if not spatial:
            raise SweepError(f"{where}.spatial: missing; expected the token grid, e.g. [64, 64]")
        n = len(spatial)

        def per_axis(key: str, default: int) -> tuple[int, ...]:
            v = p.get(key)
            if v is None:
                return (default,) * n
            t = tuple(v) if isinstance(v, list) else (v,)
            return t * n if len(t) == 1 else t

        window = per_axis("window", 0)
        causal = tuple(p.get("causal_axes") or (False,) * n)
        mask: MaskPattern = NeighborhoodMask(
            spatial, window, per_axis("dilation", 1), per_axis("stride", 1), causal
        )
        tokens = math.prod(spatial)
        return mask, tokens, tokens
    if kind == "shared-prefix":
        prefix, cont_n = p.get("prefix"), p.get("continuations")
        if prefix is None or cont_n is None:
            raise SweepError(
                f"{where}: shared-prefix needs prefix and continuations; expected both"
            )
        cont = p.get("continuation_len")
        if cont is None:
            if seq is None or (seq - prefix) < cont_n or (seq - prefix) % cont_n:
                raise SweepError(
                    f"{where}.seq: {seq} does not split into prefix {prefix} + {cont_n} equal continuations; expected prefix + N x length"
                )
            cont = (seq - prefix) // cont_n
        total = prefix + cont_n * cont
        return SharedPrefixMask(prefix, cont_n, cont, True), total, total
    if seq is None:
        raise SweepError(f"{where}.seq: missing; expected the query length in tokens")
    kv = seq if kv_seq is None else kv_seq
    if kind == "full":
        return FullMask(), seq, kv
    if kind == "causal":
        return CausalMask(), seq, kv
    if kind == "window":
        w = p.get("window")
        if not isinstance(w, int) or not 1 <= w <= kv:
            raise SweepError(
                f"{where}.window: {w!r}; expected a window in tokens, 1 <= window <= {kv}"
            )
        return SlidingWindowMask(left=w - 1, right=0), seq, kv
    if kind == "block-sparse":
        density = float(p.get("density") or 0.1)
        block = int(p.get("block") or 64)
        layout = random_block_layout(seq, kv, block, density, int(p.get("seed", 0)))
        return BlockSparseMask(block, block, layout), seq, kv
    raise SweepError(
        f"{where}.mask: unknown mask {kind!r}; expected one of full, causal, window, "
        "neighborhood, block-sparse, shared-prefix"
    )


def _attention(p: Mapping[str, Any], where: str, label: str) -> Workload:
    mask, q_len, kv_len = _mask(p, where)
    return attention_workload(
        int(p.get("batch", 1)),
        int(p["heads"]),
        q_len,
        int(p["head_dim"]),
        kv_heads=p.get("kv_heads"),
        kv_len=kv_len,
        head_dim_v=p.get("head_dim_v"),
        mask=mask,
        phase=str(p.get("phase", "prefill")),
        dtype=str(p.get("dtype", "fp16")),
        name=label,
        meta={"recipe": "sweep attention"},
    )


def _trace(p: Mapping[str, Any]) -> Workload:
    from attnsim.workloads.zoo import build_workload

    return build_workload(
        str(p["model"]),
        batch=int(p.get("batch", 1)),
        seq=p.get("seq"),
        phase=str(p.get("phase", "prefill")),
        kv_len=int(p.get("kv_len", 0)),
        dtype=str(p.get("dtype", "bf16")),
        image_size=p.get("image_size"),
        overrides=p.get("overrides"),
        weights=p.get("weights"),
    )


def _combos(recipe: WorkloadRecipe) -> list[dict[str, Any]]:
    keys = list(recipe.axes)
    grid = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*recipe.axes.values())]
    variants = list(recipe.variants) or [{}]
    return [{**g, **v} for g in grid for v in variants]


def _short(v: Any) -> str:
    return "x".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def build_workloads(recipes: tuple[WorkloadRecipe, ...], source: str) -> tuple[WorkloadCase, ...]:
    """Every workload of the spec, built (traced, generated or read) and digested.

    Raises :class:`SweepError` with every problem (each naming the workload entry)."""
    problems: list[str] = []
    out: list[WorkloadCase] = []
    labels: dict[str, int] = {}
    for recipe in recipes:
        where = f"{source}: {recipe.where}"
        for combo in _combos(recipe):
            params = {**recipe.params, **combo}
            if recipe.kind == "file":
                base = recipe.name or None
            elif recipe.kind == "trace":
                base = recipe.name or str(params.get("model"))
            else:
                base = recipe.name or f"attention-{params.get('mask', 'full')}"
            varied = ",".join(f"{k}={_short(v)}" for k, v in sorted(combo.items()))
            try:
                if recipe.kind == "file":
                    w = load_workload(params["path"])
                    base = base or w.name
                elif recipe.kind == "trace":
                    w = _trace(params)
                else:
                    w = _attention(params, f"{where}.attention", str(base))
            except (WorkloadError, SweepError) as exc:
                tag = f" ({varied})" if varied else ""
                problems += [f"{where}{tag}: {line}" for line in exc.problems]
                continue
            label = f"{base}[{varied}]" if varied else str(base)
            if label in labels:
                labels[label] += 1
                label = f"{label}#{labels[label]}"
            else:
                labels[label] = 1
            out.append(WorkloadCase(label, recipe.weight, w, workload_digest(w), combo))
    if problems:
        raise SweepError(problems)
    return tuple(out)
