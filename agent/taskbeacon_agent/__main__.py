"""`python -m taskbeacon_agent`. `exec` with plain options goes straight to the exec module (the
CLI module and argparse are not even loaded on the way to the workload)."""

import sys


def _main() -> int:
    if sys.argv[1:2] == ["exec"]:
        from taskbeacon_agent.exec import fast_main

        code = fast_main(sys.argv[2:])
        if code is not None:
            return code
    from taskbeacon_agent.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
