"""Repository paths, and the one import of the table schema shared with the Lambda code."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
LAMBDAS_DIR: Final = REPO_ROOT / "lambdas"

# `lambdas/` is the import root of the server code (as in the Lambda asset), so the stack reads
# the table's key names, the routes and the error codes from the modules the handlers use: one
# source of truth. These modules import nothing heavier than the standard library.
if str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))

from core import errors, vocabulary  # noqa: E402
from core.store import keys, schema  # noqa: E402


def env_names() -> Mapping[str, str]:
    """The Lambda functions' environment variable names, by settings field (`core/settings.py`).

    Imported on demand: that module imports pydantic (about 0.5 s, little next to a synth).
    """
    from core.settings import ENV_NAMES

    return ENV_NAMES


__all__ = ["LAMBDAS_DIR", "REPO_ROOT", "env_names", "errors", "keys", "schema", "vocabulary"]
