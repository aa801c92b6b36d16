"""`python -m taskbeacon.emulator`."""

import sys

from taskbeacon.emulator.command import main

sys.exit(main())
