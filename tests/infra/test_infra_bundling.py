"""The one test that bundles for real (pip, from the wheel cache or PyPI, no Docker), and the offline path."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from infra.bundling import (
    ARCHITECTURE,
    BUNDLING_ERROR_PREFIX,
    RUNTIME,
    RUNTIME_PROVIDED,
    BundlingError,
    build_bundle,
    lambda_code,
    pip_command,
)
from infra.paths import LAMBDAS_DIR

pytestmark = pytest.mark.cdk


def _synth_code(source: Path, outdir: Path, *, bundle: bool) -> tuple[str, Path]:
    """Synth a one-function stack; returns the asset hash and the staged asset directory."""
    context: dict[str, object] = {} if bundle else {"aws:cdk:bundling-stacks": []}
    app = cdk.App(outdir=str(outdir), context=context)
    stack = cdk.Stack(app, "BundleProbe")
    lambda_.Function(
        stack,
        "Fn",
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler="handlers.ingest.handler",
        code=lambda_code(source),
    )
    app.synth()
    manifest = json.loads((outdir / "BundleProbe.assets.json").read_text())
    ((asset_hash, path),) = [
        (key, a["source"]["path"])
        for key, a in manifest["files"].items()
        if a["source"].get("packaging") == "zip"
    ]
    return asset_hash, outdir / path


def test_local_bundling_builds_an_arm64_cp313_asset(tmp_path: Path) -> None:
    _, asset = _synth_code(LAMBDAS_DIR, tmp_path, bundle=True)
    assert list(asset.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
    for handler in ("ingest", "query", "events"):
        assert (asset / "handlers" / f"{handler}.py").is_file()
    assert (asset / "core" / "store" / "schema.py").is_file()
    assert (asset / "aws_lambda_powertools").is_dir()
    for name in RUNTIME_PROVIDED:
        assert not (asset / name).exists(), name
    assert not list(asset.glob("botocore-*.dist-info"))
    assert not list(asset.rglob("__pycache__"))
    assert not list(asset.rglob("*.pyc"))
    size = sum(f.stat().st_size for f in asset.rglob("*") if f.is_file())
    assert size < 100 * 1024 * 1024  # far below Lambda's 250 MB unzipped limit


def test_asset_hash_follows_the_source(tmp_path: Path) -> None:
    source = tmp_path / "lambdas"
    shutil.copytree(LAMBDAS_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    first = _synth_code(source, tmp_path / "a", bundle=False)[0]
    (source / "handlers" / "__pycache__").mkdir(exist_ok=True)
    (source / "handlers" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"cache")
    assert _synth_code(source, tmp_path / "b", bundle=False)[0] == first  # caches don't count
    (source / "requirements.txt").write_text((source / "requirements.txt").read_text() + "\n# bump\n")
    assert _synth_code(source, tmp_path / "c", bundle=False)[0] != first


def test_a_complete_wheel_cache_bundles_without_the_index(tmp_path: Path) -> None:
    """`make install` fills the cache; while its stamp matches the requirements, pip never goes online."""
    requirements = LAMBDAS_DIR / "requirements.txt"
    empty = tmp_path / "empty"
    assert "--no-index" not in pip_command(requirements, tmp_path / "t", empty)
    fake = tmp_path / "cache"
    fake.mkdir()
    (fake / "requirements.sha256").write_text(hashlib.sha256(requirements.read_bytes()).hexdigest() + "\n")
    command = pip_command(requirements, tmp_path / "t", fake)
    assert command[-3:] == ["--no-index", "--find-links", str(fake)]
    # A stamp for other requirements is stale: back to the index.
    (fake / "requirements.sha256").write_text("0" * 64 + "\n")
    assert "--no-index" not in pip_command(requirements, tmp_path / "t", fake)


def test_a_failed_bundle_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    source = tmp_path / "lambdas"
    source.mkdir()
    requirements = source / "requirements.txt"
    requirements.write_text("taskbeacon-no-such-package==1.0\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "requirements.sha256").write_text(hashlib.sha256(requirements.read_bytes()).hexdigest())
    with pytest.raises(BundlingError) as raised:
        build_bundle(source, tmp_path / "asset", cache)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("taskbeacon: cannot bundle the Lambda asset: ")
    assert str(cache) in message and "taskbeacon-no-such-package" in message


def test_app_prints_the_bundling_line_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import app

    def failing_build(**_: object) -> None:
        # How a BundlingError raised in the jsii callback comes back: wrapped, with a stack after it.
        raise RuntimeError(f"Error: {BUNDLING_ERROR_PREFIX}: pip could not install x\n    at stack line")

    monkeypatch.setattr(app, "build_app", failing_build)
    assert app.main() == 1
    assert capsys.readouterr().err == f"{BUNDLING_ERROR_PREFIX}: pip could not install x\n"
