"""The ``attnsim`` command line: a thin layer over the public API.

Each command group lives in its own module under ``attnsim.cli`` and exposes
``register(subparsers)`` (adds its sub-commands; each sets ``func``, a callable taking the
parsed ``argparse.Namespace`` and returning an exit code) and ``ERRORS`` (the exception
types that mean "bad input": the CLI prints their lines and exits 2, never a traceback).
Adding a command group is one module plus one line in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from attnsim.errors import ProblemsError

#: Modules under ``attnsim.cli`` that register command groups, in ``--help`` order.
COMMAND_MODULES: tuple[str, ...] = (
    "hw",
    "workload",
    "simulate",
    "fit",
    "demo",
    "measure",
    "validate",
    "trace",
    "calibrate",
    "sweep",
    "report",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def _load_modules() -> list[ModuleType]:
    return [importlib.import_module(f"attnsim.cli.{name}") for name in COMMAND_MODULES]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``attnsim COMMAND: error: ...``)
    and exit 2, like every other bad input; ``--help`` still shows the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(modules: Sequence[ModuleType] | None = None) -> argparse.ArgumentParser:
    """Build the full ``attnsim`` argument parser (every group registered)."""
    parser = OneLineParser(
        prog="attnsim",
        description="Hardware simulator and accelerator co-design for attention workloads.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in modules if modules is not None else _load_modules():
        module.register(sub)
    return parser


def _error_lines(exc: BaseException) -> list[str]:
    """The one-line-per-problem rendering of a bad-input exception."""
    problems = getattr(exc, "problems", None)
    if problems:
        return [str(p) for p in problems]
    return [str(exc)]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``attnsim`` console script; returns the process exit code."""
    modules = _load_modules()
    bad_input: tuple[type[BaseException], ...] = (
        ProblemsError,
        *(err for module in modules for err in getattr(module, "ERRORS", ())),
    )
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except bad_input as exc:
        for line in _error_lines(exc):
            print(f"attnsim: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `attnsim ... | head` is not an error
        return EXIT_OK
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
