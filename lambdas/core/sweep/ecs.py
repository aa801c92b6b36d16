"""The sweep's ECS reads in one member account and region, paced and patient.

Every call goes through the account-region's token bucket (``ratelimit.TokenBucket``) and is made
exactly once by botocore (its own retries are off, so no retry slips past the bucket). Throttling
and server-side errors are retried here with capped exponential backoff and full jitter, the
waiting done through the bucket; when the invocation's time budget would run out first,
``OutOfTime`` tells the worker to hand the rest to a continuation. Nothing is dropped.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.sweep.ratelimit import TokenBucket

log = logging.getLogger("taskbeacon.sweep")

PAGE_SIZE = 100  # ListTasks' maximum page, and DescribeTasks' maximum tasks per call
REVISIONS_PER_CALL = 20  # DescribeServiceRevisions' maximum ARNs per call
DEPLOYMENT_PAGES = 5  # ListServiceDeployments pages of 100 read per service before giving up on it
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
SERVER_CODES = frozenset(
    {"ServerException", "ServiceUnavailableException", "InternalFailure", "InternalError"}
)
CLUSTER_GONE_CODES = frozenset({"ClusterNotFoundException"})
SESSION_NAME = "taskbeacon-sweep"


class OutOfTime(Exception):
    """The invocation's time budget cannot cover another call (or the wait before it): resume later."""

    def __init__(self, message: str = "time budget exhausted", *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


@dataclass
class CallStats:
    calls: Counter[str] = field(default_factory=Counter)  # per ECS API, every attempt counted
    throttled: int = 0  # ThrottlingException answers
    retried: int = 0  # attempts repeated after throttling or a server error

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code is not None else None
    return None


class EcsReader:
    """ListClusters, ListTasks and DescribeTasks of one account-region, and for drift
    ListServiceDeployments and DescribeServiceRevisions, through one limiter.

    ``remaining`` says how many seconds the invocation has left; ``reserve`` is what must stay
    free after a call to record its answer. ``random`` (0..1) draws the jitter (tests pin it).
    """

    def __init__(
        self,
        client: Any,
        limiter: TokenBucket,
        *,
        remaining: Callable[[], float] = lambda: float("inf"),
        reserve: float = 30.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        random: Callable[[], float] = random.random,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be 1-{PAGE_SIZE}")
        self.page_size = page_size
        self.client = client
        self.limiter = limiter
        self.remaining = remaining
        self.reserve = reserve
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.random = random
        self.stats = CallStats()
        # Drift's reads, kept for the invocation (core.sweep.worker): a service's deployments and
        # the service revisions (immutable) asked once each.
        self._deployments: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._revisions: dict[str, dict[str, Any] | None] = {}

    def out_of_time(self) -> bool:
        return self.remaining() < self.reserve

    def _call(self, api: str, method: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        attempt = 0
        throttled = False
        while True:
            if self.out_of_time():
                raise OutOfTime(f"no time left for {api}", throttled=throttled)
            self.limiter.acquire()
            self.stats.calls[api] += 1
            try:
                response: dict[str, Any] = getattr(self.client, method)(**params)
                return response
            except ClientError as error:
                code = error_code(error)
                if code in THROTTLING_CODES:
                    self.stats.throttled += 1
                    throttled = True
                elif code not in SERVER_CODES:
                    raise
                problem: BaseException = error
            except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError) as error:
                problem = error
            # Capped exponential backoff with full jitter (AWS's recommendation for throttling).
            delay = self.random() * min(self.backoff_cap, self.backoff_base * 2**attempt)
            attempt += 1
            if self.remaining() - delay < self.reserve:
                raise OutOfTime(
                    f"{api} still refused after {attempt} attempts", throttled=throttled
                ) from problem
            self.stats.retried += 1
            log.info("sweep: %s refused (%s); retrying in %.2f s", api, error_code(problem) or problem, delay)
            self.limiter.defer(delay)

    def list_clusters(self) -> list[str]:
        clusters: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"maxResults": PAGE_SIZE}
            if token:
                params["nextToken"] = token
            page = self._call("ListClusters", "list_clusters", **params)
            clusters += [arn for arn in page.get("clusterArns") or [] if isinstance(arn, str)]
            token = page.get("nextToken")
            if not token:
                return clusters

    def list_tasks(
        self, cluster: str, desired_status: str, token: str | None
    ) -> tuple[list[str], str | None]:
        """One page of the cluster's task ARNs; ``([], None)`` when the cluster no longer exists."""
        from botocore.exceptions import ClientError

        params: dict[str, Any] = {
            "cluster": cluster,
            "desiredStatus": desired_status,
            "maxResults": self.page_size,
        }
        if token:
            params["nextToken"] = token
        try:
            page = self._call("ListTasks", "list_tasks", **params)
        except ClientError as error:
            if error_code(error) in CLUSTER_GONE_CODES:
                return [], None  # deleted since ListClusters: its tasks are gone with it
            raise
        arns = [arn for arn in page.get("taskArns") or [] if isinstance(arn, str)]
        return arns, page.get("nextToken") or None

    def describe_tasks(self, cluster: str, arns: list[str]) -> tuple[list[Any], list[Any]]:
        """``(tasks, failures)`` of up to 100 tasks, with their tags."""
        from botocore.exceptions import ClientError

        if not arns:
            return [], []
        try:
            answer = self._call(
                "DescribeTasks", "describe_tasks", cluster=cluster, tasks=arns, include=["TAGS"]
            )
        except ClientError as error:
            if error_code(error) in CLUSTER_GONE_CODES:
                return [], []
            raise
        return list(answer.get("tasks") or []), list(answer.get("failures") or [])

    def list_service_deployments(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """Every deployment ECS keeps for the service (90 days), 100 a page: the API reference states
        no order, so the newest can be on any page and a partial list cannot name the current one.
        Usually one call; past ``DEPLOYMENT_PAGES`` pages, or when ECS refuses, the service is left
        unjudged (an empty list). Cached for the invocation: once per service and sweep part."""
        from botocore.exceptions import ClientError

        key = (cluster, service)
        if key in self._deployments:
            return self._deployments[key]
        found: list[dict[str, Any]] = []
        token: str | None = None
        try:
            for _ in range(DEPLOYMENT_PAGES):
                params: dict[str, Any] = {"cluster": cluster, "service": service, "maxResults": PAGE_SIZE}
                if token:
                    params["nextToken"] = token
                page = self._call("ListServiceDeployments", "list_service_deployments", **params)
                found += [d for d in page.get("serviceDeployments") or [] if isinstance(d, dict)]
                token = page.get("nextToken") or None
                if not token:
                    break
            else:
                log.warning(
                    "sweep: %s in %s has more than %d deployments listed; drift not judged",
                    service,
                    cluster,
                    DEPLOYMENT_PAGES * PAGE_SIZE,
                )
                found = []
        except ClientError as error:
            # Drift is judged where it can be: a service deleted since, or a member role without the
            # permission yet, leaves the service unjudged; the sweep itself goes on.
            log.warning("sweep: no deployments of %s in %s: %s", service, cluster, error_code(error) or error)
            found = []
        self._deployments[key] = found
        return found

    def describe_service_revisions(self, arns: list[str]) -> dict[str, Any]:
        """Service revisions by ARN, 20 a call; a revision never changes, so each is asked once an
        invocation (an ARN ECS failed to describe maps to None)."""
        from botocore.exceptions import ClientError

        wanted = [arn for arn in dict.fromkeys(arns) if arn not in self._revisions]
        for start in range(0, len(wanted), REVISIONS_PER_CALL):
            batch = wanted[start : start + REVISIONS_PER_CALL]
            try:
                answer = self._call(
                    "DescribeServiceRevisions", "describe_service_revisions", serviceRevisionArns=batch
                )
            except ClientError as error:
                log.warning("sweep: service revisions not described: %s", error_code(error) or error)
                answer = {}
            found = {
                entry.get("serviceRevisionArn"): entry
                for entry in answer.get("serviceRevisions") or []
                if isinstance(entry, dict)
            }
            for arn in batch:
                self._revisions[arn] = found.get(arn)
        return {arn: self._revisions.get(arn) for arn in arns}


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def member_role_arn(account: str, region: str, role_name: str) -> str:
    """The member account's read-only role: one per region (IAM names are global, a StackSet
    instance runs per region), named ``<role name>-<region>``."""
    return f"arn:{partition_of(region)}:iam::{account}:role/{role_name}-{region}"


def member_ecs_client(
    account: str,
    region: str,
    role_name: str,
    *,
    sts: Any,
    endpoint_url: str | None = None,
) -> Any:
    """An ECS client of ``account``/``region`` signed with the member role's session credentials."""
    import boto3
    from botocore.config import Config

    answer = sts.assume_role(
        RoleArn=member_role_arn(account, region, role_name), RoleSessionName=SESSION_NAME, DurationSeconds=900
    )
    credentials = answer["Credentials"]
    config = Config(
        connect_timeout=5,
        read_timeout=20,
        retries={"total_max_attempts": 1, "mode": "standard"},  # every retry goes through our bucket
    )
    return boto3.client(
        "ecs",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=config,
    )
