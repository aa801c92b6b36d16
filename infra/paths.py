"""Repository paths, and the one import of the Lambda code's vocabularies the stack shares with it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
LAMBDAS_DIR: Final = REPO_ROOT / "lambdas"

# `lambdas/` is the import root of the server code (as in the Lambda asset), so the stack reads
# the table's key names, the routes, the error codes and the environment variable names from the
# modules the handlers use: one source of truth. These modules import nothing heavier than the
# standard library.
if str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))

from core import environment, errors, vocabulary  # noqa: E402
from core.store import keys, schema  # noqa: E402

__all__ = ["LAMBDAS_DIR", "REPO_ROOT", "environment", "errors", "keys", "schema", "vocabulary"]
