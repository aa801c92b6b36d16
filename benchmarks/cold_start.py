"""Handler cold start to first answer, against `import boto3` + a client + one GetItem, in the same run.

    .venv/bin/python -m benchmarks.cold_start [--runs 15] [--json out.json]

Every case is a fresh interpreter, timed from spawn until it has answered and exited, with the
DynamoDB endpoint pointed (``AWS_ENDPOINT_URL_DYNAMODB``) at moto's server (``ThreadedMotoServer``
on 127.0.0.1, in this process):

- floor: ``import boto3``, ``boto3.client("dynamodb")``, one ``GetItem``;
- query: imports ``handlers.query`` and answers ``GET /tasks/{taskId}`` (by task ARN: one read);
- ingest: imports ``handlers.ingest`` and answers ``POST /snapshots`` (a new task, tmde-v4);
- events: imports ``handlers.events`` and takes one ``ECS Task State Change`` (a new task).

The environment is the stack's (``POWERTOOLS_TRACE_DISABLED=true``, namespace, service name), and
every case must succeed (202/200/accepted), or the benchmark stops. One round runs every case once
in a shuffled order; figures are medians over the rounds, as ratios to the floor's median. Peak
memory is each child's own ``VmHWM`` (/proc/self/status at exit), the figure ``/usr/bin/time -v``
prints as "Maximum resident set size" when the parent is small.

Two variants. "bundle" (the one the target applies to) is Lambda-like: ``python -S`` with
``PYTHONPATH`` set to ``lambdas/`` and a directory holding only what the asset bundles
(lambdas/requirements.txt) plus boto3, symlinked from this venv: no ``site``, no ``.pth`` files,
no dev packages for entry-point scans to walk. "site" runs the dev venv as it is (``site`` and the
editable installs' finders add the same cost to every case, which flatters the ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
FIXTURES = ROOT / "tests" / "fixtures" / "ecs"
TARGET = 1.3  # x the floor (issue 9.1)
ACCOUNT = "111122223333"
REGION = "us-east-1"
TABLE = "taskbeacon-bench"
COLLECTOR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/taskbeacon-bench-collector"
CASES = ("floor", "query", "ingest", "events")

# Peak RSS of this process image: ``ru_maxrss`` of a child started from a large parent (moto runs
# here) reports the parent's size copied at fork, so each child reports its own VmHWM on stderr.
PEAK = """
with open("/proc/self/status") as status:
    sys.stderr.write("".join(line for line in status if line.startswith("VmHWM:")))
"""

FLOOR_CODE = (
    """\
import sys
import boto3
client = boto3.client("dynamodb")
client.get_item(TableName=sys.argv[1], Key={"pk": {"S": sys.argv[2]}, "sk": {"S": sys.argv[3]}})
"""
    + PEAK
)

HANDLER_CODE = (
    """\
import json, sys
from handlers.{module} import handler
class Context:
    function_name = "taskbeacon-{module}"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:{region}:{account}:function:taskbeacon-{module}"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/taskbeacon-{module}"
    log_stream_name = "bench"
with open(sys.argv[1]) as file:
    event = json.load(file)
answer = handler(event, Context())
ok = answer.get("statusCode") == {status} if "statusCode" in answer else answer.get("accepted") is True
if not ok:
    sys.stderr.write(json.dumps(answer)[:2000] + "\\n")
    raise SystemExit(3)
"""
    + PEAK
)


# What the Lambda asset bundles (lambdas/requirements.txt) plus the runtime's boto3.
BUNDLE_REQUIREMENTS = ("aws-lambda-powertools[tracer]", "pydantic", "boto3")


def _closure(requirements: tuple[str, ...]) -> list[Any]:
    """The installed distributions these requirements pull in (extras and markers honoured)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    found: dict[str, Any] = {}
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        dist = metadata.distribution(requirement.name)
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name in found:
            continue
        found[name] = dist
        for text in dist.requires or []:
            needed = Requirement(text)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(needed)
    return list(found.values())


def make_bundle(directory: Path) -> Path:
    """A Lambda-like import root: only the bundled distributions, symlinked from this venv."""
    directory.mkdir(parents=True, exist_ok=True)
    for dist in _closure(BUNDLE_REQUIREMENTS):
        tops = {Path(str(file)).parts[0] for file in dist.files or [] if not str(file).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            target = directory / top
            if source.exists() and not target.exists():
                target.symlink_to(source)
    return directory


def _environment(endpoint: str, strict: bool, bundle: Path | None = None) -> dict[str, str]:
    if str(LAMBDAS) not in sys.path:
        sys.path.insert(0, str(LAMBDAS))
    from core.environment import environment  # the stack's variables, spelled where the stack reads them

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        **environment(table_name=TABLE, collector_role_arns=COLLECTOR_ROLE),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if strict:
        assert bundle is not None
        env["PYTHONPATH"] = os.pathsep.join([str(LAMBDAS), str(bundle)])
    return env


def _principal_identity(arn: str) -> dict[str, Any]:
    return {"accountId": ACCOUNT, "caller": "AROABENCH:" + arn.rsplit("/", 1)[-1], "userArn": arn,
            "accessKey": "ASIABENCH", "sourceIp": "10.0.0.1"}  # fmt: skip


def _rest_event(method: str, resource: str, path: str, body: str | None, caller_arn: str) -> dict[str, Any]:
    """An API Gateway REST proxy event, as ``taskbeacon.local.aws.gateway`` builds them."""
    parameters = {"taskId": path.rsplit("/", 1)[-1]} if "{taskId}" in resource else None
    headers = {"Host": "api.bench", "Content-Type": "application/json"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "accountId": ACCOUNT,
            "apiId": "bench",
            "protocol": "HTTP/1.1",
            "identity": _principal_identity(caller_arn),
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _new_task_arn() -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/bench/{uuid.uuid4().hex}"


def _snapshot_event() -> dict[str, Any]:
    task = json.loads((FIXTURES / "v4-task-fargate-docs.json").read_text())
    task["TaskARN"] = _new_task_arn()
    task["Cluster"] = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/bench"
    body = {
        "schemaVersion": 1,
        "source": "tmde-v4",
        "collectedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "sequence": 1,
        "reason": "start",
        "agent": {"version": "bench", "mode": "exec", "instanceId": "bench-agent"},
        "task": task,
    }
    return _rest_event("POST", "/snapshots", "/snapshots", json.dumps(body), COLLECTOR_ROLE.replace(
        ":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/i-0bench")  # fmt: skip


def _state_change_event() -> dict[str, Any]:
    event = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    detail = event["detail"]
    old = detail["taskArn"]
    arn = f"{old.rsplit('/', 1)[0]}/{uuid.uuid4().hex}"
    text = json.dumps(event).replace(old, arn)
    fresh: dict[str, Any] = json.loads(text)
    fresh["id"] = str(uuid.uuid4())
    return fresh


class _Bench:
    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.bundle = make_bundle(workdir / "bundle")
        self.query_path = ""
        self.floor_key: tuple[str, str] = ("", "")

    def seed(self) -> None:
        """The table, one task written through the real ingest handler (so GET has a record to read)."""
        import boto3

        sys.path.insert(0, str(LAMBDAS))
        from core.store.schema import create_table_request

        for name, value in _environment("", strict=False).items():
            if name.startswith("AWS_") and name != "AWS_ENDPOINT_URL_DYNAMODB":
                os.environ.setdefault(name, value)  # the seeding client: fake credentials, no profile

        client = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name=REGION)
        client.create_table(**create_table_request(TABLE))
        event = _snapshot_event()
        self.run_case("ingest", strict=False, event=event)
        arn = json.loads(event["body"])["task"]["TaskARN"]
        from urllib.parse import quote

        self.query_path = "/tasks/" + quote(arn, safe="")
        # The floor reads the task's largest item (its record), as GET /tasks/{taskId} does. The
        # record's body is binary (bytes), sized as its length.
        item = max(
            client.scan(TableName=TABLE)["Items"], key=lambda found: len(json.dumps(found, default=len))
        )
        self.floor_key = (item["pk"]["S"], item["sk"]["S"])

    def _event(self, case: str) -> dict[str, Any]:
        if case == "query":
            operator = f"arn:aws:iam::{ACCOUNT}:user/ops"
            return _rest_event("GET", "/tasks/{taskId}", self.query_path, None, operator)
        if case == "ingest":
            return _snapshot_event()
        return _state_change_event()

    def command(self, case: str, strict: bool, event: dict[str, Any] | None = None) -> list[str]:
        python = [sys.executable, "-S"] if strict else [sys.executable]
        if case == "floor":
            return [*python, "-c", FLOOR_CODE, TABLE, *self.floor_key]
        status = {"query": 200, "ingest": 202, "events": 0}[case]
        code = HANDLER_CODE.format(module=case, region=REGION, account=ACCOUNT, status=status)
        path = self.workdir / f"{case}-event.json"
        path.write_text(json.dumps(event if event is not None else self._event(case)))
        return [*python, "-c", code, str(path)]

    def run_case(self, case: str, strict: bool, event: dict[str, Any] | None = None) -> tuple[float, int]:
        """Seconds from spawn to exit, and peak RSS in KiB."""
        argv = self.command(case, strict, event)
        started = time.perf_counter()
        child = subprocess.Popen(
            argv, cwd=LAMBDAS, env=_environment(self.endpoint, strict, self.bundle),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, error = child.communicate()
        elapsed = time.perf_counter() - started
        text = error.decode(errors="replace")
        peak = [line.split()[1] for line in text.splitlines() if line.startswith("VmHWM:")]
        if child.returncode != 0 or not peak:
            raise RuntimeError(f"{case} failed (rc {child.returncode}): {text[-3000:]}")
        return elapsed, int(peak[0])


def run(runs: int = 15, show: bool = False) -> dict[str, object]:
    """Measure; with ``show``, print each case's command line instead and keep the server up."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with tempfile.TemporaryDirectory() as workdir:
            bench = _Bench(f"http://{host}:{port}", Path(workdir))
            bench.seed()
            if show:
                _show(bench)
                return {}
            return _measure(bench, runs)
    finally:
        server.stop()


def _measure(bench: _Bench, runs: int) -> dict[str, object]:
    results: dict[str, object] = {}
    for strict in (True, False):
        for case in CASES:  # warm the page cache and moto once per case
            bench.run_case(case, strict)
        times: dict[str, list[float]] = {case: [] for case in CASES}
        rss: dict[str, list[int]] = {case: [] for case in CASES}
        for _ in range(runs):
            order = list(CASES)
            random.shuffle(order)
            for case in order:
                seconds, kib = bench.run_case(case, strict)
                times[case].append(seconds)
                rss[case].append(kib)
        prefix = "" if strict else "site_"
        floor = statistics.median(times["floor"])
        floor_rss = statistics.median(rss["floor"])
        variant = "-S, PYTHONPATH=lambdas:bundle" if strict else "dev venv with site"
        results[f"{prefix}floor_ms"] = round(floor * 1000, 1)
        results[f"{prefix}floor_ms_note"] = f"import boto3 + client + one GetItem on moto server ({variant})"
        results[f"{prefix}floor_peak_rss_mib"] = round(floor_rss / 1024, 1)
        for case in CASES[1:]:
            median = statistics.median(times[case])
            ratio = round(median / floor, 2)
            results[f"{prefix}{case}_ms"] = round(median * 1000, 1)
            results[f"{prefix}{case}_vs_floor"] = ratio
            met = "met" if ratio <= TARGET else "NOT met"
            results[f"{prefix}{case}_vs_floor_note"] = (
                f"ratio to the floor, target <= {TARGET}x: {met} (median of {runs} interleaved, {variant})"
            )
            results[f"{prefix}{case}_peak_rss_mib"] = round(statistics.median(rss[case]) / 1024, 1)
            results[f"{prefix}{case}_peak_rss_mib_note"] = f"floor {round(floor_rss / 1024, 1)} MiB (VmHWM)"
    return results


def _show(bench: _Bench) -> None:
    """Print every case as a shell command (for ``/usr/bin/time -v`` or ``-X importtime``), then wait."""
    import shlex

    for case in CASES:
        env = _environment(bench.endpoint, True, bench.bundle)
        argv = bench.command(case, True)
        print(f"# {case}\ncd {LAMBDAS} && env -i {shlex.join(f'{k}={v}' for k, v in env.items())} \\")
        print(f"  /usr/bin/time -v {shlex.join(argv)}\n")
    input("moto server is up; press Enter to stop it ...")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--show", action="store_true", help="print each case's command line, run nothing")
    args = parser.parse_args()
    results = run(args.runs, show=args.show)
    for key, value in results.items():
        if not key.endswith("_note"):
            print(f"{key:<28} {value!s:>8}  {results.get(key + '_note', '')}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
