"""No import cycle in the repository's Python (lambdas/, agent/, taskbeacon/, benchmarks/, tools/, infra/).

The graph is read statically (``tests/import_graph.py``). Every import statement counts: at module
level, inside a function, and under ``if TYPE_CHECKING:``. A lazy or type-only import only hides a
cycle from the interpreter; the two modules still cannot be read, moved or tested one without the
other (the structure review counts them the same way).

A failure names each circle, shortest first. Known circles that someone else is taking apart are
listed in ``KNOWN`` with an expected failure each (``xfail(strict=True)``): when one is gone, its
test passes unexpectedly and fails, which says to delete its entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import import_graph

# Known circles someone is taking apart, each with why (none today).
KNOWN: dict[frozenset[str], str] = {}


_KNOWN_PARAMS = [
    pytest.param(c, id=" <-> ".join(sorted(c)), marks=pytest.mark.xfail(strict=True, reason=reason))
    for c, reason in KNOWN.items()
]


@pytest.fixture(scope="module")
def graph() -> import_graph.Graph:
    return import_graph.build()


def test_no_import_cycle(graph: import_graph.Graph) -> None:
    found = [c for c in import_graph.cyclic(graph) if c not in KNOWN]
    circles = sorted(import_graph.shortest_cycle(graph, c) for c in found)
    assert not circles, "import cycles:\n  " + "\n  ".join(circles)


@pytest.mark.parametrize("component", _KNOWN_PARAMS)
def test_known_cycle_is_gone(graph: import_graph.Graph, component: frozenset[str]) -> None:
    assert component not in import_graph.cyclic(graph), import_graph.shortest_cycle(graph, component)


def test_the_lambda_asset_imports_only_itself(graph: import_graph.Graph) -> None:
    """The asset is lambdas/ alone (infra/bundling.py): a handler importing tools/ or taskbeacon/ breaks
    in AWS only."""
    server = {m for m, path in import_graph.modules().items() if "lambdas" in path.parts}
    outside = sorted(f"{m} -> {t}" for m in server for t in graph[m] if t not in server)
    assert not outside, "the Lambda code imports modules the asset does not hold:\n  " + "\n  ".join(outside)


def _wing(module: str) -> str | None:
    """taskbeacon's sub-packages (cli, console, api, local, emulator) and its top modules, one node each."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "taskbeacon" else None


def test_taskbeacon_wings_import_each_other_one_way(graph: import_graph.Graph) -> None:
    """cli and local start the console, the console and the cli call the API client: never back.

    Per wing, not per folder everywhere: lambdas/core/ holds the shared kernel (errors, settings) that
    its own sub-packages import, and that the kernel imports a sub-package's schema is no circle of
    modules."""
    wings = import_graph.collapse(graph, _wing)
    circles = sorted(import_graph.shortest_cycle(wings, c) for c in import_graph.cyclic(wings))
    assert not circles, "taskbeacon's wings import each other:\n  " + "\n  ".join(circles)


def test_the_checker_sees_lazy_and_type_only_imports(tmp_path: Path) -> None:
    files = {
        "pkg.a": "def f():\n    from pkg import b\n",
        "pkg.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n",
        "pkg.c": "import pkg.a\n",
        "pkg.d": "from pkg.a import f\n",
    }
    known: dict[str, Path] = {}
    for name, text in files.items():
        path = tmp_path / (name.replace(".", "/") + ".py")
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        known[name] = path
    graph = import_graph.build(known)
    assert import_graph.cyclic(graph) == [frozenset({"pkg.a", "pkg.b", "pkg.c"})]
    assert import_graph.shortest_cycle(graph, frozenset({"pkg.a", "pkg.b", "pkg.c"})) == (
        "pkg.a -> pkg.b -> pkg.c -> pkg.a"
    )
