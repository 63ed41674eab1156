"""The git work Copier repeats on every render, done once per process.

Two thirds of what was left of a render's time after ``jinja_cache`` were
git commands (about 85 a render):

* Copier clones a git template into a temporary directory for every render
  and deletes it afterwards (``clone``, ``checkout``, ``submodule update``
  and a ``status``). A clean local repository at one commit always gives
  the same checkout, so the first clone of each (repository, commit) is
  kept and each later render gets a hard-linked copy of it (Copier only
  reads a clone, and deleting the copy leaves the kept one whole). A dirty
  repository, whose uncommitted changes Copier commits into the clone, and
  a remote one are cloned as Copier does.
* For every file it writes, Copier asks git for the destination's
  ``core.fileMode`` (it fixes the index's executable bits when that is
  ``false``). One render's destination keeps one setting, so it is asked
  once a render and the per-file work runs only where it is ``false``.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from copier import _main, _template, _vcs


def install() -> None:
    """Patch Copier's clone and its executable-bit sync (idempotent)."""
    if getattr(_template.clone, "cached", False):
        return
    _template.clone = _clone_once(_vcs.clone)  # what Template.local_abspath calls
    _main.Worker._sync_git_index_executable_bit = _sync_where_needed(  # type: ignore[method-assign]
        _main.Worker._sync_git_index_executable_bit
    )


def _clone_once(original: Any) -> Any:
    kept: dict[tuple[str, str], Path] = {}
    store = Path(tempfile.mkdtemp(prefix="copier-clones-"))
    atexit.register(shutil.rmtree, store, ignore_errors=True)

    @functools.wraps(original)
    def clone(url: str, ref: str = "HEAD", location: str | None = None) -> str:
        commit = _clean_local_commit(url, ref)
        if commit is None:
            return original(url, ref, location)
        key = (str(Path(url).resolve()), commit)
        if key not in kept:
            kept[key] = Path(original(url, ref, str(store / str(len(kept)))))
        location = location or tempfile.mkdtemp(prefix=_vcs.CLONE_PREFIX)
        shutil.copytree(
            kept[key],
            location,
            symlinks=True,
            dirs_exist_ok=True,
            copy_function=os.link,
        )
        return location

    clone.cached = True  # type: ignore[attr-defined]
    return clone


def _clean_local_commit(url: str, ref: str) -> str | None:
    """The commit *ref* names in the local repository *url*, or None when
    *url* is not a local directory or its working tree has changes."""
    if not Path(url).is_dir():
        return None
    git = ["git", "-C", url]
    status = subprocess.run(
        [*git, "status", "--porcelain"], capture_output=True, text=True, check=False
    )
    resolved = subprocess.run(
        [*git, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if status.returncode or status.stdout.strip() or resolved.returncode:
        return None
    return resolved.stdout.strip()


def _sync_where_needed(original: Any) -> Any:
    @functools.wraps(original)
    def sync(self: _main.Worker, dst_relpath: Path, src_mode: int) -> None:
        needed = self.__dict__.get("_file_mode_is_false")
        if needed is None:
            setting = subprocess.run(
                ["git", "config", "--type=bool", "--get", "core.fileMode"],
                cwd=self.subproject.local_abspath,
                capture_output=True,
                text=True,
                check=False,
            )
            needed = setting.returncode == 0 and setting.stdout.strip() == "false"
            self.__dict__["_file_mode_is_false"] = needed
        if needed:
            original(self, dst_relpath, src_mode)

    return sync
