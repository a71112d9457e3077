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
import logging
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

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


class _StoreOnce(argparse.Action):
    """``store`` that refuses a second occurrence of a single-valued option, so
    ``--hw a --hw b`` is an error instead of silently keeping ``b``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        seen: set[str] = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in seen:
            parser.error(
                f"argument {'/'.join(self.option_strings)}: given twice "
                f"({getattr(namespace, self.dest)!r} and {values!r}); expected it once"
            )
        seen.add(self.dest)
        setattr(namespace, self.dest, values)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``attnsim COMMAND: error: ...``)
    and exit 2, like every other bad input; ``--help`` still shows the full usage.
    Single-valued options may be given once."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        optional = bool(args) and str(args[0]).startswith("-")
        if (
            optional
            and kwargs.get("action", "store") == "store"
            and kwargs.get("nargs")
            in (
                None,
                "?",
            )
        ):
            kwargs["action"] = _StoreOnce
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(modules: Sequence[ModuleType] | None = None) -> argparse.ArgumentParser:
    """Build the full ``attnsim`` argument parser (every group registered)."""
    parser = OneLineParser(
        prog="attnsim",
        description="Hardware simulator and accelerator co-design for attention workloads.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show third-party warnings and log messages (kept from the terminal otherwise)",
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


def _quiet_third_parties(verbose: int) -> None:
    """Keep third-party warnings (transformers' FutureWarnings on every trace, torch's
    UserWarnings) and their loggers off the user's terminal unless ``-v``."""
    if verbose > 0:
        logging.basicConfig(level=logging.INFO if verbose == 1 else logging.DEBUG)
        return
    warnings.filterwarnings("ignore")
    for name in ("transformers", "torch", "numba", "distributed", "optuna", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``attnsim`` console script; returns the process exit code."""
    modules = _load_modules()
    bad_input: tuple[type[BaseException], ...] = (
        ProblemsError,
        *(err for module in modules for err in getattr(module, "ERRORS", ())),
    )
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    _quiet_third_parties(int(getattr(args, "verbose", 0)))
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
