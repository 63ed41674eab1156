"""The matrix is read from copier.yml, so new questions join it by themselves."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from .matrix import (
    Combination,
    combination_id,
    combinations,
    covering_set,
    default_answers,
    load_questions,
)
from .projects import (
    FULL_OWN_TESTS,
    OTHER_PYTHON_STRENGTH,
    on_every_python,
    sample_other_stacks,
)

SAMPLE = """
_subdirectory: template
name:
  type: str
  default: x
realtime:
  type: bool
  default: true
broker:
  type: str
  when: "{{ realtime }}"
  choices: [memory, redis]
  default: memory
database:
  type: str
  choices:
    SQLite: sqlite
    None: none
  default: sqlite
computed:
  type: str
  when: false
  default: "{{ name }}"
"""


def test_bools_and_choices_multiply_respecting_when(tmp_path: Path) -> None:
    path = tmp_path / "copier.yml"
    path.write_text(SAMPLE)
    found = combinations(path)
    assert len(found) == 6  # (realtime: 2 brokers + no realtime) x 2 databases
    assert {"realtime": False, "database": "none"} in found
    assert {"realtime": True, "broker": "redis", "database": "sqlite"} in found
    assert all("broker" not in c for c in found if not c["realtime"])
    assert all("name" not in c and "computed" not in c for c in found)
    assert default_answers(path) == {
        "realtime": True,
        "broker": "memory",
        "database": "sqlite",
    }
    assert combination_id(found[0]) == "realtime,broker=memory,database=sqlite"


def test_the_real_matrix_covers_every_choice() -> None:
    found = combinations()
    for name, spec in load_questions().items():
        if spec.get("when") is False:
            continue
        if spec.get("type") == "bool":
            assert {c.get(name) for c in found} >= {True, False}
        elif isinstance(spec.get("choices"), dict):
            assert {c.get(name) for c in found} >= set(spec["choices"].values())
    assert default_answers() in found


def test_pins_agree() -> None:
    """The suite lints services with its own ruff: it must be the one they pin."""
    root = Path(__file__).resolve().parents[1]
    suite = re.search(r'"ruff==([\d.]+)"', (root / "pyproject.toml").read_text())
    service = re.search(
        r'"ruff==([\d.]+)"', (root / "template" / "pyproject.toml.jinja").read_text()
    )
    hook = re.search(
        r"ruff-pre-commit\n\s+#.*\n\s+rev: v([\d.]+)",
        (root / "template" / ".pre-commit-config.yaml").read_text(),
    )
    assert suite, "no ruff pin in pyproject.toml"
    assert service, "no ruff pin in template/pyproject.toml.jinja"
    assert hook, "no ruff-pre-commit rev in the template"
    assert suite[1] == service[1] == hook[1]


def test_a_covering_set_holds_every_pair_in_a_fraction_of_the_matrix() -> None:
    every = combinations()
    chosen = covering_set(every, strength=2)
    assert pairs(chosen) == pairs(every)
    assert len(chosen) * 10 < len(every), len(chosen)
    assert covering_set(every, strength=2) == chosen  # the same on every run


def test_other_pythons_run_services_on_a_covering_set() -> None:
    every = combinations()
    default_python = default_answers().python_version
    chosen = on_every_python(every, default_python)

    on_default = [c for c in every if c.python_version == default_python]
    assert [c for c in chosen if c.python_version == default_python] == on_default
    others = {c.python_version for c in every} - {default_python}
    assert others, "copier.yml offers one Python only"
    assert OTHER_PYTHON_STRENGTH == 1
    for python in others:
        there = [c for c in every if c.python_version == python]
        covered = [c for c in chosen if c.python_version == python]
        assert singles(covered) == singles(there)
        # About the fewest a question allows (one combination per database);
        # the greedy choice may need one more.
        most_choices = max(len({c.get(q) for c in there}) for q in there[0])
        assert len(covered) <= most_choices + 1, covered


def singles(group: list[Combination]) -> set[tuple[str, Any]]:
    """Every answer some combination of *group* holds."""
    return {answer for c in group for answer in c.items()}


def pairs(group: list[Combination]) -> set[tuple[tuple[str, Any], ...]]:
    """Every pair of answers some combination of *group* holds."""
    return {
        pair for c in group for pair in itertools.combinations(sorted(c.items()), 2)
    }


def test_other_serving_stacks_run_their_own_tests_on_a_covering_set() -> None:
    every = combinations()
    default_python = default_answers().python_version
    on_default = [c for c in every if c.python_version == default_python]
    chosen = sample_other_stacks(on_default, default_python)
    questions = load_questions()
    for name, answers in FULL_OWN_TESTS.items():
        offered = set(questions[name]["choices"].values())
        assert set(answers) <= offered, f"{name}: {answers} not all in copier.yml"

    def full(c: Combination) -> bool:
        return all(c.get(name) in answers for name, answers in FULL_OWN_TESTS.items())

    assert [c for c in chosen if full(c)] == [c for c in on_default if full(c)]

    def stack(c: Combination) -> tuple[Any, ...]:
        return tuple(c.get(name) for name in FULL_OWN_TESTS)

    sampled = {stack(c) for c in on_default if not full(c)}
    assert sampled, "no serving stack other than the default"
    for other in sampled:
        there = [c for c in on_default if stack(c) == other]
        covered = [c for c in chosen if stack(c) == other]
        assert singles(covered) == singles(there), other
        assert len(covered) < len(there) // 10, other
    # Other Pythons are left as given.
    others = [c for c in every if c.python_version != default_python][:50]
    assert sample_other_stacks(others, default_python) == others
