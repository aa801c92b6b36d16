"""``python -m taskbeacon``: the same entry point as the ``taskbeacon`` console script."""

from taskbeacon.cli.main import main

raise SystemExit(main())
