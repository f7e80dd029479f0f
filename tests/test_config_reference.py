"""docs/stack-config.md is generated from the config models and kept current."""

from __future__ import annotations

from cicd.config.reference import render
from tests.conftest import REPO


def test_the_stack_config_reference_is_current() -> None:
    written = (REPO / "docs" / "stack-config.md").read_text()
    assert written == render(), (
        "docs/stack-config.md is out of date: run `venv/bin/python -m cicd.config.reference >"
        " docs/stack-config.md`"
    )


def test_the_reference_covers_every_key_of_every_section() -> None:
    text = render()
    for section in ("StackConfig", "JobSettings", "TaskSpec", "PipelineSettings", "Releases"):
        assert f'<a id="{section.lower()}"></a>' in text, section
    for key in ("`jobs`", "`pipelines`", "`dependsOn`", "`pythonWheel`", "`forEach`", "`rootPath`"):
        assert key in text, key
    # The comment above a field in the model is its description.
    assert "Further jobs by key (a stable id: renaming a key replaces the job)." in text
