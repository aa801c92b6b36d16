"""The four modes. Every mode is fail-safe towards the workload: exec always execs, sidecars never crash."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

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
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C) before exec / before the report finished: 128 + SIGINT

# ECS sends SIGKILL 30 s after SIGTERM by default (stopTimeout); the stop snapshot must end well before.
MAX_STOP_BUDGET = 25.0

# Keepalive of an unchanged snapshot: a random interval in [12 h, 24 h], drawn anew for every
# interval (docs/decisions/agent.md: EventBridge carries the lifecycle; a keepalive only proves the
# task is still there). A single number means exactly that many seconds.
DEFAULT_KEEPALIVE: Tuple[float, float] = (12 * 3600.0, 24 * 3600.0)
Keepalive = Union[float, Tuple[float, float]]


def keepalive_after(keepalive: Keepalive) -> float:
    """Seconds until the next keepalive: `keepalive` itself, or uniform in its [low, high] range."""
    if isinstance(keepalive, tuple):
        import random

        low, high = keepalive
        return random.uniform(low, high)  # noqa: S311 (jitter, not crypto)
    return float(keepalive)


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
        keepalive: Keepalive = DEFAULT_KEEPALIVE,
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
        # Every retry/poll wait goes through here, so a sidecar can cut them short on SIGTERM.
        self.sleep: Callable[[float], None] = time.sleep
        self._tag_errors: List[str] = []
        # What report() is doing, so a budget timeout maps to the right exit code.
        self.phase = "metadata"

    def builder(self) -> Any:
        from taskbeacon_agent import envelope

        if self._builder is None:  # one per process: owns instanceId and the sequence
            self._builder = envelope.EnvelopeBuilder(self.mode)
        return self._builder

    def _sleep(self, delay: float) -> None:
        self.sleep(delay)  # looked up per call: run_loop swaps in an interruptible sleep

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
                sleep=self._sleep,
            )
        return self._client

    def collect(
        self, deadline: Optional[float], source: Optional[str] = None, with_tags: Optional[bool] = None
    ) -> Collected:
        """Read the metadata; `with_tags` overrides --with-tags (the sidecar polls without tags)."""
        from taskbeacon_agent import sources

        tags = self.cfg.with_tags if with_tags is None else with_tags
        opts = sources.Options(
            with_tags=tags,
            with_stats=self.cfg.with_stats,
            timeout=self.cfg.timeout,
            deadline=deadline,
            sleep=self._sleep,
        )
        collected = sources.collect(self.cfg.env, source or self.cfg.source, opts)
        if tags:
            self._check_tag_errors(collected)
        return collected

    def _check_tag_errors(self, collected: Collected) -> None:
        from taskbeacon_agent.envelope import tag_errors

        errors = tag_errors(collected.task)
        if errors and errors != self._tag_errors:  # once per distinct problem, not every poll
            self.log(
                "--with-tags: the ECS agent could not read tags (%s); the snapshot carries Errors[] "
                "and no tags for those fields. On EC2 the container instance role needs "
                "ecs:ListTagsForResource (or drop --with-tags)" % ", ".join(errors)
            )
        self._tag_errors = errors

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
        # One short line, and only with -v: an accepted report is the normal case, not news.
        stored = answer.get("taskIds") if isinstance(answer, dict) else None
        self.log(
            "sent %s snapshot #%d from %s%s"
            % (
                reason,
                env["sequence"],
                collected.source,
                "; stored %d task(s)" % len(stored) if isinstance(stored, list) else "",
            ),
            verbose=True,
        )
        return env

    def report(self, reason: str, budget: float, source: Optional[str] = None) -> int:
        """One collect+send within `budget` seconds; returns an exit code, never raises."""
        from taskbeacon_agent.client import ConfigError, SendError
        from taskbeacon_agent.credentials import CredentialsError
        from taskbeacon_agent.sources import SourceError

        deadline = time.monotonic() + budget
        self.phase = "metadata"
        try:
            if not self.cfg.dry_run:
                self.client()  # configuration errors first, before spending time on metadata
            collected = self.collect(deadline, source)
            self.phase = "send"
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

    def timed_out(self) -> int:
        """The exit code when the bounding thread gave up on report(): which phase was still running."""
        if self.phase == "metadata":
            self.log("no task metadata: time budget exhausted while reading it")
            return EXIT_NO_SOURCE
        self.log("API unreachable: time budget exhausted while sending")
        return EXIT_UNREACHABLE


def _bounded(fn: Callable[[], int], budget: float, on_timeout: Callable[[], int]) -> int:
    """Run fn in a daemon thread and wait at most `budget` (+ slack): DNS lookups have no timeout."""
    result: List[int] = []
    t = threading.Thread(target=lambda: result.append(fn()), name="taskbeacon-report", daemon=True)
    t.start()
    t.join(budget + 0.25)
    return result[0] if result else on_timeout()


def run_once(cfg: Config, mode: str = "once") -> int:
    rep = Reporter(cfg, mode)
    return _bounded(lambda: rep.report("start", cfg.budget), cfg.budget, rep.timed_out)


def exec_command(argv: List[str]) -> None:
    """Replace this process with argv (same pid, env, fds). Never returns."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    _undo_locale_coercion()
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


def _undo_locale_coercion(proc_environ: str = "/proc/self/environ") -> None:
    """Give the command the environment we were started with, byte for byte.

    Under the C/POSIX locale (common in slim images without LANG) CPython's PEP 538 locale
    coercion *adds* LC_CTYPE=C.UTF-8 to its own environment at start-up, which exec would hand to
    the workload. /proc/self/environ still holds the environment exactly as execve gave it.
    """
    try:
        with open(proc_environ, "rb") as fh:
            raw = fh.read()
    except OSError:
        return  # not Linux, or /proc not mounted: nothing to compare with
    original: Dict[bytes, bytes] = {}
    for entry in raw.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep:
            original.setdefault(key, value)
    environ = getattr(os, "environb", None)
    if environ is None:
        return
    before = original.get(b"LC_CTYPE")
    if environ.get(b"LC_CTYPE") != before:
        if before is None:
            del environ[b"LC_CTYPE"]
        else:
            environ[b"LC_CTYPE"] = before


def run_exec(cfg: Config, argv: List[str], background: bool = False) -> int:
    if not argv:
        sys.stderr.write("taskbeacon-agent: exec needs a command after --\n")
        return EXIT_USAGE
    try:
        rep = Reporter(cfg, "exec")
        if background:
            _report_in_grandchild(rep, cfg.budget)
        else:
            _bounded(lambda: rep.report("start", cfg.budget), cfg.budget, rep.timed_out)
    except KeyboardInterrupt:
        # Ctrl-C while the report was running: the user wants out, not the command.
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("taskbeacon-agent: interrupted; command not started\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # fail open: whatever else happened, the command runs
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


class _Interrupted(Exception):
    """SIGTERM arrived during a retry or poll wait: abandon the cycle, go to the stop snapshot."""


def run_loop(
    cfg: Config, mode: str, stop: Optional[threading.Event] = None, max_cycles: Optional[int] = None
) -> int:
    """Sidecar and daemon: report at start, then on change, plus a keepalive; on SIGTERM stop."""
    from taskbeacon_agent import sources
    from taskbeacon_agent.client import ConfigError, SendError
    from taskbeacon_agent.credentials import CredentialsError

    stopper = _Stopper()
    if stop is None:
        stopper.install()
        stop = stopper.event
    stop_event = stop
    rep = Reporter(cfg, mode)

    def interruptible_sleep(delay: float) -> None:
        # A cycle can retry for up to --budget seconds; SIGTERM must not wait for that (ECS
        # SIGKILLs after its stop timeout, 30 s by default), so waits end as soon as it arrives.
        if stop_event.wait(delay):
            raise _Interrupted()

    rep.sleep = interruptible_sleep
    source = _lifelong_source(cfg, mode)
    if not cfg.dry_run:
        try:
            rep.client()
        except (ConfigError, CredentialsError) as exc:
            rep.log(str(exc))
            return EXIT_CONFIG
    sidecar = mode != "daemon"
    state: Any = _SidecarState() if sidecar else _DaemonState()
    # --with-tags makes the ECS agent call ecs:ListTagsForResource on every tagged read: the sidecar
    # polls /task and reads /taskWithTags only for the snapshots it sends (start, change, keepalive, stop).
    poll_tags: Optional[bool] = False if sidecar else None
    last_error = ""
    cycles = 0
    while not stop.is_set():
        deadline = time.monotonic() + cfg.budget
        try:
            collected = rep.collect(deadline, source, with_tags=poll_tags)
            if source is None:
                source = collected.source
                rep.log("metadata source: %s" % source, verbose=True)
            state.cycle(rep, collected, deadline, cfg.keepalive, source)
            last_error = ""
        except _Interrupted:
            break
        except Exception as exc:  # keep running: the next cycle retries (the same source)
            msg = str(exc) if isinstance(exc, (sources.SourceError, SendError)) else type(exc).__name__
            if msg != last_error:  # log each distinct problem once, not every cycle
                rep.log(msg)
                last_error = msg
        cycles += 1
        if max_cycles is not None and cycles >= max_cycles:
            break
        if stop.wait(_jittered(cfg.interval)):
            break
    rep.sleep = time.sleep  # the stop snapshot has its own budget; nothing interrupts it
    if isinstance(state, _SidecarState):
        _send_stop(rep, cfg, source, state.last_collected)
    return EXIT_OK


def _lifelong_source(cfg: Config, mode: str) -> Optional[str]:
    """The source a long-running mode keeps: forced, else the TMDE the environment announces (None:
    auto-detect once). Re-detecting every cycle would turn a brief TMDE v4 outage into a fall-back
    to v3, whose different documents read as false "change"s."""
    from taskbeacon_agent import sources

    if mode == "daemon":
        return "introspection"
    return cfg.source or sources.advertised_source(cfg.env)


class _SidecarState:
    """One task: send at start, when its fingerprint changes, and as keepalive."""

    def __init__(self) -> None:
        self.last_fp: Optional[str] = None
        self.last_sent = 0.0
        self.keepalive_after = 0.0  # drawn anew after every snapshot sent
        self.ever_sent = False
        self.last_collected: Optional[Collected] = None

    def cycle(
        self,
        rep: Reporter,
        collected: Collected,
        deadline: float,
        keepalive: Keepalive,
        source: Optional[str],
    ) -> None:
        from taskbeacon_agent import envelope

        if not rep.cfg.with_tags:
            self.last_collected = collected
        fp = envelope.fingerprint(collected)  # of the polled document (no tags with --with-tags)
        reason: Optional[str] = None
        if fp != self.last_fp:
            reason = "change" if self.ever_sent else "start"
        elif time.monotonic() - self.last_sent >= self.keepalive_after:
            reason = "keepalive"
        if reason is not None:
            if rep.cfg.with_tags:
                # Every sent snapshot carries fresh tags (the server keeps old ones when none are sent).
                collected = rep.collect(deadline, source, with_tags=True)
                self.last_collected = collected
            rep.send(collected, reason, deadline)
            self.last_fp, self.last_sent, self.ever_sent = fp, time.monotonic(), True
            self.keepalive_after = keepalive_after(keepalive)


class _DaemonState:
    """Every task on the host, tracked one by one: only changed tasks (and due keepalives) are sent,
    in snapshots small enough for the API's size limit."""

    def __init__(self) -> None:
        # task key -> (fingerprint, monotonic time sent, seconds until its keepalive is due)
        self.sent: Dict[str, Any] = {}
        self.refused: Dict[str, str] = {}  # task key -> fingerprint the API refused (4xx)
        self.started = False
        self.keepalive: Keepalive = DEFAULT_KEEPALIVE

    def cycle(
        self,
        rep: Reporter,
        collected: Collected,
        deadline: float,
        keepalive: Keepalive,
        source: Optional[str],
    ) -> None:
        from taskbeacon_agent import envelope

        self.keepalive = keepalive
        now = time.monotonic()
        changed: List[Any] = []
        due: List[Any] = []
        current: Dict[str, str] = {}
        for task in collected.tasks or []:
            key, fp = envelope.task_key(task), envelope.task_fingerprint(task)
            current[key] = fp
            previous = self.sent.get(key)
            if previous is None or previous[0] != fp:
                changed.append(task)
            elif now - previous[1] >= previous[2]:
                due.append(task)
        for key in [k for k in self.sent if k not in current]:
            del self.sent[key]  # gone from the host (the ECS agent cleaned it up)
        for key in [k for k in self.refused if current.get(k) != self.refused[k]]:
            del self.refused[key]  # gone or changed: worth another try
        changed = [t for t in changed if envelope.task_key(t) not in self.refused]
        first_error: Optional[Exception] = None
        for tasks, reason in ((changed, "change" if self.started else "start"), (due, "keepalive")):
            for chunk in envelope.chunk_tasks(tasks):
                try:
                    self._send_chunk(rep, collected.source, chunk, reason, deadline, current)
                except _Interrupted:
                    raise
                except Exception as exc:  # the other chunks still go; these retry next cycle
                    first_error = first_error or exc
        self.started = True
        if first_error is not None:
            raise first_error

    def _send_chunk(
        self,
        rep: Reporter,
        source: str,
        chunk: List[Any],
        reason: str,
        deadline: float,
        current: Dict[str, str],
    ) -> None:
        from taskbeacon_agent import envelope
        from taskbeacon_agent.client import SendError
        from taskbeacon_agent.sources import Collected

        try:
            rep.send(Collected(source, tasks=chunk), reason, deadline)
        except SendError as exc:
            if exc.retryable:
                raise
            if len(chunk) == 1:
                # The API refuses this task as it is (400/403/413): stop resending it until it changes.
                key = envelope.task_key(chunk[0])
                self.refused[key] = current[key]
                raise
            # The API checks a report whole, so one refused task would hold back its neighbours
            # forever: send them one by one; the refused one is remembered above.
            errors: List[Exception] = []
            for task in chunk:
                try:
                    self._send_chunk(rep, source, [task], reason, deadline, current)
                except SendError as single:
                    errors.append(single)
            if errors:
                raise errors[0] from None
            return
        sent_at = time.monotonic()
        for task in chunk:  # each task draws its own next interval: a host's keepalives spread out
            key = envelope.task_key(task)
            self.sent[key] = (current[key], sent_at, keepalive_after(self.keepalive))


def _send_stop(rep: Reporter, cfg: Config, source: Optional[str], last: Optional[Collected]) -> None:
    """The final snapshot, in a daemon thread joined for at most --stop-budget (+ slack).

    Every HTTP call already has the deadline, but DNS resolution has no timeout: the join is what
    guarantees the process exits before ECS's SIGKILL (30 s after SIGTERM by default).
    """
    budget = min(cfg.stop_budget, MAX_STOP_BUDGET)
    t = threading.Thread(
        target=_send_stop_now, args=(rep, budget, source, last), name="taskbeacon-stop", daemon=True
    )
    t.start()
    t.join(budget + 0.25)
    if t.is_alive():
        rep.log("final stop snapshot not sent: --stop-budget of %gs exhausted" % budget)


def _send_stop_now(rep: Reporter, budget: float, source: Optional[str], last: Optional[Collected]) -> None:
    from taskbeacon_agent.client import SendError
    from taskbeacon_agent.sources import SourceError

    deadline = time.monotonic() + budget
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
