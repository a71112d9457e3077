"""``attnsim trace``: trace a zoo model into a workload file (a thin layer over
:func:`attnsim.api.trace`, i.e. :func:`workloads.zoo.build_workload`, and
:func:`workloads.serialize.save_workload`).

* ``attnsim trace MODEL [--batch B] [--seq S] [--image-size PX] [--phase prefill|decode]
  [--kv-len L] [--dtype D] -o FILE``
* ``attnsim trace --list`` -- name, family, parameter count and description of every model.
* ``attnsim trace FILE.py:FUNC -o FILE`` (or ``package.module:FUNC``) -- a user's model:
  ``FUNC()`` returns ``(module, inputs)`` or ``(module, inputs, kwargs)``; the module is
  traced with those example inputs (the zoo size options do not apply).

Models are built with fake weights (nothing is downloaded or allocated), so a 70B model
at 128k tokens traces in seconds.  Unknown models and bad sizes exit 2 with one line.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from attnsim.workloads.errors import WorkloadError

ERRORS: tuple[type[BaseException], ...] = (WorkloadError,)


def _int_or_raw(text: str) -> int | str:
    """Parse an integer; anything else is passed on for the zoo to report in one line."""
    try:
        return int(text)
    except ValueError:
        return text


def _params(n: int) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.2f}{suffix}"
    return str(n)


def _cmd_list() -> int:
    from attnsim.workloads.zoo import list_models, parameter_count

    table = Table(title="attnsim trace: model zoo (random weights, nothing downloaded)")
    for column in ("name", "family", "parameters", "phases", "description"):
        table.add_column(column, overflow="fold")
    for entry in list_models():
        table.add_row(
            entry.name,
            entry.family,
            _params(parameter_count(entry.name)),
            "/".join(entry.phases),
            entry.description,
        )
    Console(width=160, highlight=False).print(table)
    return 0


def _user_model(spec: str) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """``FILE.py:FUNC`` or ``package.module:FUNC`` -> ``(module, inputs, kwargs)``."""
    import importlib
    import runpy

    where, _, func_name = spec.rpartition(":")
    try:
        if where.endswith(".py"):
            if not os.path.isfile(where):
                raise WorkloadError(f"trace: {where} does not exist; expected a Python file")
            namespace = runpy.run_path(where)
        else:
            namespace = vars(importlib.import_module(where))
    except ImportError as exc:
        raise WorkloadError(
            f"trace: cannot import {where} ({exc}); expected FILE.py:FUNC or package.module:FUNC"
        ) from None
    func = namespace.get(func_name)
    if not callable(func):
        raise WorkloadError(
            f"trace: {where} has no function {func_name!r}; expected FUNC returning (module, inputs)"
        )
    made = func()
    if not isinstance(made, tuple) or len(made) not in (2, 3):
        raise WorkloadError(
            f"trace: {func_name}() returned {type(made).__name__}; expected (module, inputs) or "
            f"(module, inputs, kwargs)"
        )
    module, inputs = made[0], made[1]
    kwargs = made[2] if len(made) == 3 else {}
    return module, inputs if isinstance(inputs, tuple) else (inputs,), dict(kwargs)


def _cmd_trace(args: argparse.Namespace) -> int:
    if args.list:
        return _cmd_list()
    if not args.model:
        raise WorkloadError(
            "trace: no MODEL given; expected a model name (see attnsim trace --list)"
        )
    if not args.output:
        raise WorkloadError("trace: -o/--output is missing; expected the workload file to write")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from attnsim.api import trace
    from attnsim.workloads.serialize import save_workload
    from attnsim.workloads.tracing import unknown_ops

    if ":" in args.model:
        module, inputs, kwargs = _user_model(args.model)
        workload = trace(module, inputs, kwargs=kwargs, phase=None, name=args.model.split(":")[-1])
        path = save_workload(workload, args.output)
        n_ops = sum(len(b.ops) * b.count for b in workload.blocks)
        print(
            f"wrote {path}: {workload.name}: {n_ops} ops, {workload.total_flops() / 1e12:.4g} TFLOP"
        )
        return 0
    workload = trace(
        args.model,
        batch=args.batch,
        seq=args.seq,
        phase=args.phase,
        kv_len=args.kv_len,
        dtype=args.dtype,
        image_size=args.image_size,
    )
    path = save_workload(workload, args.output)
    repeated = ", ".join(f"{b.name} x{b.count}" for b in workload.blocks if b.count > 1)
    n_ops = sum(len(b.ops) * b.count for b in workload.blocks)
    print(
        f"wrote {path}: {workload.name} {workload.meta.get('phase')} batch {workload.meta.get('batch')}"
        f" seq {workload.meta.get('seq')}: {n_ops} ops ({repeated or 'no repeated blocks'}), "
        f"{workload.total_flops() / 1e12:.4g} TFLOP, {workload.tokens} tokens"
    )
    unknown = unknown_ops(workload)
    if unknown:
        listed = ", ".join(f"{k} x{v}" for k, v in unknown.items())
        print(f"ops the IR does not model (kept as UnknownOp): {listed}")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``trace`` command."""
    p = subparsers.add_parser(
        "trace",
        help="trace a zoo model (fake weights) into a workload file",
        description=(
            "Trace a model of the zoo under FakeTensorMode into a workload file. "
            "Prefill runs SEQ new tokens per sequence; decode runs SEQ (default 1) new tokens "
            "against a KV cache of KV_LEN tokens (attention then sees KV_LEN + SEQ keys)."
        ),
    )
    p.add_argument(
        "model",
        nargs="?",
        help="zoo model name (see --list), or FILE.py:FUNC / package.module:FUNC returning "
        "(module, inputs[, kwargs]) for your own nn.Module",
    )
    p.add_argument("--list", action="store_true", help="list the zoo models and exit")
    p.add_argument("--batch", type=_int_or_raw, default=1, help="sequences/images (default 1)")
    p.add_argument(
        "--seq",
        type=_int_or_raw,
        default=None,
        help="new tokens per sequence (default: the model's prompt length in prefill, 1 in decode)",
    )
    p.add_argument(
        "--image-size", type=_int_or_raw, default=None, help="pixels per image side (vision models)"
    )
    p.add_argument("--phase", default="prefill", help="prefill or decode (default prefill)")
    p.add_argument(
        "--kv-len", type=_int_or_raw, default=0, help="tokens already in the KV cache (decode)"
    )
    p.add_argument("--dtype", default="bf16", help="fp32, bf16 or fp16 (default bf16)")
    p.add_argument("-o", "--output", help="workload file to write")
    p.set_defaults(func=_cmd_trace)
