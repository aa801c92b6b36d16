"""The engine's child process (started by ``EngineProcess``): moto's DynamoDB and Streams tables.

It answers two callers, each on a pipe pair of its own, one request at a time, in turn: local mode
(its standard input and output) and local mode's indexer, in a process of its own
(taskbeacon/local/aws/indexer_child.py), whose pipes' descriptors its arguments name.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import TYPE_CHECKING, NoReturn

from taskbeacon.local.aws.engine_process import PROBE, Answer, answer

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


def main(argv: list[str]) -> NoReturn:
    """Answer requests until local mode's pipe closes; ``argv``: the second caller's descriptors
    (its requests' read end, its answers' write end)."""
    from multiprocessing.connection import Connection, wait

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    local = Connection(sys.stdin.buffer.fileno(), writable=False)
    # The answers get a descriptor of their own, and descriptor 1 points at /dev/null: nothing
    # printed, by Python or by anything else in the process, can reach the pipe.
    answers: dict[Connection, Connection] = {
        local: Connection(os.dup(sys.stdout.buffer.fileno()), readable=False)
    }
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    if len(argv) == 2:
        answers[Connection(int(argv[0]), writable=False)] = Connection(int(argv[1]), readable=False)
    from taskbeacon.local.aws import engine_bounds

    engine_bounds.install()
    while True:
        for caller in wait(list(answers)):
            assert isinstance(caller, Connection)
            if not _answer_one(caller, answers[caller]):
                if caller is local:
                    _exit()
                del answers[caller]  # the indexer's process ended; local mode goes on


def _answer_one(requests: Connection, answers: Connection) -> bool:
    """Read one request and answer it; False once the caller has gone."""
    try:
        method, url, headers, body = pickle.loads(requests.recv_bytes())  # noqa: S301 - our parent
    except (EOFError, OSError):
        return False
    if method == PROBE:
        reply: Answer = (200, {}, b"")
    else:
        try:
            reply = answer(method, url, headers, body)
        except Exception as error:  # an engine bug answers 500, as moto's server would
            message = f'{{"__type":"InternalFailure","message":"{type(error).__name__}"}}'
            reply = (500, {"Content-Type": "application/x-amz-json-1.0"}, message.encode())
    try:
        answers.send_bytes(pickle.dumps(reply, pickle.HIGHEST_PROTOCOL))
    except OSError:  # the caller stopped while its call was in the engine
        return False
    return True


def _exit() -> NoReturn:
    """Local mode has stopped: exit now, not after freeing every item of the tables one by one."""
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
