"""One loopback HTTP server emulating, for any number of simulated tasks: TMDE v4/v3/v2, the
agent introspection API, container credentials, and the container metadata file."""

from __future__ import annotations

import copy
import datetime
import hashlib
import ipaddress
import json
import secrets
import tempfile
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from taskbeacon.emulator import docs
from taskbeacon.emulator.credentials import CredentialsProvider, fake_credentials, parse_expiration

# The ECS agent's credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is resolved against it.
ECS_CREDENTIALS_HOST = "169.254.170.2"
# Served credentials stay the same until this close to their Expiration, then the provider is asked
# again. ECS does not document when it rotates task credentials; IMDS documents new credentials "at
# least five minutes before the expiration of the old", which SDKs (botocore refreshes from 15
# minutes before) already cope with.
ROTATE_BEFORE = datetime.timedelta(minutes=5)


class SimulatedTask:
    """A task the emulator serves. Mutate with `update()` / `set_status()` to simulate changes."""

    def __init__(
        self,
        emulator: Emulator,
        key: str,
        doc: dict[str, Any],
        tags: dict[str, str] | None,
        container_instance_tags: dict[str, str] | None,
        stats: dict[str, Any] | None,
        container_docs: dict[str, dict[str, Any]] | None,
        tag_errors: list[str] | None = None,
        metadata_ready: bool = True,
    ) -> None:
        self._emulator = emulator
        self.key = key
        self._doc = doc
        self.tags = tags
        self.container_instance_tags = container_instance_tags
        self.fixed_stats = stats
        self.container_docs = container_docs or {}
        # Tag fields ("TaskTags", "ContainerInstanceTags") whose ListTagsForResource call fails: the
        # v4 /taskWithTags answer is still 200, without those tags and with an Errors[] array.
        self.tag_errors = list(tag_errors or [])
        self.metadata_ready = metadata_ready
        # The full URI (with a token) and the relative URI (no token, as ECS serves it at 169.254.170.2,
        # where only the task's own network namespace reaches it) lead to the same credentials.
        self.credentials_path = "/creds/" + secrets.token_urlsafe(16)
        self.authorization_token = secrets.token_urlsafe(24)
        self.credentials_id = _uuid()
        self.relative_credentials_uri = "/v2/credentials/" + self.credentials_id
        self._credentials: dict[str, Any] | None = None
        self._credentials_expire: datetime.datetime | None = None
        self._credentials_lock = threading.Lock()
        # One endpoint id per container, like the ECS agent's per-container V3EndpointID.
        self.endpoints: dict[str, str] = {}
        for c in self.containers():
            name = str(c.get("Name"))
            fargate = doc.get("LaunchType") == "FARGATE"
            self.endpoints[name] = str(c.get("DockerId")) if fargate and c.get("DockerId") else _uuid()
        self.metadata_files: dict[str, str] = {}
        self.instance_arn_override: str | None = None

    # -- documents ------------------------------------------------------------------------------
    @property
    def doc(self) -> dict[str, Any]:
        with self._emulator.lock:
            return copy.deepcopy(self._doc)

    @property
    def task_arn(self) -> str:
        return str(self._doc.get("TaskARN"))

    @property
    def launch_type(self) -> str:
        return str(self._doc.get("LaunchType") or "EC2")

    @property
    def container_instance_arn(self) -> str:
        """The EC2 container instance this task runs on: in the task's own partition, region, account
        and cluster, in the task ARN's format (``container-instance/<cluster>/<id>`` for new task ARNs,
        ``container-instance/<id>`` for old ones). Tasks of one cluster share one instance."""
        if self.instance_arn_override:
            return self.instance_arn_override
        parts = self.task_arn.split(":", 5)
        if len(parts) == 6 and parts[5].startswith("task/"):
            partition, region, account, resource = parts[1], parts[3], parts[4], parts[5]
        else:  # not an ARN: keep the emulator's defaults
            partition, region, account, resource = "aws", "us-east-1", "111122223333", "task/default/x"
        path = resource.split("/")
        cluster = path[1] if len(path) == 3 else str(self._doc.get("Cluster") or "default").rsplit("/", 1)[-1]
        prefix = f"arn:{partition}:ecs:{region}:{account}:container-instance/"
        host = self._emulator.instance_arn_override
        if host and (
            host.startswith(f"{prefix}{cluster}/")
            or (len(path) == 2 and host.startswith(prefix) and host.count("/") == 1)
        ):
            return host  # the instance the emulator was told it runs on, where it can be this task's
        seed = f"{self._emulator.instance_seed}/{partition}/{region}/{account}/{cluster}"
        instance_id = str(uuid.UUID(hashlib.sha256(seed.encode()).hexdigest()[:32]))
        return prefix + (f"{cluster}/{instance_id}" if len(path) == 3 else instance_id)

    @container_instance_arn.setter
    def container_instance_arn(self, arn: str | None) -> None:
        self.instance_arn_override = arn

    def credentials(self) -> dict[str, Any]:
        """What the credentials endpoint serves: the same credentials until they near their
        ``Expiration`` (``ROTATE_BEFORE``), then new ones from the provider."""
        with self._credentials_lock:
            now = self._emulator.clock()
            cached, expires = self._credentials, self._credentials_expire
            if cached is None or (expires is not None and now >= expires - self._emulator.rotate_before):
                cached = dict(self._emulator.credentials_provider(self.task_arn))
                self._credentials = cached
                self._credentials_expire = parse_expiration(cached.get("Expiration"))
            return dict(cached)

    def rotate_credentials(self) -> None:
        """Forget the served credentials: the next fetch gets new ones (as after a rotation)."""
        with self._credentials_lock:
            self._credentials = self._credentials_expire = None

    def containers(self) -> list[dict[str, Any]]:
        return [c for c in self._doc.get("Containers") or [] if isinstance(c, dict)]

    def app_container(self, name: str | None = None) -> dict[str, Any]:
        for c in self.containers():
            if (name and c.get("Name") == name) or (
                not name and not str(c.get("Name")).startswith("~internal")
            ):
                return c
        raise KeyError(name or "no application container")

    def update(self, **fields: Any) -> None:
        with self._emulator.lock:
            self._doc.update(fields)

    def set_status(self, status: str, exit_code: int = 0) -> None:
        """Move the task and its containers to `status` (e.g. "STOPPED"), as the ECS agent would report."""
        now = docs.rfc3339_nano(datetime.datetime.now(datetime.UTC))
        with self._emulator.lock:
            self._doc["KnownStatus"] = status
            if status == "STOPPED":
                self._doc["DesiredStatus"] = "STOPPED"
                self._doc["ExecutionStoppedAt"] = now
            for c in self._doc.get("Containers") or []:
                c["KnownStatus"] = status
                if status == "STOPPED":
                    c["DesiredStatus"] = "STOPPED"
                    c.setdefault("ExitCode", exit_code)
                    c.setdefault("FinishedAt", now)

    def set_metadata_ready(self) -> None:
        """Rewrite this task's metadata files with `MetadataFileStatus: READY` (atomically)."""
        with self._emulator.lock:
            self.metadata_ready = True
            if self.launch_type != "FARGATE":
                self._emulator._write_metadata_files(self)

    def env(self, container: str | None = None) -> dict[str, str]:
        """What ECS would inject into `container` (default: the first app container), plus agent overrides."""
        name = str(self.app_container(container).get("Name"))
        base = self._emulator.public_url
        region = self.task_arn.split(":")[3] if self.task_arn.count(":") >= 5 else "us-east-1"
        env = {
            "ECS_CONTAINER_METADATA_URI_V4": f"{base}/v4/{self.endpoints[name]}",
            "ECS_CONTAINER_METADATA_URI": f"{base}/v3/{self.endpoints[name]}",
            "TASKBEACON_TMDE_V2_URL": f"{base}/tasks/{self.key}/v2",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": base + self.credentials_path,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.authorization_token,
            "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE" if self.launch_type == "FARGATE" else "AWS_ECS_EC2",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
        if base == f"http://{ECS_CREDENTIALS_HOST}":
            # SDKs resolve the relative URI against 169.254.170.2:80 only, and prefer it to the
            # full URI: announce it only where it leads here (the emulator at ECS's address).
            env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = self.relative_credentials_uri
        if self.launch_type != "FARGATE":
            env["TASKBEACON_INTROSPECTION_URL"] = f"{base}/v1"
            if name in self.metadata_files:
                env["ECS_CONTAINER_METADATA_FILE"] = self.metadata_files[name]
        return env

    # -- responses ------------------------------------------------------------------------------
    def task_response(self, with_tags: bool) -> dict[str, Any]:
        out = self.doc
        if with_tags:
            ec2 = self.launch_type != "FARGATE"
            errors = []
            if "TaskTags" in self.tag_errors:
                errors.append(docs.tag_error("TaskTags", self.task_arn))
            elif self.tags is not None:
                out["TaskTags"] = dict(self.tags)
            if ec2 and "ContainerInstanceTags" in self.tag_errors:
                errors.insert(0, docs.tag_error("ContainerInstanceTags", self.container_instance_arn))
            elif self.container_instance_tags is not None and ec2:
                out["ContainerInstanceTags"] = dict(self.container_instance_tags)
            if errors:
                out["Errors"] = errors
        return out

    def container_response(self, name: str) -> dict[str, Any]:
        if name in self.container_docs:
            return copy.deepcopy(self.container_docs[name])
        return copy.deepcopy(self.app_container(name))

    def task_stats(self) -> dict[str, Any]:
        if self.fixed_stats is not None:
            return copy.deepcopy(self.fixed_stats)
        return {
            str(c.get("DockerId")): docs.make_container_stats(
                str(c.get("DockerId")), str(c.get("DockerName"))
            )
            if c.get("KnownStatus") != "STOPPED"
            else {}
            for c in self.containers()
            if c.get("DockerId")
        }


def _http_url(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"


def _uuid() -> str:
    return str(uuid.uuid4())


class Emulator:
    """ECS metadata + credentials for many simulated tasks behind one loopback port.

    >>> emu = Emulator(); emu.start()
    >>> task = emu.add_task(make_task_doc("demo", "FARGATE", "111122223333", "eu-west-1", "web"))
    >>> env = task.env()   # run `taskbeacon-agent once` with this environment
    >>> emu.stop()
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials_provider: CredentialsProvider | None = None,
        metadata_dir: str | None = None,
        advertise_host: str | None = None,
        rotate_before: datetime.timedelta = ROTATE_BEFORE,
    ) -> None:
        self.host = host
        self.port = port
        # The address containers use to reach the emulator (e.g. 169.254.170.2 on a Docker network,
        # as on ECS). Default: the bound address (loopback for a wildcard bind).
        self.advertise_host = advertise_host
        self.credentials_provider = credentials_provider or fake_credentials
        self.rotate_before = rotate_before
        self.clock = lambda: datetime.datetime.now(datetime.UTC)  # replaceable, for tests
        self.lock = threading.RLock()
        self.tasks: dict[str, SimulatedTask] = {}
        self._by_endpoint: dict[str, tuple[SimulatedTask, str]] = {}
        self._by_creds: dict[str, SimulatedTask] = {}
        self._by_credentials_id: dict[str, SimulatedTask] = {}
        self._own_dir = metadata_dir is None
        self.metadata_dir = metadata_dir or tempfile.mkdtemp(prefix="taskbeacon-emulator-")
        self.instance_seed = _uuid()  # container instance ids: stable per emulator, new per run
        self.instance_arn_override: str | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where this machine reaches the emulator."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return _http_url(host, self.port)

    @property
    def container_instance_arn(self) -> str:
        """The instance introspection (``/v1/metadata``) describes: the first EC2 task's.

        Setting it names the host: EC2 tasks of that instance's partition, region, account and
        cluster report it (others keep their own cluster's instance; one host has one cluster)."""
        if self.instance_arn_override:
            return self.instance_arn_override
        ec2 = [t for t in self.tasks.values() if t.launch_type != "FARGATE"]
        first = ec2[0] if ec2 else next(iter(self.tasks.values()), None)
        if first is None:
            return f"arn:aws:ecs:us-east-1:111122223333:container-instance/default/{self.instance_seed}"
        return first.container_instance_arn

    @container_instance_arn.setter
    def container_instance_arn(self, arn: str | None) -> None:
        self.instance_arn_override = arn

    @property
    def public_url(self) -> str:
        """The base of the URLs handed to tasks (their environment): --advertise-host, else `url`."""
        return _http_url(self.advertise_host, self.port) if self.advertise_host else self.url

    def add_task(
        self,
        task_doc: dict[str, Any],
        container_docs: dict[str, dict[str, Any]] | None = None,
        tags: dict[str, str] | None = None,
        stats: dict[str, Any] | None = None,
        container_instance_tags: dict[str, str] | None = None,
        tag_errors: list[str] | None = None,
        metadata_ready: bool = True,
    ) -> SimulatedTask:
        """Serve `task_doc` (a v4 /task document). Keys of container_docs are container names.

        `tag_errors`: tag fields ("TaskTags", "ContainerInstanceTags") whose lookup fails, served as
        `Errors[]` in v4 /taskWithTags. `metadata_ready=False`: the metadata file is written in its
        pre-READY shape until `task.set_metadata_ready()`.
        """
        with self.lock:
            key = f"t{len(self.tasks) + 1}"
            task = SimulatedTask(
                self,
                key,
                copy.deepcopy(task_doc),
                tags,
                container_instance_tags,
                stats,
                container_docs,
                tag_errors=tag_errors,
                metadata_ready=metadata_ready,
            )
            self.tasks[key] = task
            for name, endpoint in task.endpoints.items():
                self._by_endpoint[endpoint] = (task, name)
            self._by_creds[task.credentials_path] = task
            self._by_credentials_id[task.credentials_id] = task
            if task.launch_type != "FARGATE":  # the metadata file does not exist on Fargate
                self._write_metadata_files(task)
            return task

    def _write_metadata_files(self, task: SimulatedTask) -> None:
        doc = task.doc
        task_id = task.task_arn.rsplit("/", 1)[-1]
        for c in task.containers():
            name = str(c.get("Name"))
            if name.startswith("~internal"):
                continue
            folder = Path(self.metadata_dir) / task_id / name.replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "ecs-container-metadata.json"
            tmp = folder / "ecs-container-metadata.json.tmp"
            render = docs.metadata_file if task.metadata_ready else docs.metadata_file_not_ready
            tmp.write_text(json.dumps(render(doc, c, task.container_instance_arn), indent=4))
            tmp.replace(path)  # atomic, like the ECS agent
            task.metadata_files[name] = str(path)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Emulator:
        self._httpd = _Server((self.host, self.port), _handler(self))
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="taskbeacon-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._own_dir:
            import shutil

            shutil.rmtree(self.metadata_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routing --------------------------------------------------------------------------------
    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p] or [""]
        head = parts[0]
        if head in ("v4", "v3") and len(parts) >= 2:
            return self._tmde(head, parts[1], parts[2:])
        if head in ("v1", "v2") and len(parts) >= 2 and parts[1] == "credentials":
            return self._relative_credentials(head, parts[2:], query)
        if head == "tasks" and len(parts) >= 3 and parts[2] == "v2":
            return self._v2(self.tasks.get(parts[1]), parts[3:])
        if head == "v2":
            first = next(iter(self.tasks.values()), None)  # v2 finds the task by source IP: here, the first
            return self._v2(first, parts[1:])
        if head == "creds":
            return self._credentials(path, headers)
        return self._introspection(parts[1:], query) if head == "v1" else (404, "not found")

    def _tmde(self, version: str, endpoint: str, rest: list[str]) -> tuple[int, Any]:
        found = self._by_endpoint.get(endpoint)
        if found is None:
            # v4 answers 404 for unknown endpoint ids; v3 answers 500 (ECS agent behaviour)
            return (404 if version == "v4" else 500), "unable to get task arn from request"
        task, name = found
        tail = "/".join(rest)
        v3 = version == "v3"
        if tail == "stats":
            one = task.task_stats().get(str(task.app_container(name).get("DockerId")))
            return (200, one) if one else (500, "stats unavailable")
        answers = {
            "": lambda: (
                docs.container_to_v3(task.container_response(name)) if v3 else task.container_response(name)
            ),
            "task": lambda: docs.to_v3(task.task_response(False)) if v3 else task.task_response(False),
            "taskWithTags": lambda: docs.to_v3(task.task_response(True)) if v3 else task.task_response(True),
            # v2/v3 report containers without stats as null, v4 as {}
            "task/stats": lambda: (
                {k: (v or None) for k, v in task.task_stats().items()} if v3 else task.task_stats()
            ),
        }
        answer = answers.get(tail)
        return (200, answer()) if answer else (404, "not found")

    def _v2(self, task: SimulatedTask | None, rest: list[str]) -> tuple[int, Any]:
        if task is None:
            return 400, "unable to associate the request with a task"
        answers = {
            "metadata": lambda: docs.to_v3(task.task_response(with_tags=False)),
            "metadataWithTags": lambda: docs.to_v3(task.task_response(with_tags=True)),
            "stats": lambda: {k: (v or None) for k, v in task.task_stats().items()},
        }
        answer = answers.get("/".join(rest))
        return (200, answer()) if answer else (400, "unsupported path")

    def _credentials(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        task = self._by_creds.get(path)
        if task is None:
            return 400, {"code": "InvalidIdInRequest", "message": "CredentialsV2Request: invalid id"}
        if headers.get("authorization") != task.authorization_token:
            return 401, {"code": "AccessDenied", "message": "invalid authorization token"}
        return self._serve_credentials(task)

    def _relative_credentials(
        self, version: str, rest: list[str], query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        """``/v2/credentials/<id>`` and ``/v1/credentials?id=<id>``: no token, as the ECS agent serves
        them (ecs-agent/tmds/handlers/v1/credentials_handler.go error codes)."""
        request = "CredentialsV2Request" if version == "v2" else "CredentialsV1Request"
        ident = "/".join(rest) if version == "v2" else (query.get("id") or [""])[0]
        if not ident:
            return 400, {"code": "NoIdInRequest", "message": f"{request}: No ID in the request"}
        task = self._by_credentials_id.get(ident)
        if task is None:
            return 400, {"code": "InvalidIdInRequest", "message": f"{request}: Credentials not found"}
        return self._serve_credentials(task)

    def _serve_credentials(self, task: SimulatedTask) -> tuple[int, Any]:
        try:
            return 200, task.credentials()
        except Exception as exc:  # a provider failure looks like ECS before credentials arrive
            return 503, {"code": "CredentialsUninitialized", "message": type(exc).__name__}

    def _introspection(self, rest: list[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        ec2 = [t for t in self.tasks.values() if t.launch_type != "FARGATE"]
        if rest == ["metadata"]:
            cluster = ec2[0].doc.get("Cluster") if ec2 else "default"
            return 200, {
                "Cluster": cluster,
                "ContainerInstanceArn": self.container_instance_arn,
                "Version": "Amazon ECS Agent - v1.105.1 (emulated)",
            }
        if rest != ["tasks"]:
            return 404, "not found"
        arn = (query.get("taskarn") or [""])[0]
        docker = (query.get("dockerid") or [""])[0]
        if arn and docker:
            return 400, "both taskarn and dockerid given"
        if arn or docker:
            for t in ec2:
                if (arn and t.task_arn == arn) or (
                    docker and any(str(c.get("DockerId", "")).startswith(docker) for c in t.containers())
                ):
                    return 200, docs.introspection_task(t.doc)
            return 404, "not found"
        return 200, {"Tasks": [docs.introspection_task(t.doc) for t in ec2]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a demo fleet starts dozens of agents at once; the default backlog is 5

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up are not the emulator's problem


def _handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "taskbeacon-emulator"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: request lines would include credential paths

        def do_GET(self) -> None:
            if not _loopback_or_same(self.client_address[0], emulator.host):
                self._send(403, "forbidden")
                return
            split = urllib.parse.urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, body = emulator.route(split.path, urllib.parse.parse_qs(split.query), headers)
            except Exception as exc:
                status, body = 500, f"emulator error: {type(exc).__name__}"
            self._send(status, body)

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _loopback_or_same(client: str, bound: str) -> bool:
    # Bound to loopback (the default) nothing else can connect anyway; bound wider, the operator chose it.
    try:
        return ipaddress.ip_address(client).is_loopback or bound not in ("127.0.0.1", "::1", "localhost")
    except ValueError:
        return True
