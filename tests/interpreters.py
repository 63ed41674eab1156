"""Where the Python interpreters for generated services come from.

uv cannot download Python builds on machines without internet, and pyenv's
shims pick a version from a project's ``.python-version`` and then fail when
that version is not pyenv's global one. So every interpreter pyenv has
installed is put on PATH directly, with those ``.ci/interpreters`` took from
Debian's testing suite (each in a ``bin`` folder of its own), and uv is told
not to download any: a missing version then fails at once, naming itself.
The test suite and the benchmark (``bench/``) both run generated services
this way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
# The tree .ci/interpreters builds: Debian forky's python3.X, runnable here.
DEBIAN_TREE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "copier-quart"
    / "debian-forky"
)


def interpreter_dirs() -> list[Path]:
    """The ``bin`` folders of the Pythons a service may target, newest first."""
    pyenv = PYENV_VERSIONS.glob("3.1[2-9]*/bin")
    debian = DEBIAN_TREE.glob("usr/python3.1[2-9]*-bin")
    return sorted([*pyenv, *debian], key=_version, reverse=True)


def _version(bin_dir: Path) -> tuple[int, ...]:
    """(3, 14) for ``.../python3.14-bin``, (3, 13, 0) for ``.../3.13.0/bin``."""
    name = bin_dir.name if bin_dir.name != "bin" else bin_dir.parent.name
    return tuple(int(part) for part in re.findall(r"\d+", name))


def with_interpreters(env: dict[str, str]) -> dict[str, str]:
    """*env* with every installed interpreter on PATH and no uv downloads."""
    dirs = interpreter_dirs()
    return {
        **env,
        "PATH": os.pathsep.join([*map(str, dirs), env.get("PATH", "")]),
        "UV_PYTHON_DOWNLOADS": "never" if dirs else "automatic",
    }
