"""The single-file zipapp runs on the dev interpreter and on python3.9 (the oldest supported)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from agent_fakeserver import FakeServer, Reply

ROOT = Path(__file__).resolve().parents[2]
PYENV_PY39 = Path.home() / ".pyenv" / "versions" / "3.9.18" / "bin" / "python3.9"


def _find_python39() -> str | None:
    """python3.9 on PATH (a distribution's, or a pyenv shim) or pyenv's: the first that really is 3.9."""
    for candidate in (shutil.which("python3.9"), str(PYENV_PY39)):
        if not candidate or not Path(candidate).exists():
            continue
        try:  # a pyenv shim exists even when no 3.9 is selected, and then fails
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == "True":
            return candidate
    return None


PY39 = _find_python39()
NO_PY39 = pytest.mark.skipif(PY39 is None, reason="no python3.9 on PATH or in pyenv")
INTERPRETERS = [
    pytest.param(sys.executable, id="dev"),
    pytest.param(PY39 or "python3.9", id="py3.9", marks=NO_PY39),
]


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zipapp") / "taskbeacon-agent.pyz"
    subprocess.run(
        [sys.executable, str(ROOT / "agent" / "build_zipapp.py"), str(out)], check=True, capture_output=True
    )
    return out


def test_build_is_small_and_reproducible(pyz: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.pyz"
    subprocess.run([sys.executable, str(ROOT / "agent" / "build_zipapp.py"), str(again)], check=True)
    assert pyz.read_bytes() == again.read_bytes()
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert pyz.stat().st_size < 64 * 1024


@pytest.mark.parametrize("python", INTERPRETERS)
def test_help_and_dry_run(pyz: Path, server: FakeServer, python: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "TASKBEACON_TMDE_V2_URL": server.url + "/v2"}
    helped = subprocess.run([python, str(pyz), "--help"], env=env, capture_output=True, text=True, check=True)
    assert "exit codes" in helped.stdout
    task = {
        "TaskARN": "arn:aws:ecs:us-east-1:111122223333:task/c/0123456789abcdef0123456789abcdef",
        "Containers": [],
    }
    server.route("/v4/z/task", Reply(body=task))
    env["ECS_CONTAINER_METADATA_URI_V4"] = server.url + "/v4/z"
    done = subprocess.run(
        [python, str(pyz), "once", "--dry-run"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout)["task"] == task
    ran = subprocess.run(
        [python, str(pyz), "exec", "--dry-run", "--", "sh", "-c", "echo ran"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.rstrip().endswith("ran")


@NO_PY39
def test_package_compiles_on_py39() -> None:
    files = [str(p) for p in (ROOT / "agent" / "taskbeacon_agent").glob("*.py")]
    # compile() rather than py_compile: no __pycache__ written into the source tree
    code = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, 'exec')"
    subprocess.run([str(PY39), "-c", code, *files], check=True)


def test_make_target_builds_with_build_zipapp(tmp_path: Path) -> None:
    import re

    import build_zipapp  # agent/ is on sys.path (conftest): the module `make agent-zipapp` runs

    recipe = (ROOT / "Makefile").read_text().split("\nagent-zipapp:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"python agent/build_zipapp\.py \S+\.pyz", recipe), recipe
    out = tmp_path / "sub" / "taskbeacon-agent.pyz"
    assert build_zipapp.main([str(out)]) == 0
    listing = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(out)], capture_output=True, text=True, check=True
    ).stdout
    listed = {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}
    package = {"taskbeacon_agent/" + p.name for p in (ROOT / "agent" / "taskbeacon_agent").glob("*.py")}
    assert listed == {"__main__.py", *package}
    env = {"PATH": "/usr/bin:/bin"}  # no PYTHONPATH: everything comes from the archive
    version = subprocess.run(
        [sys.executable, str(out), "--version"], env=env, capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "taskbeacon-agent 0.1.0"
    helped = subprocess.run(
        [sys.executable, str(out), "once", "--help"], env=env, capture_output=True, text=True, check=True
    )
    assert "--budget" in helped.stdout and "exit codes" in helped.stdout


CONSOLE_SCRIPT = Path(sys.executable).parent / "taskbeacon-agent"


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="taskbeacon-agent console script not installed")
def test_console_script_runs_help_and_version() -> None:
    helped = subprocess.run([str(CONSOLE_SCRIPT), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: taskbeacon-agent ")
    for mode in ("once", "exec", "sidecar", "daemon"):
        assert mode in helped.stdout
    version = subprocess.run([str(CONSOLE_SCRIPT), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "taskbeacon-agent 0.1.0"
