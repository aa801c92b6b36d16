"""The four modes. Every mode is fail-safe towards the workload: exec always execs, sidecars never crash."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional

if TYPE_CHECKING:
    from taskbeacon_agent.client import Client
    from taskbeacon_agent.sources import Collected

# The HTTP/JSON/signing modules are imported lazily (inside functions): `exec --background` forks
# and execs before paying for them, and a plain exec pays only once the report thread runs.

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NO_SOURCE = 3
EXIT_CONFIG = 4
EXIT_REJECTED = 5
EXIT_UNREACHABLE = 6


class Config:
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        source: Optional[str] = None,
        with_tags: bool = False,
        with_stats: bool = False,
        dry_run: bool = False,
        budget: float = 2.0,
        timeout: float = 2.0,
        interval: float = 30.0,
        keepalive: float = 900.0,
        stop_budget: float = 5.0,
        quiet: bool = False,
        verbose: bool = False,
        out: Optional[IO[str]] = None,
        err: Optional[IO[str]] = None,
    ) -> None:
        self.env = env
        self.source = None if source in (None, "auto") else source
        self.with_tags = with_tags
        self.with_stats = with_stats
        self.dry_run = dry_run
        self.budget = budget
        self.timeout = timeout
        self.interval = interval
        self.keepalive = keepalive
        self.stop_budget = stop_budget
        self.quiet = quiet
        self.verbose = verbose
        self.out = out or sys.stdout
        self.err = err or sys.stderr


class Reporter:
    """Collect -> envelope -> send (or print). Shared by all modes."""

    def __init__(self, cfg: Config, mode: str, client: Optional[Client] = None) -> None:
        self.cfg = cfg
        self.mode = mode
        self._builder: Any = None
        self._client = client
        self._print_lock = threading.Lock()

    def builder(self) -> Any:
        from taskbeacon_agent import envelope

        if self._builder is None:  # one per process: owns instanceId and the sequence
            self._builder = envelope.EnvelopeBuilder(self.mode)
        return self._builder

    def log(self, msg: str, verbose: bool = False) -> None:
        if self.cfg.quiet or (verbose and not self.cfg.verbose):
            return
        try:
            self.cfg.err.write("taskbeacon-agent: %s\n" % msg)
            self.cfg.err.flush()
        except (OSError, ValueError):
            pass

    def client(self) -> Client:
        from taskbeacon_agent.client import Client, ConfigError, signing_region
        from taskbeacon_agent.credentials import Resolver

        if self._client is None:
            endpoint = self.cfg.env.get("TASKBEACON_ENDPOINT")
            if not endpoint:
                raise ConfigError("TASKBEACON_ENDPOINT is not set")
            self._client = Client(
                endpoint,
                signing_region(endpoint, self.cfg.env),
                Resolver(self.cfg.env),
                timeout=self.cfg.timeout,
            )
        return self._client

    def collect(self, deadline: Optional[float], source: Optional[str] = None) -> Collected:
        from taskbeacon_agent import sources

        opts = sources.Options(
            with_tags=self.cfg.with_tags,
            with_stats=self.cfg.with_stats,
            timeout=self.cfg.timeout,
            deadline=deadline,
        )
        return sources.collect(self.cfg.env, source or self.cfg.source, opts)

    def send(self, collected: Collected, reason: str, deadline: Optional[float]) -> Dict[str, Any]:
        from taskbeacon_agent import envelope

        env = self.builder().build(collected, reason)
        if self.cfg.dry_run:
            with self._print_lock:
                indent = 2 if self.mode in ("once", "exec") else None
                self.cfg.out.write(json.dumps(env, indent=indent, ensure_ascii=False) + "\n")
                self.cfg.out.flush()
            return env
        client = self.client()
        answer = client.send(envelope.encode(env), deadline)
        self.log("sent %s snapshot #%d from %s" % (reason, env["sequence"], collected.source), verbose=True)
        if isinstance(answer, dict) and self.cfg.verbose:
            self.log("answer: %s" % json.dumps(answer)[:300], verbose=True)
        return env

    def report(self, reason: str, budget: float, source: Optional[str] = None) -> int:
        """One collect+send within `budget` seconds; returns an exit code, never raises."""
        from taskbeacon_agent.client import ConfigError, SendError
        from taskbeacon_agent.credentials import CredentialsError
        from taskbeacon_agent.sources import SourceError

        deadline = time.monotonic() + budget
        try:
            if not self.cfg.dry_run:
                self.client()  # configuration errors first, before spending time on metadata
            collected = self.collect(deadline, source)
            self.send(collected, reason, deadline)
            return EXIT_OK
        except SourceError as exc:
            self.log("no task metadata: %s" % exc)
            return EXIT_NO_SOURCE
        except (ConfigError, CredentialsError) as exc:
            self.log(str(exc))
            return EXIT_CONFIG
        except SendError as exc:
            self.log(str(exc))
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return EXIT_REJECTED
            return EXIT_UNREACHABLE if exc.retryable else EXIT_CONFIG
        except Exception as exc:  # the agent must never take the workload down
            self.log("internal error: %s" % type(exc).__name__)
            return EXIT_INTERNAL


def _bounded(fn: Callable[[], int], budget: float) -> int:
    """Run fn in a daemon thread and wait at most `budget` (+ slack): DNS lookups have no timeout."""
    result: List[int] = []
    t = threading.Thread(target=lambda: result.append(fn()), name="taskbeacon-report", daemon=True)
    t.start()
    t.join(budget + 0.25)
    return result[0] if result else EXIT_UNREACHABLE


def run_once(cfg: Config, mode: str = "once") -> int:
    rep = Reporter(cfg, mode)
    return _bounded(lambda: rep.report("start", cfg.budget), cfg.budget)


def exec_command(argv: List[str]) -> None:
    """Replace this process with argv (same pid, env, fds). Never returns."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    # CPython ignores SIGPIPE and SIGXFSZ; ignored dispositions survive exec, so restore defaults.
    for name in ("SIGPIPE", "SIGXFSZ"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)  # noqa: S606 (exec of the user's own entrypoint is the point)
    except FileNotFoundError:
        sys.stderr.write("taskbeacon-agent: command not found: %s\n" % argv[0])
        os._exit(127)
    except OSError as exc:
        sys.stderr.write("taskbeacon-agent: cannot execute %s: %s\n" % (argv[0], exc.strerror))
        os._exit(126)


def run_exec(cfg: Config, argv: List[str], background: bool = False) -> int:
    if not argv:
        sys.stderr.write("taskbeacon-agent: exec needs a command after --\n")
        return EXIT_USAGE
    try:
        rep = Reporter(cfg, "exec")
        if background:
            _report_in_grandchild(rep, cfg.budget)
        else:
            _bounded(lambda: rep.report("start", cfg.budget), cfg.budget)
    except BaseException as exc:  # fail open: whatever happened, the command runs
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("taskbeacon-agent: report skipped: %s\n" % type(exc).__name__)
    exec_command(argv)
    return EXIT_INTERNAL  # not reached


def _report_in_grandchild(rep: Reporter, budget: float) -> None:
    # Double fork: the reporter is reparented away and never becomes the workload's child to reap
    # (unless the workload is PID 1, in which case use an init such as tini / --init).
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                with contextlib.suppress(OSError):
                    os.nice(10)  # the workload starting right now gets the CPU first
                code = EXIT_INTERNAL
                try:
                    code = rep.report("start", budget)
                finally:
                    for stream in (sys.stdout, sys.stderr):
                        with contextlib.suppress(OSError, ValueError):
                            stream.flush()
                    os._exit(code)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


class _Stopper:
    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.event.set()

        for name in ("SIGTERM", "SIGINT"):
            if threading.current_thread() is threading.main_thread():
                signal.signal(getattr(signal, name), handler)


def _jittered(interval: float) -> float:
    # +-10% so a fleet started together does not poll (and post) in lockstep.
    import random

    return max(0.05, interval * random.uniform(0.9, 1.1))  # noqa: S311 (jitter, not crypto)


def run_loop(
    cfg: Config, mode: str, stop: Optional[threading.Event] = None, max_cycles: Optional[int] = None
) -> int:
    """Sidecar and daemon: report at start, then on change, plus a keepalive; on SIGTERM stop."""
    from taskbeacon_agent import envelope, sources
    from taskbeacon_agent.client import ConfigError, SendError
    from taskbeacon_agent.credentials import CredentialsError

    stopper = _Stopper()
    if stop is None:
        stopper.install()
        stop = stopper.event
    rep = Reporter(cfg, mode)
    source = "introspection" if mode == "daemon" else None
    if not cfg.dry_run:
        try:
            rep.client()
        except (ConfigError, CredentialsError) as exc:
            rep.log(str(exc))
            return EXIT_CONFIG
    last_fp: Optional[str] = None
    last_sent = 0.0
    last_collected: Optional[Collected] = None
    last_error = ""
    ever_sent = False
    cycles = 0
    while True:
        deadline = time.monotonic() + cfg.budget
        try:
            collected = rep.collect(deadline, source)
            last_collected = collected
            fp = envelope.fingerprint(collected)
            reason: Optional[str] = None
            if fp != last_fp:
                reason = "change" if ever_sent else "start"
            elif time.monotonic() - last_sent >= cfg.keepalive:
                reason = "keepalive"
            if reason is not None:
                rep.send(collected, reason, deadline)
                last_fp, last_sent, ever_sent = fp, time.monotonic(), True
            last_error = ""
        except Exception as exc:  # keep running: the next cycle retries
            msg = str(exc) if isinstance(exc, (sources.SourceError, SendError)) else type(exc).__name__
            if msg != last_error:  # log each distinct problem once, not every cycle
                rep.log(msg)
                last_error = msg
        cycles += 1
        if max_cycles is not None and cycles >= max_cycles:
            break
        if stop.wait(_jittered(cfg.interval)):
            break
    if mode != "daemon":
        _send_stop(rep, cfg, source, last_collected)
    return EXIT_OK


def _send_stop(rep: Reporter, cfg: Config, source: Optional[str], last: Optional[Collected]) -> None:
    from taskbeacon_agent.client import SendError
    from taskbeacon_agent.sources import SourceError

    deadline = time.monotonic() + cfg.stop_budget
    try:
        try:
            collected = rep.collect(deadline, source)
        except SourceError:
            if last is None:
                return
            collected = last  # the endpoint may already be gone: report what we last saw
        rep.send(collected, "stop", deadline)
    except Exception as exc:
        rep.log(
            "final stop snapshot not sent: %s"
            % (str(exc) if isinstance(exc, SendError) else type(exc).__name__)
        )
