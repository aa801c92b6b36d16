"""The CLI ships without the server code, so it keeps its own copy of the API's vocabulary; this pins
the copy to the one definition (lambdas/core/vocabulary.py)."""

from __future__ import annotations

import io
from typing import Any

from core.vocabulary import LIST_FILTERS, SEARCH_KINDS, SUMMARY_DIMENSIONS
from taskbeacon.cli import commands, parser, vocabulary


def test_summary_dimensions_are_the_apis() -> None:
    assert vocabulary.SUMMARY_BY == SUMMARY_DIMENSIONS


def test_summary_drifted_dimensions_are_the_apis() -> None:
    from core.vocabulary import DRIFTED_SUMMARY_DIMENSIONS

    assert vocabulary.DRIFTED_SUMMARY_BY == DRIFTED_SUMMARY_DIMENSIONS


def test_drifted_is_a_parameter_of_the_routes_the_cli_sends_it_to() -> None:
    from core.openapi import load_document

    paths = load_document()["paths"]
    for path in ("/tasks", "/summary"):
        assert "drifted" in {p["name"] for p in paths[path]["get"]["parameters"]}, path
    api = _Recorder()
    args = parser.build_parser().parse_args(["tasks", "list", "--drifted", "--output", "json"])
    assert commands.tasks_list(args, api, io.StringIO()) == 0
    assert api.params["drifted"] == "true"
    args = parser.build_parser().parse_args(["tasks", "list", "--output", "json"])
    commands.tasks_list(args, api, io.StringIO())
    assert api.params["drifted"] is None  # not sent


def test_search_flags_are_the_apis_search_kinds() -> None:
    assert sorted(commands.SEARCH_KEYS.values()) == sorted(SEARCH_KINDS)


class _Recorder:
    """An API that answers an empty page and remembers the query parameters it was asked."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def get(self, path: str, params: Any = None) -> Any:
        self.params = dict(params or {})
        return {"items": [], "nextCursor": None}


def test_every_list_filter_of_the_api_is_a_flag_of_tasks_list() -> None:
    api = _Recorder()
    args = parser.build_parser().parse_args(["tasks", "list", "--output", "json"])
    assert commands.tasks_list(args, api, io.StringIO()) == 0
    assert set(LIST_FILTERS) <= set(api.params)


def test_enumerated_filters_are_the_servers() -> None:
    from core.logic.lifecycle import TASK_STATUSES
    from core.normalize.common import LAUNCH_TYPES

    assert vocabulary.STATUSES == TASK_STATUSES
    assert vocabulary.LAUNCH_TYPES == LAUNCH_TYPES


def test_an_unknown_enum_value_is_a_usage_error_naming_the_allowed_values(
    capsys: Any,
) -> None:
    import pytest

    for argv in (
        ["tasks", "list", "--status", "FOO"],
        ["search", "--ip", "10.0.0.1", "--status", "running!"],
    ):
        with pytest.raises(SystemExit) as raised:
            parser.build_parser().parse_args(argv)
        assert raised.value.code == 2
        assert "must be one of PROVISIONING, PENDING" in capsys.readouterr().err
    args = parser.build_parser().parse_args(
        ["tasks", "list", "--status", "running", "--launch-type", "fargate"]
    )
    assert (args.status, args.launch_type) == ("RUNNING", "FARGATE")
