"""Docker-free bundling of the Lambda asset (python3.13 / arm64).

pip downloads manylinux aarch64 cp313 wheels for `lambdas/requirements.txt` on any host, so the
asset builds on a laptop or CI runner without Docker. Packages the Lambda runtime already ships
(boto3 and its dependencies, pulled in by aws-xray-sdk) are removed: they are ~35 MB of the bundle
and the runtime's copies are the ones AWS patches.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infra.paths import LAMBDAS_DIR

PYTHON_VERSION: Final = "3.13"
PIP_PLATFORM: Final = "manylinux2014_aarch64"
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE: Final = lambda_.Architecture.ARM_64

# Import names (and their distribution names) provided by the python3.13 Lambda runtime.
RUNTIME_PROVIDED: Final = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six")
_RUNTIME_DISTS: Final = (*RUNTIME_PROVIDED, "python_dateutil")

# Never part of the asset, and never part of its hash (bytecode caches change on every test run).
ASSET_EXCLUDES: Final = ["**/__pycache__", "**/*.pyc", "tests", "**/.pytest_cache", "**/.mypy_cache"]
_COPY_IGNORE: Final = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".pytest_cache", ".mypy_cache")


def pip_command(requirements: Path, target: Path) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--platform", PIP_PLATFORM, "--only-binary=:all:", "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--no-compile", "--target", str(target), "-r", str(requirements),
    ]  # fmt: skip


def remove_runtime_provided(target: Path) -> list[str]:
    """Delete packages the runtime ships; returns what was removed (for the log and tests)."""
    removed: list[str] = []
    for name in RUNTIME_PROVIDED:
        for path in (target / name, target / f"{name}.py"):
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(path.name)
            elif path.is_file():
                path.unlink()
                removed.append(path.name)
    for dist in _RUNTIME_DISTS:
        for info in target.glob(f"{dist}-*.dist-info"):
            shutil.rmtree(info)
            removed.append(info.name)
    bin_dir = target / "bin"  # console scripts (jp.py) of the removed packages
    if bin_dir.is_dir():
        shutil.rmtree(bin_dir)
    return removed


def copy_source(source: Path, target: Path) -> None:
    """Copy the import root as-is, so handler strings and imports match the repository."""
    for entry in source.iterdir():
        if entry.name in {"requirements.txt", "tests", "__pycache__"}:
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, ignore=_COPY_IGNORE, dirs_exist_ok=True)
        elif entry.suffix != ".pyc":
            shutil.copy2(entry, target / entry.name)


def build_bundle(source: Path, target: Path) -> None:
    subprocess.run(pip_command(source / "requirements.txt", target), check=True)
    remove_runtime_provided(target)
    copy_source(source, target)


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """`ILocalBundling` that always succeeds locally, so CDK never falls back to Docker."""

    def __init__(self, source: Path = LAMBDAS_DIR) -> None:
        self._source = source

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        build_bundle(self._source, Path(output_dir))
        return True


def lambda_code(source: Path = LAMBDAS_DIR) -> lambda_.Code:
    """The one asset shared by all five functions (same import root, uploaded once)."""
    return lambda_.Code.from_asset(
        str(source),
        exclude=ASSET_EXCLUDES,
        bundling=cdk.BundlingOptions(
            # Required by the type; never pulled because local bundling returns True.
            image=RUNTIME.bundling_image,
            local=LocalPipBundling(source),
            platform="linux/arm64",
        ),
    )
