"""Build the single-file agent: `python agent/build_zipapp.py dist/taskbeacon-agent.pyz`.

Standard library only. The archive is reproducible (sorted entries, fixed timestamps) so its hash
can be pinned in Dockerfiles.
"""

from __future__ import annotations

import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "taskbeacon_agent")
SHEBANG = b"#!/usr/bin/env python3\n"
# The archive's entry point is the package's own __main__ (the `exec` fast path, then the CLI).
MAIN = b"import sys\nfrom taskbeacon_agent.__main__ import _main\nsys.exit(_main())\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=9)


def build(out: str) -> int:
    """Write the zipapp to `out`; return its size in bytes."""
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(SHEBANG)
        with zipfile.ZipFile(fh, "w") as zf:
            _entry(zf, "__main__.py", MAIN)
            for name in sorted(os.listdir(PACKAGE)):
                if name.endswith(".py"):
                    with open(os.path.join(PACKAGE, name), "rb") as src:
                        _entry(zf, "taskbeacon_agent/" + name, src.read())
    os.chmod(tmp, 0o755)  # noqa: S103 (an executable script is the deliverable)
    os.replace(tmp, out)
    return os.path.getsize(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: build_zipapp.py OUT.pyz\n")
        return 2
    size = build(argv[0])
    sys.stdout.write("%s %d bytes\n" % (argv[0], size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
