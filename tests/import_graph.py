"""The repository's module import graph, read statically with ``ast`` (nothing is imported).

Every ``import`` statement in a module counts: at module level, inside a function, and under
``if TYPE_CHECKING:``. A lazy or type-only import hides a cycle from the interpreter, not from the
reader: the two modules still depend on each other (the structure review counts them the same way).

A name resolves to the deepest module of ours it reaches: ``from core.store import keys`` is an
edge to ``core.store.keys``, ``from taskbeacon.emulator import Emulator`` one to the package
``taskbeacon.emulator``. Importing a submodule also runs its parents' ``__init__``; that is not an
edge here, or every package that re-exports its own modules would be a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Each import root and the folders under it whose modules are ours (as in the Lambda asset, the
# agent's package and the repository's own packages).
ROOTS: Mapping[Path, tuple[str, ...]] = {
    REPO / "lambdas": ("core", "handlers"),
    REPO / "agent": ("taskbeacon_agent",),
    REPO: ("taskbeacon", "benchmarks", "tools", "infra"),
}

Graph = dict[str, set[str]]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of ours, by dotted name."""
    found: dict[str, Path] = {}
    for root, packages in ROOTS.items():
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                found[module_name(root, path)] = path
    return found


def _deepest(name: str, known: Mapping[str, Path]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _imported_names(module: str, path: Path, tree: ast.AST) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb from this module's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a.b import c`: the module a.b.c when there is one, else a.b (c is a name in it).
            yield from (f"{base}.{alias.name}" for alias in node.names)


def build(known: Mapping[str, Path] | None = None) -> Graph:
    """module -> the modules of ours it imports."""
    known = modules() if known is None else known
    graph: Graph = {}
    for module, path in known.items():
        targets: set[str] = set()
        for name in _imported_names(module, path, ast.parse(path.read_text(), str(path))):
            target = _deepest(name, known)
            if target is not None and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def collapse(graph: Graph, group: Callable[[str], str | None]) -> Graph:
    """The graph between groups of modules (folders, say); modules whose group is None are left out."""
    grouped: Graph = {}
    for module, targets in graph.items():
        source = group(module)
        if source is None:
            continue
        grouped.setdefault(source, set())
        for target in targets:
            into = group(target)
            if into is not None and into != source:
                grouped[source].add(into)
                grouped.setdefault(into, set())
    return grouped


def cyclic(graph: Graph) -> list[frozenset[str]]:
    """The sets of modules that import each other, directly or around a circle (two or more each)."""
    return [frozenset(component) for component in _components(graph) if len(component) > 1]


def shortest_cycle(graph: Graph, component: frozenset[str]) -> str:
    """One shortest circle through the component's first module, as ``a -> b -> a``."""
    return " -> ".join(_shortest_cycle(graph, set(component)))


def _components(graph: Graph) -> Iterable[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _shortest_cycle(graph: Graph, component: set[str]) -> list[str]:
    start = min(component)
    paths: dict[str, list[str]] = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # unreachable for a component of two or more
