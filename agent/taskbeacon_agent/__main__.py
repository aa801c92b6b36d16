"""`python -m taskbeacon_agent` and the zipapp entry point."""

import sys

from taskbeacon_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
