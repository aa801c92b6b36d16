"""The one test that bundles for real (pip from PyPI, no Docker) and inspects the asset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from infra.bundling import ARCHITECTURE, RUNTIME, RUNTIME_PROVIDED, lambda_code
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
