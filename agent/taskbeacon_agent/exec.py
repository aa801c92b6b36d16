"""`exec -- COMMAND`: the entrypoint hook. Becomes the command (same PID, argv, environment, file
descriptors and signal dispositions) while a detached child reports `start`. Fail-open: whatever
goes wrong with the report, the command runs.

By default the reporter is forked *before* the exec and the command starts at once: the report never
delays the workload, and it still lands when the API is slow (its own 10 s budget, with retries) or
when the command exits at once (the reporter is in its own session, not the command's child).
`--foreground` reports first (the command waits, at most --budget, default 2 s); `--dry-run` does
too, so the printed snapshot comes before the command's output.

Import-light: everything up to the exec needs only `os`, `sys`, the builtin `_signal` and config;
options are parsed here without argparse (anything unusual goes to the full CLI parser instead).
"""

from __future__ import annotations

import os
import sys

from taskbeacon_agent.config import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, SOURCES, Config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Tuple

    from taskbeacon_agent.reporter import Reporter

BACKGROUND_BUDGET = 10.0  # the detached reporter: nobody waits for it, so it may retry a slow API
FOREGROUND_BUDGET = 2.0  # --foreground: the command waits this long at most

_FLAGS = {
    "--with-tags": "with_tags",
    "--with-stats": "with_stats",
    "--dry-run": "dry_run",
    "-q": "quiet",
    "--quiet": "quiet",
    "-v": "verbose",
    "--verbose": "verbose",
    "--background": "background",
    "--foreground": "foreground",
}


def fast_main(args: List[str]) -> Optional[int]:
    """`exec` straight from argv (the words after `exec`) when its options are plain; None: let
    the full CLI parse them. `python -m`, the zipapp and the console script all come here first."""
    parsed = parse(args, os.environ)
    return None if parsed is None else run(*parsed)


def in_background(background: bool, foreground: bool, dry_run: bool) -> bool:
    """Report from a detached child unless --foreground, or --dry-run without --background."""
    return background or not (foreground or dry_run)


def default_budget(background: bool) -> float:
    return BACKGROUND_BUDGET if background else FOREGROUND_BUDGET


def _positive(value: str) -> Optional[float]:
    try:
        f = float(value)
    except ValueError:
        return None
    return f if f > 0 else None  # the same test as cli._positive


def parse(args: List[str], env: Mapping[str, str]) -> Optional[Tuple[Config, List[str], bool]]:
    """`exec` options without argparse: (config, command, background), or None for anything this
    does not recognise exactly (--help, --budget=1, abbreviations, bad values, no command), which
    the full CLI parser then handles, errors included. A test keeps both parsers in agreement."""
    flags: Dict[str, bool] = {}
    values: Dict[str, float] = {}
    source = "auto"
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-"):
            break
        if arg in _FLAGS:
            flags[_FLAGS[arg]] = True
            i += 1
            continue
        if i + 1 >= len(args):
            return None
        value = args[i + 1]
        if arg == "--source":
            if value != "auto" and value not in SOURCES:
                return None
            source = value
        elif arg in ("--budget", "--timeout"):
            number = _positive(value)
            if number is None:
                return None
            values[arg] = number
        else:
            return None
        i += 2
    command = args[i:]
    if not command or (flags.get("background") and flags.get("foreground")):
        return None
    background = in_background(
        flags.get("background", False), flags.get("foreground", False), flags.get("dry_run", False)
    )
    cfg = Config(
        env,
        source=source,
        with_tags=flags.get("with_tags", False),
        with_stats=flags.get("with_stats", False),
        dry_run=flags.get("dry_run", False),
        budget=values.get("--budget", default_budget(background)),
        timeout=values.get("--timeout", 2.0),
        quiet=flags.get("quiet", False),
        verbose=flags.get("verbose", False),
    )
    return cfg, command, background


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
    environ = getattr(os, "environb", None)
    if environ is None or b"LC_CTYPE" not in environ:
        return  # coercion only ever adds LC_CTYPE: without one there is nothing to undo
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
    before = original.get(b"LC_CTYPE")
    if environ.get(b"LC_CTYPE") != before:
        if before is None:
            del environ[b"LC_CTYPE"]
        else:
            environ[b"LC_CTYPE"] = before


def _report_in_grandchild(cfg: Config) -> None:
    # Double fork: the reporter is reparented away and never becomes the workload's child to reap
    # (unless the workload is PID 1, in which case use an init such as tini / --init). Its own
    # session: a Ctrl-C or hang-up aimed at the workload's process group does not cut the report.
    _flush_std()  # or the child would write what is still buffered a second time
    workload = os.getpid()  # exec keeps it: the workload's stdout/stderr are /proc/<this>/fd/1, 2
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _reporter_child(cfg, workload)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _reporter_child(cfg: Config, workload: int) -> None:
    """The detached reporter: never returns (os._exit with the report's exit code)."""
    code = EXIT_INTERNAL
    try:
        # First of all: hold none of the workload's pipes (a reader of its stdout or stderr must
        # see end-of-file when the workload exits, not when the report ends). Log lines reach the
        # workload's stderr through detach.Relay, which opens it only for the moment of a write.
        from taskbeacon_agent.detach import detach

        detach(cfg, workload)
        try:  # noqa: SIM105
            os.nice(10)  # the workload starting right now gets the CPU first
        except OSError:
            pass
        import _signal

        # A hard stop: DNS lookups have no timeout, and nobody joins this process's threads.
        _signal.alarm(int(min(cfg.budget, 3600.0)) + 5)
        from taskbeacon_agent.reporter import Reporter

        rep: Reporter = Reporter(cfg, "exec")
        code = rep.report("start", cfg.budget)
    finally:
        _flush_std()
        os._exit(code)
