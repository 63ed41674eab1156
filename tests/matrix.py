"""The answer combinations to test, read from ``copier.yml`` itself.

Every question whose answer is a bool or a choice multiplies the matrix; free
text questions keep their defaults. A question asked only ``when`` other
answers allow it joins just the combinations where it is asked, and computed
questions (``when: false``) are left to Copier. A new option therefore joins
the tests without anyone editing a list.

Each combination is a :class:`Combination`: its answers as a read-only
mapping (what Copier is given) and, as properties, what they mean to the
tests (``.realtime``, ``.needs_redis``, ...), named in this one place.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import yaml

COPIER_YML = Path(__file__).resolve().parents[1] / "copier.yml"


class Combination(Mapping[str, Any]):
    """One combination of matrix answers, read-only, with what they mean.

    A question left unasked (``broker`` without realtime) is absent from the
    mapping; the properties give each its meaning for the tests.
    """

    def __init__(self, answers: Mapping[str, Any] = ()) -> None:
        self._answers = dict(answers)

    def __getitem__(self, name: str) -> Any:
        return self._answers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._answers)

    def __len__(self) -> int:
        return len(self._answers)

    def __repr__(self) -> str:
        return f"Combination({self._answers!r})"

    def but(self, **changes: Any) -> Combination:
        """This combination with some answers changed, as Copier would take
        them: a question the changes leave unasked is dropped, one they make
        asked takes its default."""
        answers = {**self._answers, **changes}
        asked: dict[str, Any] = {}
        for name, spec in load_questions().items():
            if _choices(spec) is None:  # free text: kept as given
                if name in answers:
                    asked[name] = answers[name]
            elif _asked(spec, asked):
                asked[name] = answers.get(name, spec.get("default"))
        return Combination(asked)

    @cached_property
    def id(self) -> str:
        """The readable test id (see :func:`combination_id`)."""
        return combination_id(self)

    @property
    def python_version(self) -> str:
        return str(self["python_version"])

    @property
    def websockets(self) -> bool:
        return bool(self.get("websockets"))

    @property
    def sse(self) -> bool:
        return bool(self.get("sse"))

    @property
    def realtime(self) -> bool:
        """A realtime endpoint (``/ws`` or ``/events``), hence a broker."""
        return self.websockets or self.sse

    @property
    def database(self) -> str:
        """``none``, ``sqlite``, ``postgresql`` or ``mysql``."""
        return str(self.get("database", "none"))

    @property
    def database_server(self) -> bool:
        """A database on a server the tests must reach (not SQLite's file)."""
        return self.database in {"postgresql", "mysql"}

    @property
    def needs_redis(self) -> bool:
        """Redis carries the broker (and, without a database, the messages)."""
        return self.get("broker") == "redis"

    @property
    def http(self) -> str:
        """The protocol set: ``h1``, ``h2`` or ``h3``."""
        return str(self["http"])

    @property
    def server(self) -> str:
        """``hypercorn`` or ``granian`` (asked only when ``http`` is not h3)."""
        return str(self.get("server", "hypercorn"))

    @property
    def docker(self) -> bool:
        return bool(self.get("docker"))


@functools.cache
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


def combinations(path: Path = COPIER_YML) -> list[Combination]:
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

    return [Combination(answers) for answers in expand(0, {})]


def combination_id(answers: Mapping[str, Any]) -> str:
    """A short readable test id such as
    ``python_version=3.13,websockets,no-sse,database=sqlite``."""
    parts = []
    for name, value in answers.items():
        if value is True:
            parts.append(name)
        elif value is False:
            parts.append(f"no-{name}")
        else:
            parts.append(f"{name}={value}")
    return ",".join(parts) or "defaults"


def default_answers(path: Path = COPIER_YML) -> Combination:
    """The matrix answers Copier picks with ``--defaults``."""
    defaults: dict[str, Any] = {}
    for name, spec in load_questions(path).items():
        if _choices(spec) is not None and _asked(spec, defaults):
            defaults[name] = spec.get("default")
    return Combination(defaults)


def covering_set(
    candidates: list[Combination] | None = None, strength: int = 2
) -> list[Combination]:
    """A few of *candidates* (default: every combination) in which every
    answer (``strength=1``) or every pair of answers (``strength=2``) that
    the candidates hold appears at least once.

    Greedy: each step takes the combination that covers the most tuples
    still missing, so the set is small (not always the smallest) and the
    same on every run.
    """
    candidates = combinations() if candidates is None else candidates

    tuples = [
        (c, frozenset(itertools.combinations(sorted(c.items()), strength)))
        for c in candidates
    ]
    wanted = set().union(*(held for _, held in tuples))
    chosen: list[Combination] = []
    while wanted:
        best, held = max(tuples, key=lambda pair: len(wanted & pair[1]))
        chosen.append(best)
        wanted -= held
    return chosen
