#!/usr/bin/env python3
"""CDK entry point: `python app.py` (or `npx cdk synth|deploy`) with no AWS credentials needed."""

from __future__ import annotations

import os
import sys

from infra.application import build_app
from infra.bundling import BUNDLING_ERROR_PREFIX
from infra.config import ConfigError


def main() -> int:
    try:
        built = build_app(outdir=os.environ.get("CDK_OUTDIR") or "cdk.out")
        built.app.synth()
    except ConfigError as error:
        print(f"taskbeacon: invalid configuration: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        # Bundling runs inside a jsii callback: its BundlingError comes back wrapped, message intact.
        message = str(error)
        if BUNDLING_ERROR_PREFIX not in message:
            raise
        print(message[message.index(BUNDLING_ERROR_PREFIX) :].splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
