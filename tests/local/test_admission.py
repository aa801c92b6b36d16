"""Admission control: a few requests at work, a bounded short wait, then 429 or 503 with Retry-After
(issue 15: overload is answered, never queued until clients time out or connections reset)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest

from taskbeacon.local.aws.admission import Admission, Verdict
from taskbeacon.local.aws.gateway import Gateway
from taskbeacon.local.aws.lambda_runtime import LambdaRuntime
from taskbeacon.local.aws.principals import PrincipalRegistry


def test_a_turn_is_given_while_one_is_free_and_given_back() -> None:
    admission = Admission(active=1, waiting=0)
    assert admission.enter() is Verdict.ADMITTED
    assert admission.enter() is Verdict.QUEUE_FULL
    admission.leave()
    assert admission.enter() is Verdict.ADMITTED


def test_a_waiter_is_refused_when_no_turn_comes_within_the_wait() -> None:
    admission = Admission(active=1, waiting=1, max_wait=0.01)
    assert admission.enter() is Verdict.ADMITTED
    assert admission.enter() is Verdict.WAITED_TOO_LONG
    assert admission.refused == {"429": 0, "503": 1}


def test_a_waiter_gets_the_turn_that_is_given_back() -> None:
    admission = Admission(active=1, waiting=1, max_wait=60)  # the wait is a safety net, never reached
    assert admission.enter() is Verdict.ADMITTED
    verdicts: list[Verdict] = []
    waiter = threading.Thread(target=lambda: verdicts.append(admission.enter()))
    waiter.start()
    admission.leave()
    waiter.join(60)
    assert verdicts == [Verdict.ADMITTED]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway(PrincipalRegistry("111122223333"), LambdaRuntime(), "127.0.0.1", 0, region="us-east-1")
    server.start()
    yield server
    server.stop()


def _post(gateway: Gateway) -> http.client.HTTPResponse:
    host, port = gateway.server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=30)
    connection.request("POST", "/snapshots", body=b"{}", headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def test_the_gateway_answers_429_with_retry_after_when_its_queue_is_full(gateway: Gateway) -> None:
    gateway.admission = Admission(active=0, waiting=0)  # a tiny limit: nothing is admitted
    answer = _post(gateway)
    assert answer.status == 429
    assert answer.getheader("Retry-After") == "2"


def test_the_gateway_answers_503_with_retry_after_when_the_wait_runs_out(gateway: Gateway) -> None:
    gateway.admission = Admission(active=0, waiting=1, max_wait=0.01, retry_after=2)
    answer = _post(gateway)
    assert answer.status == 503
    assert answer.getheader("Retry-After") == "2"


def test_an_admitted_request_is_answered_as_before(gateway: Gateway) -> None:
    answer = _post(gateway)  # unsigned: API Gateway's own 403, after admission
    assert answer.status == 403
    assert gateway.admission.refused == {"429": 0, "503": 0}
