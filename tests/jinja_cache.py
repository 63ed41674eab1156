"""Compile each Jinja source once per process, however many renders use it.

Copier builds a new Jinja environment for every render, and Jinja's own
caches live in the environment, so each of the suite's hundreds of renders
compiled every template and every file name again: two thirds of a
render's time. What Jinja compiles depends only on the source and on the
environment's syntax settings, which are the same (``_envops``) for every
render of this template; the compiled code is kept by both, so a render
with other settings never gets code compiled for different ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

# Everything in an environment that changes the code Jinja compiles.
SYNTAX = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "autoescape",
    "is_async",
)


def syntax_of(environment: jinja2.Environment) -> tuple[Any, ...]:
    """What in *environment* the compiled code depends on."""
    return (
        type(environment),
        tuple(getattr(environment, name) for name in SYNTAX),
        tuple(sorted(environment.extensions)),
    )


def install() -> None:
    """Make ``jinja2.Environment.compile`` reuse code it compiled before."""
    original: Callable[..., Any] = jinja2.Environment.compile
    if getattr(original, "cached", False):
        return
    compiled: dict[tuple[Any, ...], Any] = {}

    @functools.wraps(original)
    def compile_once(
        self: jinja2.Environment,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if not isinstance(source, str):  # a parsed template: nothing to key on
            return original(self, source, name, filename, raw, defer_init)
        # Not the file name: copier renders from a fresh clone each time, and
        # the name only labels tracebacks.
        key = (syntax_of(self), source, name, raw, defer_init)
        if key not in compiled:
            compiled[key] = original(self, source, name, filename, raw, defer_init)
        return compiled[key]

    compile_once.cached = True  # type: ignore[attr-defined]
    jinja2.Environment.compile = compile_once  # type: ignore[method-assign]


def markers_of(environment: jinja2.Environment) -> tuple[str, ...]:
    """The strings that start Jinja syntax in *environment*."""
    markers = (
        environment.block_start_string,
        environment.variable_start_string,
        environment.comment_start_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
    )
    return tuple(marker for marker in markers if marker)


def install_plain_strings() -> None:
    """Make Copier's ``Worker._render_string`` return a string with no Jinja
    syntax as it is, as rendering it would (idempotent).

    Copier renders every part of every path, every exclusion pattern and,
    for each path part, the answers file's name through a template of its
    own, each with a fresh render context (the merged answers, rebuilt on
    every call): about a third of a render's time, almost all of it for
    strings such as ``src``, ``*.py[co]`` or ``.copier-answers.yml``.
    """
    from copier import _main

    original: Callable[..., Any] = _main.Worker._render_string
    if getattr(original, "plain_strings", False):
        return

    @functools.wraps(original)
    def render_string(
        self: _main.Worker, string: str, extra_context: Any = None
    ) -> str:
        if not any(marker in string for marker in markers_of(self.jinja_env)):
            return string
        return original(self, string, extra_context)

    render_string.plain_strings = True  # type: ignore[attr-defined]
    _main.Worker._render_string = render_string  # type: ignore[method-assign]

    # The answers file's path, which Copier renders (with a context of its
    # own) each time it compares a rendered path part with it.
    answers_relpath = _main.Worker.answers_relpath

    def plain_answers_relpath(self: _main.Worker) -> Path:
        path = str(self.answers_file or self.template.answers_relpath)
        if not any(marker in path for marker in markers_of(self.jinja_env)):
            return Path(path)
        return answers_relpath.fget(self)  # type: ignore[no-any-return]

    _main.Worker.answers_relpath = property(plain_answers_relpath)  # type: ignore[method-assign,assignment]
