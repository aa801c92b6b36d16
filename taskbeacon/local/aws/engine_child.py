"""The engine's child process (started by ``EngineProcess``): moto's DynamoDB and Streams tables, and,
once local mode asks for it, the indexer that follows their stream.

Its main thread answers the DynamoDB and Streams requests local mode sends on standard input, one at
a time. A second thread serves the indexer's channel (taskbeacon/local/aws/indexer_mapping.py): the
indexer's own engine calls reach the tables in this process, without a pipe. One lock lets one engine
call at a time into moto, from either thread, as the pipe alone did before.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from typing import NoReturn

from taskbeacon.local.aws.engine_process import PROBE, Answer, answer

# As in local mode's process (taskbeacon/local/command.py): two threads take turns here, and an
# engine answer local mode waits for should not queue behind the indexer for 5 ms at a time.
SWITCH_INTERVAL_SECONDS = 0.0005


def main(argv: list[str]) -> int:
    """Answer requests from standard input until it closes; serve the indexer's channel, whose two
    descriptors ``argv`` names (to local mode, from local mode)."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    requests = Connection(sys.stdin.buffer.fileno(), writable=False)
    # The answers get a descriptor of their own, and descriptor 1 points at /dev/null: nothing
    # printed, by Python or by anything else in the process, can reach the pipe.
    answers = Connection(os.dup(sys.stdout.buffer.fileno()), readable=False)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    from taskbeacon.local.aws import engine_bounds

    engine_bounds.install()
    engine = threading.Lock()  # moto's tables are not thread-safe: one call at a time

    def locked_answer(method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        with engine:
            return answer(method, url, headers, body)

    if len(argv) == 2:
        from taskbeacon.local.aws.indexer_mapping import serve

        channel = (Connection(int(argv[0]), readable=False), Connection(int(argv[1]), writable=False))
        threading.Thread(target=serve, args=(channel, locked_answer), name="indexer", daemon=True).start()
    while True:
        try:
            method, url, headers, body = pickle.loads(requests.recv_bytes())  # noqa: S301 - our parent
        except (EOFError, OSError):
            _exit()
        if method == PROBE:
            reply: Answer = (200, {}, b"")
        else:
            try:
                reply = locked_answer(method, url, headers, body)
            except Exception as error:  # an engine bug answers 500, as moto's server would
                message = f'{{"__type":"InternalFailure","message":"{type(error).__name__}"}}'
                reply = (500, {"Content-Type": "application/x-amz-json-1.0"}, message.encode())
        try:
            answers.send_bytes(pickle.dumps(reply, pickle.HIGHEST_PROTOCOL))
        except OSError:  # local mode stopped while its call was in the engine
            _exit()


def _exit() -> NoReturn:
    """Local mode has stopped: exit now, not after freeing every item of the tables one by one."""
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
