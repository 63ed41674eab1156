"""Where the Python interpreters for generated services come from.

uv cannot download Python builds on machines without internet, and pyenv's
shims pick a version from a project's ``.python-version`` and then fail when
that version is not pyenv's global one. So every interpreter pyenv has
installed is put on PATH directly, and uv is told not to download any: a
missing version then fails at once, naming itself. The test suite and the
benchmark (``bench/``) both run generated services this way.
"""

from __future__ import annotations

import os
from pathlib import Path

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"


def interpreter_dirs() -> list[Path]:
    """The ``bin`` folders of the Pythons a service may target, newest first."""
    return sorted(PYENV_VERSIONS.glob("3.1[2-9]*/bin"), reverse=True)


def with_interpreters(env: dict[str, str]) -> dict[str, str]:
    """*env* with every installed interpreter on PATH and no uv downloads."""
    dirs = interpreter_dirs()
    return {
        **env,
        "PATH": os.pathsep.join([*map(str, dirs), env.get("PATH", "")]),
        "UV_PYTHON_DOWNLOADS": "never" if dirs else "automatic",
    }
