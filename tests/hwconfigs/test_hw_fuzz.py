"""Property: the loader rejects any garbage with its own error, never a traceback."""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from attnsim.hwconfigs import HardwareConfigError, list_targets, load_hardware, targets_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_LINE = re.compile(r"^.+: \S.*: .+; .+$", re.DOTALL)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["3.35 TB/s", "1 GHz", "-1 GiB", "0 B/s", "nan", "inf W", "1e999 B", "5 m", "TOPS"]
    ),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["version", "name", "kind", "engines", "memory", "energy", "source", "base", "value"]
    ),
    st.integers(min_value=-5, max_value=5),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=25,
)


def _load_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_hardware(path)
        except HardwareConfigError as exc:
            assert exc.problems
            for line in exc.problems:
                assert _LINE.match(line), line


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents_raise_only_hardware_config_error(doc: Any) -> None:
    _load_text(_dump(doc))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, documents, max_size=6))
def test_random_versioned_documents_raise_only_hardware_config_error(doc: dict[Any, Any]) -> None:
    _load_text(_dump({"version": 1, **doc}))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_hardware_config_error(text: str) -> None:
    _load_text(text)


_BUNDLED = {
    name: yaml.safe_load(targets_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
    for name in list_targets()
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(prefix + (key,))
            out.extend(_paths(value, prefix + (key,)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append(prefix + (i,))
            out.extend(_paths(value, prefix + (i,)))
    return out


_UNITS = ["GHz", "TB/s", "MiB", "pJ", "mW", "mm2", "TOPS", "us", "furlongs", "", "B/s/s", "J/B"]


@st.composite
def mutated_targets(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(_BUNDLED[draw(st.sampled_from(sorted(_BUNDLED)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = draw(st.sampled_from(["delete", "unit", "garbage"]))
        if action == "delete":
            del parent[last]
        elif action == "unit" and isinstance(parent[last], str):
            number = parent[last].split(" ")[0]
            parent[last] = f"{number} {draw(st.sampled_from(_UNITS))}".strip()
        else:
            parent[last] = draw(documents)
    return doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_targets())
def test_mutated_bundled_targets_load_or_raise_hardware_config_error(doc: dict[str, Any]) -> None:
    _load_text(_dump(doc))
