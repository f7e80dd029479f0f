"""mypy (strict, config in pyproject.toml) over the program against pulumi-databricks' typed
inputs — and proof that it catches a misspelled key two levels down in a nested input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# One worker runs these one after another under pytest-xdist (`--dist loadgroup`, pyproject.toml):
# the first fills mypy's cache (.mypy_cache in the checkout, gitignored), the others then read it
# instead of each checking pulumi_databricks from scratch at the same time.
pytestmark = pytest.mark.xdist_group("mypy")

# Inside the checkout whatever MYPY_CACHE_DIR says: a warm run of ./scripts/test reuses it.
CACHE = REPO / ".mypy_cache"


def run_mypy(*targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(CACHE),
            *targets,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_program_type_checks_against_the_provider_inputs() -> None:
    result = run_mypy()  # the files listed in pyproject.toml: __main__.py, components, cicd
    assert result.returncode == 0, result.stdout + result.stderr
    assert (CACHE / "3.11").is_dir(), f"mypy left no cache in {CACHE}"


def test_mypy_catches_a_misspelled_key_in_a_nested_input(tmp_path: Path) -> None:
    template = (
        "import pulumi_databricks as databricks\n"
        "databricks.Job('j', tasks=[{{'task_key': 'main',\n"
        "    'notebook_task': {{'{key}': '/x'}}}}])\n"
    )
    (tmp_path / "right.py").write_text(template.format(key="notebook_path"))
    (tmp_path / "typo.py").write_text(template.format(key="notebook_pth"))
    right = run_mypy(str(tmp_path / "right.py"))
    assert right.returncode == 0, "the correctly spelled sample must pass: " + right.stdout
    typo = run_mypy(str(tmp_path / "typo.py"))
    assert typo.returncode != 0 and "typo.py:2: error" in typo.stdout, (
        "mypy accepted a misspelled key two levels down: " + typo.stdout
    )


def test_mypy_catches_a_misspelled_keyword_of_an_args_class(tmp_path: Path) -> None:
    sample = tmp_path / "typo_args.py"
    sample.write_text(
        "import pulumi_databricks as databricks\n"
        "databricks.JobTaskNotebookTaskArgs(notebook_pth='/x')\n"
    )
    result = run_mypy(str(sample))
    assert result.returncode != 0 and "notebook_pth" in result.stdout, result.stdout
