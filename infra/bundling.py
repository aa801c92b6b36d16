"""Docker-free bundling of the Lambda asset (python3.13 / arm64).

pip installs manylinux aarch64 cp313 wheels for `lambdas/requirements.txt` on any host, so the
asset builds on a laptop or CI runner without Docker. Packages the Lambda runtime already ships
(boto3 and its dependencies, pulled in by aws-xray-sdk) are removed: they are ~35 MB of the bundle
and the runtime's copies are the ones AWS patches.

Offline: `make install` (which needs the package index anyway) downloads those wheels into
`.cache/lambda-wheels` (`python -m infra.bundling`), stamped with the requirements they satisfy.
While the stamp matches, bundling installs from that cache alone (`--no-index`), so `make synth`
needs no network. Without it, bundling needs PyPI, and when pip fails the synth ends in one line
that says so (app.py prints `BundlingError`'s message) instead of a traceback.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infra.paths import LAMBDAS_DIR, REPO_ROOT

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


WHEEL_CACHE: Final = REPO_ROOT / ".cache" / "lambda-wheels"
_STAMP: Final = "requirements.sha256"
BUNDLING_ERROR_PREFIX: Final = "taskbeacon: cannot bundle the Lambda asset"


class BundlingError(RuntimeError):
    """pip could not install the asset's wheels; the message is one line that says what to do."""


def _platform_flags() -> list[str]:
    return [
        "--platform", PIP_PLATFORM, "--only-binary=:all:", "--python-version", PYTHON_VERSION,
        "--implementation", "cp",
    ]  # fmt: skip


def _requirements_digest(requirements: Path) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def cache_is_complete(requirements: Path, cache: Path = WHEEL_CACHE) -> bool:
    stamp = cache / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == _requirements_digest(requirements)


def pip_command(requirements: Path, target: Path, cache: Path = WHEEL_CACHE) -> list[str]:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        *_platform_flags(), "--no-compile", "--target", str(target), "-r", str(requirements),
    ]  # fmt: skip
    if cache_is_complete(requirements, cache):
        command += ["--no-index", "--find-links", str(cache)]
    return command


def fill_wheel_cache(
    requirements: Path = LAMBDAS_DIR / "requirements.txt", cache: Path = WHEEL_CACHE
) -> None:
    """Download the asset's wheels once (from `make install`), so later synths need no network."""
    if cache_is_complete(requirements, cache):
        return
    cache.mkdir(parents=True, exist_ok=True)
    download = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        *_platform_flags(), "--dest", str(cache), "-r", str(requirements),
    ]  # fmt: skip
    subprocess.run(download, check=True)
    (cache / _STAMP).write_text(_requirements_digest(requirements) + "\n")


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


def build_bundle(source: Path, target: Path, cache: Path = WHEEL_CACHE) -> None:
    requirements = source / "requirements.txt"
    result = subprocess.run(
        pip_command(requirements, target, cache), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        where = (
            f"from the wheel cache {cache}"
            if cache_is_complete(requirements, cache)
            else "from the package index (no complete wheel cache: run `make install` once online "
            "to fill .cache/lambda-wheels, after which synth works offline)"
        )
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundlingError(
            f"{BUNDLING_ERROR_PREFIX}: pip could not install {requirements.name} for "
            f"python{PYTHON_VERSION}/arm64 {where}; pip said: {last}"
        )
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


if __name__ == "__main__":
    fill_wheel_cache()
