"""`taskbeacon console` as a user runs it: its own process, the printed URL, signed requests upstream."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

from taskbeacon.cli.main import main


def test_no_credentials_is_exit_4_before_serving(fake_api: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["console", "--endpoint", fake_api.url, "--port", "0"]) == 4
    assert "no AWS credentials" in capsys.readouterr().err


def test_serves_the_printed_url_and_signs_with_the_operators_credentials(fake_api: Any) -> None:
    fake_api.reply("/summary", {"by": "cluster", "groups": [], "total": 0})
    process = subprocess.Popen(
        [sys.executable, "-m", "taskbeacon", "console", "--endpoint", fake_api.url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            found = re.search(r"http://127\.0\.0\.1:\d+/\?secret=\S+", line)
            if found:
                url = found.group(0)
                break
        assert url, process.stderr.read() if process.stderr else ""
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request("GET", f"/?{parts.query}")
        login = conn.getresponse()
        login.read()
        assert login.status == 303
        cookie = login.getheader("Set-Cookie", "").split(";")[0]
        conn.request("GET", "/api/summary?by=cluster", headers={"Cookie": cookie})
        answer = conn.getresponse()
        assert answer.status == 200 and b'"total": 0' in answer.read()
        assert fake_api.last.path == "/summary" and fake_api.last.query == {"by": "cluster"}
        assert fake_api.last.signature_ok
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
