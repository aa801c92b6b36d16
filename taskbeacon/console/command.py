"""``taskbeacon console`` (and the console beside ``taskbeacon local``): start the server, print the URL."""

from __future__ import annotations

import signal
import threading
from typing import Protocol, TextIO

from taskbeacon.api.client import Getter
from taskbeacon.api.errors import CliError
from taskbeacon.console.server import ConsoleServer

DEFAULT_PORT = 8788


class Keys(Protocol):
    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...


class LocalApi(Protocol):
    """What the console needs of local mode (its ``LocalSystem``): described here, so the console
    never imports local mode (local mode, the wing above, starts the console)."""

    @property
    def url(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def operator(self) -> Keys: ...


def start(api: Getter, port: int, endpoint: str = "") -> ConsoleServer:
    check = getattr(api, "check_credentials", None)
    if callable(check):
        check()  # no credentials or no region: say so now, not in the browser
    try:
        return ConsoleServer(api, port=port, endpoint=endpoint).start()
    except OSError as exc:
        raise CliError(
            f"cannot serve the console on 127.0.0.1:{port}: {exc} (pass --port, 0 = any free port)"
        ) from exc


def serve(api: Getter, *, port: int, out: TextIO) -> int:
    endpoint = str(getattr(api, "endpoint", ""))
    console = start(api, port, endpoint)
    out.write(
        f"taskbeacon console: serving {endpoint or 'the API'} on {console.origin} (loopback only)\n"
        f"Open this URL (it carries this run's secret; do not share it):\n\n  {console.url}\n\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        console.stop()
    return 0


def for_local(system: LocalApi, port: int = DEFAULT_PORT) -> ConsoleServer:
    """The console beside local mode, signing with its operator's keys; any free port if ``port`` is taken."""
    from taskbeacon.api.client import ApiClient, ClientConfig, StaticCredentials

    keys = StaticCredentials(system.operator.access_key, system.operator.secret_key)
    api = ApiClient(ClientConfig(endpoint=system.url, region=system.region, credentials=keys))
    try:
        return start(api, port, system.url)
    except CliError:
        if port == 0:
            raise
        return start(api, 0, system.url)
