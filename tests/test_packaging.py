"""Packaging: environment.yml installs what pyproject.toml declares; the README's commands exist."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import ROOT


def requirement_name(spec: str) -> str:
    """Normalised distribution name of a requirement ("flufl.bounce>=6" -> "flufl-bounce")."""
    name = re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {requirement_name(s) for s in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {requirement_name(s) for s in extra}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    listed = {requirement_name(spec) for spec in conda + pip}
    # Conda also gives what pip cannot: Python itself, and the Java runtime Spark runs on.
    assert listed - {"python", "pip", "openjdk"} == declared


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:20])
    assert "make sample" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()
