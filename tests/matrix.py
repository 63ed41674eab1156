"""The answer combinations to test, read from ``copier.yml`` itself.

Every question whose answer is a bool or a choice multiplies the matrix; free
text questions keep their defaults. A question asked only ``when`` other
answers allow it joins just the combinations where it is asked, and computed
questions (``when: false``) are left to Copier. A new option therefore joins
the tests without anyone editing a list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

COPIER_YML = Path(__file__).resolve().parents[1] / "copier.yml"


def load_questions(path: Path = COPIER_YML) -> dict[str, dict[str, Any]]:
    """Return the questions of *path* in file order (settings ``_*`` left out)."""
    data = yaml.safe_load(path.read_text())
    return {
        name: spec if isinstance(spec, dict) else {"default": spec}
        for name, spec in data.items()
        if not name.startswith("_")
    }


def _choices(spec: Mapping[str, Any]) -> list[Any] | None:
    """The answers a question can take, or None for a free-text question."""
    if spec.get("type") == "bool":
        return [True, False]
    choices = spec.get("choices")
    if isinstance(choices, dict):
        return list(choices.values())
    if isinstance(choices, list):
        return [c[1] if isinstance(c, list | tuple) else c for c in choices]
    return None


def _asked(spec: Mapping[str, Any], answers: Mapping[str, Any]) -> bool:
    """Evaluate a question's ``when`` against the answers so far."""
    when = spec.get("when", True)
    if isinstance(when, bool):
        return when
    # A YAML expression rendered to a truth value, never HTML: no escaping.
    environment = jinja2.Environment(autoescape=False)  # noqa: S701
    rendered = environment.from_string(str(when)).render(**answers)
    return rendered.strip().lower() not in {"", "false", "0", "no", "none"}


def combinations(path: Path = COPIER_YML) -> list[dict[str, Any]]:
    """Every combination of choice and bool answers that Copier can be given."""
    questions = [
        (name, spec, _choices(spec)) for name, spec in load_questions(path).items()
    ]
    matrix_questions = [(n, s, c) for n, s, c in questions if c is not None]

    def expand(index: int, answers: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if index == len(matrix_questions):
            yield answers
            return
        name, spec, choices = matrix_questions[index]
        if not _asked(spec, answers):
            yield from expand(index + 1, answers)
            return
        for choice in choices:
            yield from expand(index + 1, {**answers, name: choice})

    return list(expand(0, {}))


def combination_id(answers: Mapping[str, Any]) -> str:
    """A short readable test id such as ``py3.13-ws-sse-sqlite``."""
    parts = []
    for name, value in answers.items():
        if value is True:
            parts.append(name)
        elif value is False:
            parts.append(f"no-{name}")
        else:
            parts.append(f"{name}={value}")
    return ",".join(parts) or "defaults"


def default_answers(path: Path = COPIER_YML) -> dict[str, Any]:
    """The matrix answers Copier picks with ``--defaults``."""
    defaults: dict[str, Any] = {}
    for name, spec in load_questions(path).items():
        if _choices(spec) is not None and _asked(spec, defaults):
            defaults[name] = spec.get("default")
    return defaults
