"""The detached `exec` reporter lets go of the workload's descriptors (loaded only after the fork).

A reader of the workload's stdout or stderr (a shell pipeline, `$(...)`, a log collector) sees
end-of-file only once every copy of the pipe's write end is closed. A reporter that kept its
inherited copies would hold that end-of-file back for as long as it runs (up to its 10 s budget
with an unreachable API). So the reporter points its fds 0, 1 and 2 at /dev/null and closes every
other descriptor it inherited; what it has to say goes through a `Relay`, which reopens the
workload's stdout or stderr through /proc for the moment of one write and closes it again.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Set, Tuple

    from taskbeacon_agent.config import Config

_S_IFMT = 0o170000  # the `stat` module's S_IFMT / S_IFREG, without importing it
_S_IFREG = 0o100000


class Relay:
    """A write-only text stream for the workload's fd `fd` that keeps no descriptor of it open.

    Created in the reporter while it still has its inherited copy of `fd`: it notes which file that
    is (device and inode). `flush()` looks for that same file among the workload's descriptors in
    /proc/PID/fd (`fd` first: a shell may have moved it aside while a command of its own runs),
    opens it for the moment of one write and closes it at once, so a pipe's reader waits for the
    reporter no longer than the write itself. Nothing else is ever opened. When the workload has
    exited (nobody left to tell: its reader may have seen end-of-file already), no longer has that
    file open, runs as another user, or there is no /proc, the text is dropped. A regular file is
    the exception: nobody waits for a file to be closed, and reopening it would lose its shared
    offset (the workload's next write would overwrite the line), so the reporter writes through a
    copy of the inherited descriptor.
    """

    def __init__(self, pid: int, fd: int) -> None:
        self.dir = "/proc/%d/fd" % pid
        self.fd = fd
        self.identity: Optional[Tuple[int, int]] = None
        self.held = -1  # a copy of a regular file's descriptor, written through directly
        self._parts: List[str] = []
        try:
            st = os.fstat(fd)
        except OSError:
            return  # not open: nowhere to write
        self.identity = (st.st_dev, st.st_ino)
        if st.st_mode & _S_IFMT == _S_IFREG:
            self.held = os.dup(fd)

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        data = "".join(self._parts).encode("utf-8", "backslashreplace")
        self._parts = []
        if not data or self.identity is None:
            return
        if self.held >= 0:
            _write_all(self.held, data)
            return
        for path in self._candidates():
            if self._write_to(path, data):
                return

    def _candidates(self) -> List[str]:
        first = "%s/%d" % (self.dir, self.fd)
        try:
            names = os.listdir(self.dir)
        except OSError:
            return []  # the workload is gone, or not ours to look at
        others = sorted((int(n) for n in names if n.isdigit() and int(n) != self.fd))
        return [first] + ["%s/%d" % (self.dir, n) for n in others]

    def _write_to(self, path: str, data: bytes) -> bool:
        """Write if `path` is the workload's stdout/stderr of old; True when it was."""
        try:
            st = os.stat(path)  # the file the link names, without opening it
        except OSError:
            return False
        if (st.st_dev, st.st_ino) != self.identity:
            return False
        try:
            # O_NONBLOCK: opening must never wait (a FIFO without a reader); O_NOCTTY: the reporter
            # has no controlling terminal and must not acquire the workload's.
            fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            st = os.fstat(fd)  # the workload may have replaced it since the stat
            if (st.st_dev, st.st_ino) != self.identity:
                return False
            os.set_blocking(fd, True)  # a full pipe: wait for its reader (alarm() bounds it)
            _write_all(fd, data)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass  # EPIPE (the reader is gone; SIGPIPE is ignored in Python), EAGAIN, ...


def detach(cfg: Config, workload: int) -> None:
    """In the reporter child: relays for the workload's stdout and stderr in `cfg`, fds 0/1/2 on
    /dev/null (stray writes, a thread's traceback, go nowhere), every other inherited fd closed."""
    out, err = Relay(workload, 1), Relay(workload, 2)
    cfg.out, cfg.err = out, err
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        if null != target:
            os.dup2(null, target)
    keep = {fd for fd in (out.held, err.held) if fd >= 0}
    if null > 2:
        os.close(null)
    close_inherited(keep)


def close_inherited(keep: Set[int]) -> None:
    """Close every descriptor above 2 except `keep`."""
    fds: Iterable[int]
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: walk the table (capped: RLIMIT_NOFILE may be 2**30 in a container)
        try:
            limit = os.sysconf("SC_OPEN_MAX")
        except (OSError, ValueError):
            limit = 1024
        fds = range(3, min(limit if limit > 0 else 1024, 65536))
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:  # noqa: SIM105
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, already closed
