#!/usr/bin/env python3
"""CDK entry point: `python app.py` (or `npx cdk synth|deploy`) with no AWS credentials needed."""

from __future__ import annotations

import os
import sys

from infra.application import build_app
from infra.config import ConfigError


def main() -> int:
    try:
        built = build_app(outdir=os.environ.get("CDK_OUTDIR") or "cdk.out")
    except ConfigError as error:
        print(f"taskbeacon: invalid configuration: {error}", file=sys.stderr)
        return 2
    built.app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
