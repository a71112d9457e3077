"""The fuzz harness of ``test_fuzz_cli.py``: run one generated input in-process, classify
what happened, and mutate real documents.

An input *passes* when it is accepted or refused as bad input: a ``ProblemsError`` (any
layer's subclass) from a loader, or exit code 0/2 from ``attnsim.cli.main.main`` whose
stderr lines all start with ``attnsim`` (one line per problem, no traceback). Anything
else escaping is a *traceback*. An input that takes more than :data:`CPU_LIMIT_S` of CPU
time (or :data:`WALL_LIMIT_S` of wall time, a backstop enforced by ``SIGALRM``) is a
*hang*: bounds on input must refuse hostile sizes before they are expanded, so no input
of the campaigns may take long. CPU time is used so that a loaded CI machine does not
turn slow-but-bounded work into false hangs.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnsim.cli.main import main
from attnsim.errors import ProblemsError

#: CPU seconds an input may take.
CPU_LIMIT_S = 1.0
#: Wall seconds before an input is interrupted as a hang (a backstop for blocking calls).
WALL_LIMIT_S = 20.0


class _Hang(BaseException):
    """Raised by SIGALRM inside an input that ran past the wall-clock backstop."""


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


@dataclass
class Campaign:
    """Counts and failures of one family of inputs."""

    family: str
    count: int = 0
    accepted: int = 0
    failures: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")

    def _fail(self, kind: str, label: str, detail: str) -> None:
        if len(self.failures) < 200:
            self.failures.append(f"{kind}: {detail}\n    input: {label[:3000]}")

    def run(self, label: str, fn: Callable[[], Any]) -> Any:
        """Run one input; returns what ``fn`` returned, or None when it was refused.
        ``fn`` returning False (a command that exited 2) counts as refused."""
        self.count += 1
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, WALL_LIMIT_S)
        start = time.process_time()
        result = None
        try:
            result = fn()
            self.accepted += result is not False
        except ProblemsError as exc:
            for line in exc.problems:
                if "\n" in line or not line.strip():
                    self._fail("malformed problem line", label, repr(line))
        except _Hang:
            self._fail("hang", label, f"still running after {WALL_LIMIT_S} s (wall)")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a traceback is what we look for
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            self._fail("traceback", label, f"{type(exc).__name__} at {where}: {str(exc)[:300]}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        cpu = time.process_time() - start
        if cpu > self.slowest[0]:
            self.slowest = (cpu, label[:200])
        if cpu > CPU_LIMIT_S:
            self._fail("hang", label, f"{cpu:.2f} s of CPU time (limit {CPU_LIMIT_S} s)")
        return result

    def summary(self) -> str:
        return (
            f"{self.family}: {self.count} inputs ({self.accepted} accepted), "
            f"{len(self.failures)} failures, slowest {self.slowest[0] * 1e3:.0f} ms"
        )


@dataclass(frozen=True)
class CliOutcome:
    """What ``main(argv)`` did: exit code and captured streams."""

    code: int
    out: str
    err: str


def run_main(argv: Sequence[str]) -> CliOutcome:
    """``attnsim.cli.main.main(argv)`` in-process with stdout/stderr captured.

    Raises ``AssertionError`` (a failure of the campaign) when the exit code is neither 0
    nor 2, or when a refusal's stderr is not one ``attnsim ...`` line per problem.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    outcome = CliOutcome(int(code), out.getvalue(), err.getvalue())
    if outcome.code not in (0, 2):
        raise AssertionError(f"exit code {outcome.code}; stderr {outcome.err[-500:]!r}")
    if outcome.code == 2:
        lines = outcome.err.splitlines()
        if not lines and argv_json(argv):
            json.loads(outcome.out)  # --json: the problems are in the JSON report
        elif not lines or any(not line.startswith("attnsim") for line in lines):
            raise AssertionError(f"exit 2 without one attnsim line per problem: {outcome.err!r}")
    if "Traceback" in outcome.err:
        raise AssertionError(f"a traceback on stderr: {outcome.err[-500:]!r}")
    return outcome


def argv_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON output."""
    return "--json" in argv


# --------------------------------------------------------------------------------------
# mutation of real documents
# --------------------------------------------------------------------------------------

#: Values that replace a leaf: wrong types, hostile sizes, non-numbers.
HOSTILE: tuple[Any, ...] = (
    0,
    -1,
    2**62,
    2**63,
    10**400,
    3 * 10**8,
    2**31,
    1e300,
    float("inf"),
    float("nan"),
    "x",
    "",
    None,
    True,
    [],
    {},
    [1, 2],
)
#: Edits of an integer leaf: small steps that stay plausible, or jumps far past any bound
#: (never into the legitimately-large middle: a 512k-token prefill simulates for minutes,
#: which is work, not a hang).
INT_EDITS: tuple[Callable[[int], int], ...] = (
    lambda v: v + 1,
    lambda v: v - 1,
    lambda v: v * 2,
    lambda v: v // 2,
    lambda v: v // 3,
    lambda v: 1,
    lambda v: 0,
    lambda v: 7,
    lambda v: -v,
    lambda v: v * 10**9,
    lambda v: v * 10**15,
    lambda v: 3 * 10**8,
    lambda v: 2**40,
)


def leaf_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Key paths of every node below ``node`` (dict keys and list indices)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(leaf_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(leaf_paths(value, (*prefix, i)))
    return out


def mutate(rng: random.Random, doc: Any, edits: int | None = None) -> Any:
    """A copy of ``doc`` with 1-3 edits: integers stepped or blown up, booleans flipped,
    floats scaled, list items duplicated or dropped, keys deleted, leaves replaced by
    :data:`HOSTILE` values."""
    doc = copy.deepcopy(doc)
    for _ in range(edits or rng.randint(1, 3)):
        paths = leaf_paths(doc)
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        value, roll = parent[last], rng.random()
        if isinstance(value, bool):
            parent[last] = (not value) if roll < 0.8 else rng.choice(HOSTILE)
        elif isinstance(value, int):
            parent[last] = rng.choice(INT_EDITS)(value) if roll < 0.85 else rng.choice(HOSTILE)
        elif isinstance(value, float):
            scale = rng.choice([0.5, 2.0, 1e3, 1e-3, -1.0, 0.0])
            parent[last] = value * scale if roll < 0.8 else rng.choice(HOSTILE)
        elif isinstance(value, list) and value and roll < 0.5:
            if rng.random() < 0.5:
                value.append(copy.deepcopy(rng.choice(value)))
            else:
                value.pop(rng.randrange(len(value)))
        elif roll < 0.15 and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = rng.choice(HOSTILE)
    return doc


def to_json(doc: Any) -> str:
    """JSON text of ``doc`` (NaN and infinities as the literals Python writes)."""
    return json.dumps(doc, default=str)


def mutate_text(rng: random.Random, text: str) -> str:
    """Byte-level damage: truncation, a flipped character, deep nesting, a huge literal."""
    roll = rng.random()
    if roll < 0.25:
        return text[: rng.randrange(len(text) + 1)]
    if roll < 0.45:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice('{}[]",:0-9eE.x\x00\n') + text[i + 1 :]
    if roll < 0.6:
        depth = rng.choice([40, 1000, 100_000])
        i = text.find(": ", rng.randrange(len(text))) + 2 or 1
        return text[:i] + "[" * depth + "1" + "]" * depth + text[text.find(",", i) :]
    if roll < 0.8:
        literal = rng.choice(["9" * 4301, "1e400", "-1e400", "NaN", "Infinity", "1" + "0" * 400])
        i = text.find(": ", rng.randrange(len(text))) + 2 or 1
        end = min(p for p in (text.find(",", i), text.find("}", i), len(text)) if p >= 0)
        return text[:i] + literal + text[end:]
    i = rng.randrange(len(text))
    return text[:i] + text[i:][: rng.randrange(64)] * rng.choice([2, 50]) + text[i:]
