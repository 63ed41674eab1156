"""copier.yml refuses bad answers with a message a person understands."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from .generated import render, run, uv_bin
from .matrix import Combination, covering_set, load_questions
from .projects import ProjectFactory

PARSE_EACH = "import ast, sys\nfor p in sys.argv[1:]: ast.parse(open(p).read(), p)"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            {"project_name": "   "},
            "Validation error for question 'project_name': "
            "The project name must not be empty.",
        ),
        (
            {"project_name": "x" * 81},
            "The project name must be at most 80 characters long.",
        ),
        (
            {"package_name": "My-Service"},
            "'My-Service' is not a valid package name: use lowercase letters, "
            "digits and underscores, starting with a letter (for example: my_service).",
        ),
        (
            {"package_name": "9lives"},
            "'9lives' is not a valid package name",
        ),
        (
            {"package_name": "class"},
            "'class' is a Python keyword and cannot be imported as a package: "
            "pick another name (for example: class_service).",
        ),
        (
            {"package_name": "quart"},
            "'quart' would shadow the module 'quart' that the service imports: "
            "pick another name (for example: quart_service).",
        ),
        ({"package_name": "asyncio"}, "would shadow the module 'asyncio'"),
        ({"package_name": "hypercorn"}, "would shadow the module 'hypercorn'"),
        ({"package_name": "test"}, "would shadow the module 'test'"),
        ({"package_name": "conftest"}, "would shadow the module 'conftest'"),
        (
            {"package_name": "a" * 41},
            f"'{'a' * 41}' is 41 characters long: a package name may have at most 40",
        ),
        (
            {"project_name": "The Customer Billing And Invoicing Platform Service"},
            "pick a shorter one, such as 'the_customer_billing_and_invoicing_platf'",
        ),
        ({"project_name": "Test"}, "'test' would shadow the module 'test'"),
        (
            {"author_email": "not-an-email"},
            "Validation error for question 'author_email': 'not-an-email' is not "
            "an email address: use the form name@example.com.",
        ),
        ({"author_email": "a@b"}, "'a@b' is not an email address"),
        ({"author_email": "two words@example.com"}, "is not an email address"),
        (
            {"python_version": "3.11"},
            "Invalid choice for 'python_version': '3.11' is not in "
            "['3.14', '3.13', '3.15']",
        ),
    ],
)
def test_bad_answer_is_refused_with_a_clear_message(
    template: Path, tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render(template, tmp_path / "out", answers)
    assert not (tmp_path / "out" / "pyproject.toml").exists()


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [
        ("My Service", "my_service"),
        ("Billing-API v2", "billing_api_v2"),
        ("  42 Things!  ", "things"),
    ],
)
def test_package_name_is_derived_from_the_project_name(
    template: Path, tmp_path: Path, project_name: str, package_name: str
) -> None:
    render(template, tmp_path, {"project_name": project_name})
    assert (tmp_path / "src" / package_name / "__init__.py").is_file()


def test_awkward_names_still_render_valid_python(projects: ProjectFactory) -> None:
    project = projects.rendered(
        {
            "project_name": 'Café "Quoted" \\ Service',
            "description": 'It says "hi" and uses a backslash \\',
            "author_name": "O'Brien",
        },
        name="awkward",
    )
    assert project.package == "caf_quoted_service"
    # Parsed by the oldest Python a service may target (its syntax is newer
    # than the suite's), with warnings such as invalid escape sequences as
    # errors.
    choices = load_questions()["python_version"]["choices"].values()
    oldest = min(choices, key=lambda version: tuple(map(int, version.split("."))))
    sources = [str(path) for path in project.path.rglob("*.py")]
    python = [uv_bin(), "run", "--no-project", "--python", oldest, "python"]
    run([*python, "-W", "error", "-c", PARSE_EACH, *sources], project.path)
    metadata = tomllib.loads((project.path / "pyproject.toml").read_text())["project"]
    assert metadata["description"] == 'It says "hi" and uses a backslash \\'
    assert metadata["authors"][0]["name"] == "O'Brien"
    about = ast.parse((project.path / "src" / project.package / "about.py").read_text())
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in about.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in {"SERVICE_NAME", "DESCRIPTION"}
    }
    assert constants == {
        "SERVICE_NAME": 'Café "Quoted" \\ Service',
        "DESCRIPTION": 'It says "hi" and uses a backslash \\',
    }


def test_every_question_has_help() -> None:
    for name, spec in load_questions().items():
        if spec.get("when") is False:
            continue
        assert spec.get("help"), f"question {name!r} has no help text"


@pytest.mark.parametrize("combination", covering_set(strength=1), ids=lambda c: c.id)
def test_the_longest_names_render_lint_clean(
    projects: ProjectFactory, combination: Combination
) -> None:
    """Names are rendered into imports, strings and docstrings: at the
    longest the questions allow, every answer still lints and formats."""
    project = projects.rendered(
        combination.but(
            project_name="An Eighty Character Project Name For A Service " + "x" * 33,
            package_name="a_forty_character_package_name_for_tests",
            description="A description " + "long " * 40,
        ),
        name="longest-names",
    )
    assert len(project.package) == 40
    project.lint()
