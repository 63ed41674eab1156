"""Move a file the service owns to where a newer template expects it.

Used by ``_migrations`` in copier.yml for data the template does not render
(a database file, a certificate): Copier carries the user's edits to rendered
files across a rename itself, but never touches files it did not render.

    python move_file.py OLD NEW [SUFFIX ...]

moves OLD to NEW, and OLD+SUFFIX to NEW+SUFFIX for each SUFFIX (SQLite's
``-wal`` and ``-shm`` files, say). Idempotent: a file already moved, or never
there, is left alone; it refuses to overwrite an existing NEW. Runs in the
service's directory with the Python that runs Copier, needs no network.
"""

from __future__ import annotations

import sys
from pathlib import Path


def move(old: Path, new: Path) -> str:
    """Move *old* to *new*; say what happened."""
    if not old.exists():
        return f"{old}: nothing to move"
    if new.exists():
        return f"{old}: left in place, {new} already exists"
    new.parent.mkdir(parents=True, exist_ok=True)
    old.rename(new)
    return f"{old}: moved to {new}"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    old, new, *suffixes = argv
    for suffix in ["", *suffixes]:
        print(move(Path(old + suffix), Path(new + suffix)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
