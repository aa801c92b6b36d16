"""``taskbeacon reindex``: re-derive tasks' index entries and counters from their stored records.

Two places it works on:

- a **deployed stack**, ``--table NAME``: DynamoDB directly, with the operator's own credentials
  (botocore's chain, ``--profile``, ``--region``). ``--failure-queue URL`` reads the indexer's
  on-failure queue: the task keys the indexer parked, and Lambda's own records of the batches it gave
  up on, whose tasks are read back from the table's stream while it holds them (24 h). Messages whose
  tasks end in sync are deleted; the others stay for the next run.
- **local mode** (no ``--table``): ``POST /_local/reindex`` on local mode's gateway
  (``--endpoint``/``TASKBEACON_ENDPOINT`` and the operator credentials of ``.taskbeacon/local.env``),
  which runs the same code in local mode's process and delivers its stream to the indexer.

The work itself is ``core.logic.reindex`` (see there): tasks in sync are left alone, the others are
handed back to the indexer, and reindex waits until they are in sync. Running it twice is safe.
The server code (``lambdas/``) is imported only when this command runs, as for ``taskbeacon local``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, TextIO
from urllib.parse import urlsplit

from taskbeacon import __version__
from taskbeacon.api.client import (
    RETRY_STATUSES,
    ApiClient,
    ClientConfig,
    _json_or_none,
    _reason,
    retry_delay,
)
from taskbeacon.api.errors import ApiError, CliError, ConnectionFailed, CredentialsError, ExitCode, UsageError

LOCAL_ROUTE = "/_local/reindex"
DEFAULT_WAIT = 120.0
_TASK_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):task/(?:[^/]+/)?"
    r"(?P<id>[A-Za-z0-9][A-Za-z0-9_-]{0,254})$"
)
_IDENTITY = re.compile(r"^aws[a-z-]*#\d{12}#[a-z0-9-]+#[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_SQS_HOST = re.compile(r"^sqs[.-](?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_RECEIVE_ROUNDS = 1000  # x 10 messages: a bound on one run, far above a sane failure queue
_AUTH_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}

EPILOG = """\
examples:
  taskbeacon reindex --table TABLE --failure-queue URL        the tasks the indexer could not take
  taskbeacon reindex --table TABLE --region eu-west-1 --cluster prod --dry-run
  source .taskbeacon/local.env && taskbeacon reindex --from-failures                  (local mode)
TABLE and URL are the stack outputs TableName and IndexerFailureQueueUrl. --cluster and --account
read the index, so a task that was never indexed at all is named only by the failure queue or --task.

exit codes:
  0  every task named is in sync (nothing left to derive, or no record left to index)
  1  a task is still out of sync after --wait, a record cannot be read, a failure message could not be
     resolved, or (--dry-run) a task would be re-indexed
  2  usage error (bad or missing flags)
  3  the table or the failure queue does not exist
  4  no AWS credentials, or access denied
  5  DynamoDB throttled or unavailable after retries
  6  connection error or timeout
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Re-derive tasks' index entries and summary counters from their stored records, as the "
        "indexer would: the tasks in the indexer's failure queue, given tasks, or a cluster's or an "
        "account's. Idempotent: a task already in sync is not written."
    )
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    which = parser.add_argument_group("which tasks")
    which.add_argument(
        "--from-failures",
        action="store_true",
        help="the tasks named in the indexer's failure queue (local mode: its own; a stack: --failure-queue)",
    )
    which.add_argument("--task", dest="tasks", action="append", default=[], metavar="ARN", help="a task ARN")
    which.add_argument("--cluster", metavar="NAME_OR_ARN", help="every task in this cluster's index")
    which.add_argument("--account", metavar="ID", help="every task of this 12-digit account in the index")
    where = parser.add_argument_group("where")
    where.add_argument("--table", metavar="NAME", help="a deployed stack's table (stack output TableName)")
    where.add_argument(
        "--failure-queue",
        "--from-failure-queue",
        dest="failure_queue",
        metavar="URL",
        help="the stack's indexer failure queue URL (stack output IndexerFailureQueueUrl); implies "
        "--from-failures",
    )
    where.add_argument("--profile", help="AWS profile (botocore's credential chain otherwise)")
    where.add_argument(
        "--region", help="the table's region (default: the queue URL's, else $AWS_REGION or the profile's)"
    )
    where.add_argument("--endpoint", help="local mode's URL (default: $TASKBEACON_ENDPOINT)")
    where.add_argument("--timeout", type=_seconds, default=300.0, help="seconds for local mode's answer")
    how = parser.add_argument_group("how")
    how.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for the indexer to derive the tasks handed back (default {DEFAULT_WAIT:g})",
    )
    how.add_argument("--dry-run", action="store_true", help="only say which tasks are out of sync")
    how.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    result = _deployed(plan, args) if plan.table else _local(plan, args)
    _print(result, json_output=args.json, out=sys.stdout)
    return int(ExitCode.OK if result.get("ok") else ExitCode.ERROR)


# -- options -------------------------------------------------------------------------------------


@dataclass
class Plan:
    identities: list[str] = field(default_factory=list)
    cluster: str | None = None
    account: str | None = None
    from_failures: bool = False
    table: str | None = None
    failure_queue: str | None = None
    region: str | None = None
    dry_run: bool = False


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {value!r}")
    return number


def _plan(args: argparse.Namespace) -> Plan:
    plan = Plan(identities=[_identity(task) for task in args.tasks], dry_run=args.dry_run)
    _which(plan, args)
    _where(plan, args)
    if not (plan.identities or plan.cluster or plan.account or plan.from_failures):
        raise UsageError(
            "which tasks? give --from-failures (or --failure-queue URL), --task ARN, --cluster or --account"
        )
    return plan


def _which(plan: Plan, args: argparse.Namespace) -> None:
    if args.cluster is not None:
        if not args.cluster.strip():
            raise UsageError("--cluster: give a cluster name or ARN")
        plan.cluster = args.cluster.strip()
    if args.account is not None:
        if not _ACCOUNT.match(args.account):
            raise UsageError(f"--account: must be a 12-digit AWS account id, got {args.account!r}")
        plan.account = args.account


def _where(plan: Plan, args: argparse.Namespace) -> None:
    if args.table is not None:
        if not _TABLE.match(args.table):
            raise UsageError(f"--table: not a DynamoDB table name: {args.table!r}")
        plan.table = args.table
    if args.failure_queue is not None:
        parts = urlsplit(args.failure_queue)
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
            raise UsageError(f"--failure-queue: not an SQS queue URL: {args.failure_queue!r}")
        if plan.table is None:
            raise UsageError("--failure-queue: reads a deployed stack's queue, so it needs --table NAME")
        plan.failure_queue = args.failure_queue
    plan.from_failures = args.from_failures or plan.failure_queue is not None
    if plan.table and args.from_failures and plan.failure_queue is None:
        raise UsageError("--from-failures: with --table, name the queue: --failure-queue URL")
    if plan.table and args.endpoint:
        raise UsageError("--endpoint: local mode only; with --table, reindex talks to DynamoDB directly")
    # As every taskbeacon command: --region, else the queue's, else $AWS_REGION, else the profile's.
    plan.region = args.region or _queue_region(plan.failure_queue) or os.environ.get("AWS_REGION") or None


def _identity(task: str) -> str:
    """A task ARN (either format) or a task key as the failure queue writes it, as the task's key."""
    value = task.strip()
    match = _TASK_ARN.match(value)
    if match:
        return f"{match['partition']}#{match['account']}#{match['region']}#{match['id']}"
    if _IDENTITY.match(value):
        return value
    raise UsageError(f"--task: not a task ARN (arn:aws:ecs:REGION:ACCOUNT:task/[CLUSTER/]ID): {task!r}")


def _queue_region(url: str | None) -> str | None:
    if not url:
        return None
    match = _SQS_HOST.match(urlsplit(url).hostname or "")
    return match["region"] if match else None


# -- a deployed stack ----------------------------------------------------------------------------


def _deployed(plan: Plan, args: argparse.Namespace) -> dict[str, Any]:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=plan.region)
    except ProfileNotFound as exc:
        raise CredentialsError(f"--profile: {exc}") from exc
    if not session.region_name:
        raise UsageError("--region: cannot tell the table's region; pass --region or set AWS_REGION")
    config = Config(retries={"max_attempts": 5, "mode": "standard"})
    clients = {name: session.client(name, config=config) for name in ("dynamodb", "dynamodbstreams", "sqs")}
    try:
        return _run_deployed(plan, clients, float(args.wait))
    except NoCredentialsError as exc:
        raise CredentialsError(
            "no AWS credentials found: use --profile or the AWS_* environment variables"
        ) from exc
    except ClientError as exc:
        raise _client_error(exc, plan) from exc
    except BotoCoreError as exc:
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(exc, BotoConnectionError):
            raise ConnectionFailed(f"cannot reach AWS: {exc}") from exc
        raise CliError(f"AWS client error: {exc}") from exc


def _run_deployed(plan: Plan, clients: dict[str, Any], wait: float) -> dict[str, Any]:
    _use_server_code()
    from core.errors import Throttled, Unavailable
    from core.logic.reindex import Reindexer
    from core.store.index import IndexStore
    from core.store.tasks import TaskStore

    assert plan.table is not None
    dynamodb = clients["dynamodb"]
    reindexer = Reindexer(TaskStore(plan.table, client=dynamodb), IndexStore(plan.table, client=dynamodb))
    try:
        identities = list(plan.identities)
        if plan.cluster or plan.account:
            identities += reindexer.tasks_of(cluster=plan.cluster, account=plan.account)
        messages = Messages()
        if plan.failure_queue:
            messages = _read_queue(clients["sqs"], clients["dynamodbstreams"], plan.failure_queue, wait)
            identities += messages.identities()
        report = reindexer.run(identities, wait_seconds=wait, dry_run=plan.dry_run)
    except Unavailable as exc:
        if _is_connection_error(exc.__cause__):
            raise ConnectionFailed(f"cannot reach DynamoDB: {exc.__cause__}") from exc
        raise CliError(f"DynamoDB is unavailable: {exc.message}") from exc
    except Throttled as exc:
        raise _Throttled(f"DynamoDB kept throttling: {exc.message}") from exc
    body = report.body()
    if plan.failure_queue:
        done = set(report.in_sync) | set(report.settled) | set(report.gone)
        # A dry run deletes nothing (and shows every message again).
        deleted = messages.delete_done(clients["sqs"], plan.failure_queue, set() if plan.dry_run else done)
        body["failureQueue"] = messages.summary(deleted)
        body["ok"] = body["ok"] and not messages.unresolved
    return body


class _Throttled(CliError):
    exit_code = ExitCode.THROTTLED


@dataclass
class Messages:
    """The failure queue's messages of one run: what each names, and which could not be resolved."""

    named: list[tuple[str, list[str]]] = field(default_factory=list)  # (receipt handle, task keys)
    unresolved: list[str] = field(default_factory=list)  # why, per message left in the queue
    kept: list[str] = field(default_factory=list)  # receipt handles of the unresolved messages
    read: int = 0

    def identities(self) -> list[str]:
        return [identity for _, identities in self.named for identity in identities]

    def delete_done(self, sqs: Any, url: str, done: set[str]) -> int:
        """Delete the messages whose tasks are all done; show the others again at once."""
        deleted = 0
        for receipt, identities in self.named:
            if all(identity in done for identity in identities):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
                deleted += 1
            else:
                self._show(sqs, url, receipt)
        for receipt in self.kept:
            self._show(sqs, url, receipt)
        return deleted

    @staticmethod
    def _show(sqs: Any, url: str, receipt: str) -> None:
        """Visible again now (the queue's alarm counts visible messages); best effort: without
        sqs:ChangeMessageVisibility the message comes back when its visibility timeout ends."""
        from botocore.exceptions import BotoCoreError, ClientError

        with contextlib.suppress(BotoCoreError, ClientError):
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)

    def summary(self, deleted: int) -> dict[str, Any]:
        return {"read": self.read, "deleted": deleted, "unresolved": self.unresolved}


def _read_queue(sqs: Any, streams: Any, url: str, wait: float) -> Messages:
    """Every message visible now, hidden for this run (they come back unless deleted)."""
    from core.logic.failures import ParkedTask, StreamRange, read_failure
    from core.logic.reindex import RangeUnreadable, tasks_in_stream_range

    messages = Messages()
    visibility = int(min(max(wait + 300, 60), 43_200))
    for _ in range(_RECEIVE_ROUNDS):
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=visibility
        )
        batch = answer.get("Messages", [])
        if not batch:
            break
        for message in batch:
            messages.read += 1
            failure = read_failure(message.get("Body", ""))
            if isinstance(failure, ParkedTask):
                messages.named.append((message["ReceiptHandle"], [failure.identity]))
            elif isinstance(failure, StreamRange):
                try:
                    identities = tasks_in_stream_range(streams, failure)
                except RangeUnreadable as exc:
                    messages.unresolved.append(
                        f"stream range {exc} is no longer in the stream (records live 24 h): "
                        "reindex the cluster or account it concerns"
                    )
                    messages.kept.append(message["ReceiptHandle"])
                    continue
                messages.named.append((message["ReceiptHandle"], identities))
            else:
                messages.unresolved.append(f"message {message.get('MessageId')}: not an indexer failure")
                messages.kept.append(message["ReceiptHandle"])
    return messages


def _client_error(exc: Any, plan: Plan) -> CliError:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", str(exc))
    operation = getattr(exc, "operation_name", "")
    if code in _AUTH_CODES:
        return CredentialsError(f"access denied ({code}) on {operation}: {message}")
    if code == "ResourceNotFoundException" and operation not in {"GetShardIterator", "GetRecords"}:
        return _NotFound(f"--table: no table {plan.table!r} in {plan.region or 'this region'} ({message})")
    if code in _MISSING_QUEUE:
        return _NotFound(f"--failure-queue: no such queue {plan.failure_queue!r}")
    return CliError(f"{operation}: {code}: {message}")


class _NotFound(CliError):
    exit_code = ExitCode.NOT_FOUND


def _is_connection_error(error: BaseException | None) -> bool:
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import ReadTimeoutError

    return isinstance(error, (BotoConnectionError, ReadTimeoutError))


def _use_server_code() -> None:
    from taskbeacon.local.aws.engine import use_lambdas_source

    try:
        use_lambdas_source()
    except RuntimeError as exc:
        raise CliError(f"`taskbeacon reindex` needs the server code: {exc}") from exc


# -- local mode ----------------------------------------------------------------------------------


def _local(plan: Plan, args: argparse.Namespace) -> dict[str, Any]:
    endpoint = args.endpoint or os.environ.get("TASKBEACON_ENDPOINT")
    if not endpoint:
        raise UsageError(
            "where? pass --table NAME for a deployed stack, or --endpoint URL (or source "
            ".taskbeacon/local.env) for local mode"
        )
    document: dict[str, Any] = {
        "tasks": plan.identities,
        "fromFailures": plan.from_failures,
        "dryRun": plan.dry_run,
    }
    if plan.cluster:
        document["cluster"] = plan.cluster
    if plan.account:
        document["accountId"] = plan.account
    config = ClientConfig(endpoint=endpoint, region=args.region, profile=args.profile, timeout=args.timeout)
    api = LocalApi(config)
    answer = api.post(LOCAL_ROUTE, document)
    if not isinstance(answer, dict):
        raise CliError(f"{LOCAL_ROUTE}: the answer is not a report")
    return answer


class LocalApi(ApiClient):
    """The query API client, plus one signed JSON ``POST`` (local mode's operator routes)."""

    def post(self, path: str, document: dict[str, Any]) -> Any:
        url = self.url(path)
        body = json.dumps(document).encode()
        attempt = 0
        while True:
            status, headers, data = self._post_once(url, body)
            if 200 <= status < 300:
                try:
                    return json.loads(data)
                except ValueError as exc:
                    raise CliError(f"HTTP {status} from {path}: the answer is not JSON") from exc
            if status in RETRY_STATUSES and attempt < self._config.retries:
                time.sleep(retry_delay(headers.get("Retry-After"), attempt))
                attempt += 1
                continue
            raise ApiError.from_body(status, _json_or_none(data), _reason(status, data))

    def _post_once(self, url: str, body: bytes) -> tuple[int, Any, bytes]:
        from botocore.awsrequest import AWSRequest

        if self._signer is None:
            self._signer = self._build_signer()
        signed = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"taskbeacon-cli/{__version__}",
            },
        )
        self._signer.add_auth(signed)
        request = urllib.request.Request(url, data=body, headers=dict(signed.headers.items()), method="POST")
        try:
            with self._opener.open(request, timeout=self._config.timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, exc.headers, exc.read()
            finally:
                exc.close()
        except TimeoutError as exc:
            timeout = self._config.timeout
            raise ConnectionFailed(f"{self.endpoint} did not answer within {timeout:g}s") from exc
        except urllib.error.URLError as exc:
            raise ConnectionFailed(f"cannot connect to {self.endpoint}: {exc.reason}") from exc
        except (OSError, HTTPException) as exc:
            raise ConnectionFailed(f"connection to {self.endpoint} failed: {exc}") from exc


# -- output --------------------------------------------------------------------------------------


def _print(result: dict[str, Any], *, json_output: bool, out: TextIO) -> None:
    if json_output:
        print(json.dumps(result, indent=2, sort_keys=True), file=out)
        return
    checked = result.get("checked", 0)
    lines = [
        f"checked {checked} task{'s' if checked != 1 else ''}: {result.get('inSync', 0)} in sync, "
        f"{result.get('requested', 0)} handed back to the indexer, {result.get('settled', 0)} now in sync, "
        f"{len(result.get('gone', []))} without a record"
    ]
    if result.get("changedMeanwhile"):
        lines.append(f"{result['changedMeanwhile']} changed meanwhile (the indexer takes that change)")
    queue = result.get("failureQueue")
    if isinstance(queue, dict):
        read, deleted = queue.get("read", 0), queue.get("deleted", 0)
        lines.append(f"failure queue: {read} messages read, {deleted} deleted")
        lines += [f"  left in the queue: {why}" for why in queue.get("unresolved", [])]
    for title, key in (
        ("would be re-indexed (dry run)", "pending"),
        ("still out of sync (run again, or see the indexer's errors)", "unsettled"),
    ):
        if result.get(key):
            lines.append(f"{title}:")
            lines += [f"  {identity}" for identity in result[key]]
    for identity, why in (result.get("unreadable") or {}).items():
        lines.append(f"record cannot be read: {identity}: {why}")
    print("\n".join(lines), file=out)
