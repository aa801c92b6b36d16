"""Hypothesis mutations of recorded JSON payloads: fields dropped, retyped, added, wrapped in junk.

Shared by the normalizer property tests (in-process) and the handler fuzz tests (end to end), so
both explore the same space of broken documents.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

# Values that sit on the tolerance rules: limits, zero time, odd fractions and offsets, ARNs.
EDGE_VALUES: tuple[Any, ...] = (
    "",
    "☃ ünï",
    "x" * 3000,
    "~internal~ecs~pause",
    "CNI_PAUSE",
    "FARGATE",
    "RUNNING",
    "STOPPED",
    "sha256:abc",
    "repo@sha256:abc",
    "0001-01-01T00:00:00Z",
    "2020-10-02T00:43:06.31288465Z",
    "2020-10-02T00:43:06+25:00",
    "9999-12-31T23:59:59-23:59",
    "arn:aws:ecs:us-west-2:111122223333:cluster/x",
    "arn:aws:ecs:us-west-2:111122223333:task/x/0123456789abcdef0123456789abcdef",
    "arn:aws:ecs:us-west-2:111122223333:container-instance/abc",
    "arn:aws:ecs:us-west-2:111122223333:task-definition/f:1",
    2**64 - 1,
    -(2**63),
    10**40,
    0,
    -1,
)


def json_values(*, non_finite: bool = False, extra: Sequence[Any] = (), max_leaves: int = 8) -> Any:
    """Arbitrary JSON (as ``json.loads`` returns it), rich in ``EDGE_VALUES``.

    ``non_finite`` adds NaN/Infinity and lone surrogates: what Python objects may hold but a JSON
    body over HTTP cannot.
    """
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=non_finite, allow_infinity=non_finite),
        st.text(max_size=12),
        st.sampled_from([*EDGE_VALUES, *extra, *(["\ud800"] if non_finite else [])]),
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=max_leaves,
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location in ``value``, the root (``()``) first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutate(data: st.DataObject, doc: Any, values: Any, *, most: int = 4, deepest_first: bool = False) -> Any:
    """A copy of ``doc`` with 1..``most`` mutations drawn from ``data``; ``doc`` is left untouched.

    ``deepest_first`` orders the candidate locations deepest first: hypothesis favours early
    choices, and most tolerance rules live in the leaves.
    """
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, most), label="mutations")):
        candidates = list(paths(doc))
        if deepest_first:
            candidates.sort(key=len, reverse=True)
        path = data.draw(st.sampled_from(candidates), label="path")
        op = data.draw(st.sampled_from(["drop", "retype", "add", "nest"]), label="op")
        if not path:  # the whole document
            if op == "retype":
                doc = data.draw(values, label="value")
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        if op == "drop":
            del parent[key]
        elif op == "retype":
            parent[key] = data.draw(values, label="value")
        elif op == "nest":
            parent[key] = {"junk": [parent[key], data.draw(values, label="junk")]}
        elif isinstance(parent[key], dict):
            parent[key][data.draw(st.text(max_size=8), label="new key")] = data.draw(values, label="value")
        elif isinstance(parent[key], list):
            parent[key].append(data.draw(values, label="value"))
        else:
            parent[key] = [parent[key], data.draw(values, label="value")]
    return doc
