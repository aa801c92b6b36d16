"""`exec -- COMMAND`: the entrypoint hook. Reports `start`, then becomes the command (same PID,
argv, environment, file descriptors and signal dispositions). Fail-open: whatever goes wrong with
the report, the command runs.

Import-light: everything up to the exec needs only `os`, `sys` and the builtin `_signal`.
"""

from __future__ import annotations

import os
import sys

from taskbeacon_agent.config import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List

    from taskbeacon_agent.config import Config
    from taskbeacon_agent.reporter import Reporter


# try/except instead of contextlib.suppress throughout: contextlib is one more import before the exec.
def _write_err(text: str) -> None:
    try:  # noqa: SIM105
        sys.stderr.write(text)
    except (OSError, ValueError):
        pass


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105
            stream.flush()
        except (OSError, ValueError):
            pass


def run(cfg: Config, argv: List[str], background: bool = False) -> int:
    if not argv:
        _write_err("taskbeacon-agent: exec needs a command after --\n")
        return EXIT_USAGE
    try:
        if background:
            _report_in_grandchild(cfg)
        else:
            from taskbeacon_agent.reporter import Reporter, bounded

            rep = Reporter(cfg, "exec")
            bounded(lambda: rep.report("start", cfg.budget), cfg.budget, rep.timed_out)
    except KeyboardInterrupt:
        # Ctrl-C while the report was running: the user wants out, not the command.
        _write_err("taskbeacon-agent: interrupted; command not started\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # fail open: whatever else happened, the command runs
        _write_err("taskbeacon-agent: report skipped: %s\n" % type(exc).__name__)
    exec_command(argv)
    return EXIT_INTERNAL  # not reached


def exec_command(argv: List[str]) -> None:
    """Replace this process with argv (same pid, env, fds). Never returns."""
    import _signal  # the builtin behind `signal`, which would import enum (milliseconds) first

    _flush_std()
    _undo_locale_coercion()
    # CPython ignores SIGPIPE and SIGXFSZ; ignored dispositions survive exec, so restore defaults.
    for name in ("SIGPIPE", "SIGXFSZ"):
        sig = getattr(_signal, name, None)
        if sig is not None:
            _signal.signal(sig, _signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)  # noqa: S606 (exec of the user's own entrypoint is the point)
    except FileNotFoundError:
        _write_err("taskbeacon-agent: command not found: %s\n" % argv[0])
        os._exit(127)
    except OSError as exc:
        _write_err("taskbeacon-agent: cannot execute %s: %s\n" % (argv[0], exc.strerror))
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


def _report_in_grandchild(cfg: Config) -> None:
    # Double fork: the reporter is reparented away and never becomes the workload's child to reap
    # (unless the workload is PID 1, in which case use an init such as tini / --init).
    _flush_std()  # or the child would write what is still buffered a second time
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                _reporter_child(cfg)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _reporter_child(cfg: Config) -> None:
    """The detached reporter: never returns (os._exit with the report's exit code)."""
    code = EXIT_INTERNAL
    try:
        try:  # noqa: SIM105
            os.nice(10)  # the workload starting right now gets the CPU first
        except OSError:
            pass
        from taskbeacon_agent.reporter import Reporter

        rep: Reporter = Reporter(cfg, "exec")
        code = rep.report("start", cfg.budget)
    finally:
        _flush_std()
        os._exit(code)
