"""Small pure pieces: encoding, signing region, retry delays, progress, formatting."""

from __future__ import annotations

import io
from email.utils import formatdate
from time import time

import pytest

from taskbeacon.api.client import MAX_RETRY_AFTER, query_string, region_from_endpoint, retry_delay, segment
from taskbeacon.cli.paging import Progress
from taskbeacon.cli.render import cell, short_digest, table, when
from taskbeacon.cli.views import summary_rows


def test_query_string_is_sigv4_canonical() -> None:
    assert query_string({"tag": "a b=c", "at": "2026-11-28T09:14:00+01:00", "x": None, "limit": 5}) == (
        "at=2026-11-28T09%3A14%3A00%2B01%3A00&limit=5&tag=a%20b%3Dc"
    )


def test_segment_keeps_an_arn_in_one_segment() -> None:
    assert segment("arn:aws:ecs:r:1:task/c/id") == "arn%3Aaws%3Aecs%3Ar%3A1%3Atask%2Fc%2Fid"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "eu-west-1"),
        ("https://abc123-vpce-0123.execute-api.us-east-2.vpce.amazonaws.com/v1", "us-east-2"),
        ("https://abc.execute-api.cn-north-1.amazonaws.com.cn/prod", "cn-north-1"),
        ("https://api.example.com/prod", None),
        ("http://127.0.0.1:8000", None),
    ],
)
def test_region_from_endpoint(url: str, region: str | None) -> None:
    assert region_from_endpoint(url) == region


def test_retry_delay() -> None:
    assert retry_delay(None, 0) == 0.5
    assert retry_delay(None, 2) == 2.0
    assert retry_delay("3", 0) == 3.0
    assert retry_delay("3600", 0) == MAX_RETRY_AFTER
    assert retry_delay("-5", 0) == 0.0
    assert 0 < retry_delay(formatdate(time() + 5, usegmt=True), 0) <= 5
    assert retry_delay("soon", 1) == 1.0


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        progress = Progress(stream)
        progress.update(100, 1)
        progress.update(150, 2)
        progress.done()
    assert "fetched 150 items (2 pages)" in tty.getvalue()
    assert tty.getvalue().endswith("\r\x1b[K")
    assert pipe.getvalue() == ""


def test_cells_and_tables() -> None:
    assert [cell(v) for v in (None, "", [], {}, True, ["a", "b"], {"k": "v"}, 0)] == [
        "-", "-", "-", "-", "yes", "a,b", "k=v", "0"
    ]  # fmt: skip
    assert when("2026-11-28T10:14:03.5+01:00") == "2026-11-28T09:14:03Z"
    assert when("not a time") == "not a time"
    assert short_digest("sha256:" + "0" * 64) == "sha256:000000000000"
    assert short_digest(None) == "-"
    assert table(("A", "LONGER"), [["xyz", "1"]]) == "A    LONGER\nxyz  1"


def test_summary_shapes() -> None:
    assert summary_rows({"groups": {"prod": 2}}, "cluster") == [("prod", 2)]
    assert summary_rows([{"cluster": "prod", "count": 4}], "cluster") == [("prod", 4)]
    assert summary_rows({"items": [{"key": None, "running": 1}]}, "service") == [("-", 1)]
