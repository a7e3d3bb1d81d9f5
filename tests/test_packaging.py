"""Packaging stays consistent: environment.yml mirrors pyproject.toml, the CLI is wired."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(req: str) -> tuple[str, str]:
    """Split 'name[extra] >=1, <2' into ('name', '<2,>=1') with canonical name and sorted specs."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", req)
    assert m, f"unparsable requirement {req!r}"
    name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
    specs = ",".join(sorted(s.strip() for s in m.group(3).split(",") if s.strip()))
    return name, specs


def _pyproject_requirements() -> set[tuple[str, str]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra, items in meta["optional-dependencies"].items():
        reqs += [r for r in items if not r.startswith("pixsim")]  # self-references
    return {_normalise(r) for r in reqs}


def _environment_requirements() -> set[tuple[str, str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml must have exactly one pip: section"
    return {_normalise(r) for r in pip_lists[0] if not r.startswith("-e")}


def test_environment_yml_matches_pyproject():
    py, env = _pyproject_requirements(), _environment_requirements()
    assert py == env, f"only in pyproject: {sorted(py - env)}; only in environment.yml: {sorted(env - py)}"


def test_environment_yml_installs_the_package_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_list


def test_normalise_catches_a_version_drift():
    assert _normalise("Foo_Bar >=1, <2") == _normalise("foo-bar<2,>=1")
    assert _normalise("foo>=1") != _normalise("foo>=2")


def test_torchattacks_pin_is_the_tested_one():
    import torchattacks

    assert torchattacks.__version__ == "3.3.0", (
        "pixsim pins torchattacks 3.3.0 (no requests~=2.25 pin, so it installs beside Sphinx); "
        f"found {torchattacks.__version__}"
    )


def test_cli_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "pixsim.cli", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    for sub in ("train", "attack", "reproduce"):
        assert sub in out.stdout


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make reproduce" in text and "make test" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_make_test_lints_before_the_tests():
    """CI runs `make test`, which runs ruff (configured in pyproject.toml) before pytest."""
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: lint\b", make, flags=re.M)
    assert re.search(r"^lint:.*\n\t.*ruff check pixsim tests benchmarks", make, flags=re.M)
    assert "ruff" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
