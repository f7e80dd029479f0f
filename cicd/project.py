"""Where the project's files are: the Pulumi project root, the example pipeline, stack files.

Paths inside the project (release folders, dev builds) are kept relative to it in resource
inputs, so they never depend on where the project is checked out.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PIPELINE_DIR = "pipeline"


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"
