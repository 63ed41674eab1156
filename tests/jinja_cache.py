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
