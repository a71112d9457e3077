"""``attnsim trace``: trace a zoo model into a workload file (a thin layer over
:func:`attnsim.api.trace`, i.e. :func:`workloads.zoo.build_workload`, and
:func:`workloads.serialize.save_workload`).

* ``attnsim trace MODEL [--batch B] [--seq S] [--image-size PX] [--phase prefill|decode]
  [--kv-len L] [--dtype D] -o FILE``
* ``attnsim trace --list [--json]`` -- name, family, parameter count and description of
  every model.
* ``attnsim trace FILE.py:FUNC -o FILE`` (or ``package.module:FUNC``) -- a user's model:
  ``FUNC()`` returns ``(module, inputs)`` or ``(module, inputs, kwargs)``; the module is
  traced with those example inputs (the zoo size options do not apply).

Models are built with fake weights (nothing is downloaded or allocated), so a 70B model
at 128k tokens traces in seconds.  Unknown models and bad sizes exit 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from attnsim.fileio import check_output_path
from attnsim.reports.numbers import format_si
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


def _cmd_list(as_json: bool) -> int:
    from attnsim.workloads.zoo import list_models, parameter_count

    rows: list[dict[str, Any]] = [
        {
            "name": entry.name,
            "family": entry.family,
            "parameters": int(parameter_count(entry.name)),
            "phases": list(entry.phases),
            "description": entry.description,
        }
        for entry in list_models()
    ]
    if as_json:
        print(json.dumps({"models": rows}, indent=2))
        return 0
    table = Table(title="attnsim trace: model zoo (random weights, nothing downloaded)")
    for column in ("name", "family", "parameters", "phases", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            row["family"],
            _params(row["parameters"]),
            "/".join(row["phases"]),
            row["description"],
        )
    Console(width=160, highlight=False).print(table)
    return 0


class _TraceProgress:
    """A live line on stderr while a model traces (a 70B model takes many seconds): the
    model, the module calls traced so far and the seconds spent. Shown only when stderr
    is a terminal; counts through a global forward hook of torch, removed on exit."""

    def __init__(self, what: str, console: Console | None = None) -> None:
        self._what = what
        self._console = console or Console(stderr=True)
        self.calls = 0

    def __enter__(self) -> _TraceProgress:
        import time

        import torch

        self._start = time.monotonic()
        self._last = 0.0
        self._status = self._console.status(f"{self._what}: building the model")
        if self._console.is_terminal:
            self._status.start()

        def hook(module: Any, args: Any, output: Any) -> None:
            self.calls += 1
            now = time.monotonic()
            if now - self._last > 0.1:
                self._last = now
                self._status.update(
                    f"{self._what}: {self.calls:,} module calls traced, {now - self._start:.0f} s"
                )

        self._handle = torch.nn.modules.module.register_module_forward_hook(hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()
        self._status.stop()


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
    except SyntaxError as exc:
        raise WorkloadError(
            f"{exc.filename}:{exc.lineno}: {exc.msg}; expected a Python file that imports"
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
        return _cmd_list(args.json)
    if args.json:
        raise WorkloadError("trace: --json goes with --list; expected --list --json")
    if not args.model:
        raise WorkloadError(
            "trace: no MODEL given; expected a model name (see attnsim trace --list)"
        )
    if not args.output:
        raise WorkloadError("trace: -o/--output is missing; expected the workload file to write")
    check_output_path(args.output, option="-o")  # before the (long) trace, not after
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from attnsim.api import trace
    from attnsim.workloads.serialize import save_workload
    from attnsim.workloads.tracing import unknown_ops

    if ":" in args.model:
        module, inputs, kwargs = _user_model(args.model)
        with _TraceProgress(f"tracing {args.model}"):
            workload = trace(
                module, inputs, kwargs=kwargs, phase=None, name=args.model.split(":")[-1]
            )
        path = save_workload(workload, args.output, option="-o")
        n_ops = sum(len(b.ops) * b.count for b in workload.blocks)
        print(f"wrote {path}: {workload.name}: {n_ops:,} ops, {_flop(workload.total_flops())}")
        return 0
    with _TraceProgress(f"tracing {args.model}"):
        workload = trace(
            args.model,
            batch=args.batch,
            seq=args.seq,
            phase=args.phase,
            kv_len=args.kv_len,
            dtype=args.dtype,
            image_size=args.image_size,
            weights=args.weights,
        )
    path = save_workload(workload, args.output, option="-o")
    repeated = ", ".join(f"{b.name} x{b.count}" for b in workload.blocks if b.count > 1)
    n_ops = sum(len(b.ops) * b.count for b in workload.blocks)
    tokens = "-" if workload.tokens is None else f"{workload.tokens:,}"
    print(
        f"wrote {path}: {workload.name} {workload.meta.get('phase')} batch {workload.meta.get('batch')}"
        f" seq {workload.meta.get('seq')}: {n_ops:,} ops ({repeated or 'no repeated blocks'}), "
        f"{_flop(workload.total_flops())}, {tokens} tokens"
    )
    unknown = unknown_ops(workload)
    if unknown:
        listed = ", ".join(f"{k} x{v}" for k, v in unknown.items())
        print(f"ops the IR does not model (kept as UnknownOp): {listed}")
    return 0


def _flop(value: float) -> str:
    return format_si(value, "FLOP")


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
    p.add_argument("--json", action="store_true", help="with --list: print the zoo as JSON")
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
    p.add_argument(
        "--weights",
        default=None,
        help="how linear layers store their weights: int8 (W8A8, as an int8 accelerator "
        "stores them; ternary layers stay ternary); default: as released",
    )
    p.add_argument("-o", "--output", help="workload file to write")
    p.set_defaults(func=_cmd_trace)
