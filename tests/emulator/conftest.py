from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "agent"))  # the fake API server helper
sys.path.insert(0, str(ROOT / "agent"))
