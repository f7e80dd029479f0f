"""Blue/green guarantees, proven by evaluating the whole program twice and comparing everything
it registers (type, name, inputs, parent, options) — see DESIGN.md, "Guarantees".
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pulumi
import pytest

from cicd.evaluation import Change, Evaluation, compare
from tests.conftest import PY_NOTEBOOK, SandboxProject, with_releases

JOB = ("databricks:index/job:Job", "pipeline-job")


@pytest.fixture
def three_kept(sandbox: SandboxProject) -> SandboxProject:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        sandbox.add_release(version)
    return sandbox


def test_rollback_changes_only_the_job(three_kept: SandboxProject, values: dict[str, Any]) -> None:
    before = three_kept.evaluate(
        with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.2.0", rollbackTarget="1.1.0")
    )
    # The one-line edit: live 1.2.0 -> 1.1.0.
    after = three_kept.evaluate(
        with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.1.0", rollbackTarget="1.1.0")
    )
    changes = compare(before, after)
    assert [(c.kind, c.type, c.name) for c in changes] == [("change", *JOB)], changes
    assert len(before.resources) == len(after.resources) > 20, len(after.resources)
    task = after.resources[JOB].inputs["tasks"][0]
    assert task["notebookTask"]["notebookPath"].endswith("/releases/1.1.0/main"), task
    assert after.outputs["liveRelease"] == "1.1.0", after.outputs


def test_rollback_with_the_default_target_changes_only_the_job(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    before = three_kept.evaluate(with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.2.0"))
    after = three_kept.evaluate(with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.1.0"))
    assert [(c.kind, c.name) for c in compare(before, after)] == [("change", "pipeline-job")]
    assert (before.outputs["rollbackTarget"], after.outputs["rollbackTarget"]) == ("1.1.0", "1.0.0")


def test_promotion_adds_the_release_then_switches_the_job(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    before = three_kept.evaluate(with_releases(values, ["1.0.0", "1.1.0"], "1.1.0"))
    after = three_kept.evaluate(
        with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.2.0", rollbackTarget="1.1.0")
    )
    changes = compare(before, after)
    added = [c for c in changes if c.kind == "add"]
    others = [c for c in changes if c.kind != "add"]
    assert others == [Change("change", *JOB, changed_inputs=("jobClusters", "tags", "tasks"))], (
        others
    )
    assert added and all(c.name.startswith("release-1.2.0") for c in added), added
    new_release_names = {
        r.name for r in after.resources.values() if r.name.startswith("release-1.2.0")
    }
    assert {c.name for c in added} == new_release_names, sorted(
        new_release_names - {c.name for c in added}
    )
    # The job waits for the new release's uploads: add first, then switch.
    assert "release-1.2.0-notebook-main" in after.resources[JOB].dependencies


def test_retiring_an_old_release_removes_only_its_resources(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    before = three_kept.evaluate(
        with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.2.0", rollbackTarget="1.1.0")
    )
    after = three_kept.evaluate(
        with_releases(values, ["1.1.0", "1.2.0"], "1.2.0", rollbackTarget="1.1.0")
    )
    changes = compare(before, after)
    assert changes and all(
        c.kind == "remove" and c.name.startswith("release-1.0.0") for c in changes
    ), changes


def refused(sandbox: SandboxProject, values: dict[str, Any]) -> tuple[str, Evaluation]:
    partial = Evaluation()
    with pytest.raises(pulumi.RunError) as caught:
        sandbox.evaluate(values, into=partial)
    return str(caught.value), partial


@pytest.mark.parametrize(
    ("releases", "expected"),
    [
        (
            {"kept": [{"version": "1.0.0"}, {"version": "1.1.0"}], "live": "1.2.0"},
            "live release '1.2.0' is not in kept",
        ),
        (
            {
                "kept": [{"version": "1.1.0"}, {"version": "1.2.0"}],
                "live": "1.2.0",
                "rollbackTarget": "1.0.0",
            },
            "rollbackTarget '1.0.0' is not in kept",
        ),
        (
            {"kept": [{"version": "1.2.0"}], "live": "1.2.0", "requireRollbackTarget": True},
            "no rollback target would remain",
        ),
        (
            {"kept": [{"version": "1.1.0"}, {"version": "1.1.0"}], "live": "1.1.0"},
            "'1.1.0' is listed twice",
        ),
        ({"kept": [{"version": "../1.1.0"}], "live": "../1.1.0"}, "not a plain identifier"),
        ({"kept": [{"version": "1.1.0/x"}], "live": "1.1.0/x"}, "not a plain identifier"),
        ({"kept": [{"version": "1 1"}], "live": "1 1"}, "not a plain identifier"),
        ({"kept": [{"version": ""}], "live": ""}, "not a plain identifier"),
    ],
    ids=[
        "live-not-kept",
        "rollback-target-removed",
        "last-rollback-target",
        "duplicate",
        "dotdot",
        "slash",
        "space",
        "empty",
    ],
)
def test_unsafe_release_edits_fail_before_anything_registers(
    three_kept: SandboxProject, values: dict[str, Any], releases: dict[str, Any], expected: str
) -> None:
    changed = copy.deepcopy(values)
    changed["releases"] = releases
    message, partial = refused(three_kept, changed)
    assert expected in message, message
    assert "databricks-cicd:releases" in message, message
    assert partial.resources == {}, f"registered before failing: {sorted(partial.resources)}"


def test_changed_content_of_a_published_release_fails_naming_the_file(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    (three_kept.root / "dist/releases/1.0.0/notebooks/transforms/explore.py").write_text(
        PY_NOTEBOOK.format("quietly edited")
    )
    message, partial = refused(three_kept, with_releases(values, ["1.0.0", "1.1.0"], "1.1.0"))
    assert (
        "release 1.0.0: notebooks/transforms/explore.py changed since it was published" in message
    ), message
    assert partial.resources == {}, sorted(partial.resources)


def test_rebuilt_wheel_with_other_bytes_fails(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    (
        three_kept.root / "dist/releases/1.1.0/libraries/etl_pipeline-1.1.0-py3-none-any.whl"
    ).write_bytes(b"rebuilt")
    message, _ = refused(three_kept, with_releases(values, ["1.0.0", "1.1.0"], "1.1.0"))
    assert (
        "libraries/etl_pipeline-1.1.0-py3-none-any.whl changed since it was published" in message
    ), message


def test_kept_release_missing_on_disk_says_how_to_bring_it_back(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    message, _ = refused(three_kept, with_releases(values, ["1.0.0", "2.0.0"], "1.0.0"))
    assert "dist/releases/2.0.0: release folder not found" in message, message
    assert "python -m cicd.release ensure --stack" in message, message


def test_entry_notebook_missing_from_live_release(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    values["job"]["entryNotebook"] = "jobs/daily"
    message, partial = refused(three_kept, values)
    assert (
        "databricks-cicd:job.entryNotebook: kept release 1.0.0 (live) has no notebook"
        " 'jobs/daily' (6 notebook(s))." in message
    ), message
    assert "remove it to run each release's own entry notebook" in message, message
    assert partial.resources == {}


def test_bad_config_registers_nothing(three_kept: SandboxProject, values: dict[str, Any]) -> None:
    values["job"]["cluster"]["numWorkers"] = -3
    message, partial = refused(three_kept, values)
    assert "databricks-cicd:job.cluster.numWorkers" in message and partial.resources == {}


def test_same_inputs_give_the_same_registrations(
    three_kept: SandboxProject, values: dict[str, Any]
) -> None:
    config = with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.2.0")
    first, second = three_kept.evaluate(config), three_kept.evaluate(config)
    assert compare(first, second) == []
    assert first.resources == second.resources


def test_order_of_releases_and_files_changes_nothing(
    sandbox: SandboxProject, values: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = {f"area{i % 3}/nb{i}.py": PY_NOTEBOOK.format(i) for i in range(12)} | {
        "main.py": PY_NOTEBOOK.format(0)
    }
    for version in ("1.0.0", "1.1.0"):
        sandbox.add_release(version, notebooks=files)
    ordered = sandbox.evaluate(with_releases(values, ["1.0.0", "1.1.0"], "1.1.0"))
    other = SandboxProject(tmp_path_factory.mktemp("shuffled"))
    shuffled = list(files.items())
    random.Random(7).shuffle(shuffled)  # files created on disk in another order
    for version in ("1.1.0", "1.0.0"):
        other.add_release(version, notebooks=dict(shuffled))
    reordered = other.evaluate(with_releases(values, ["1.1.0", "1.0.0"], "1.1.0"))
    assert compare(ordered, reordered) == []
    assert ordered.outputs == reordered.outputs


@pytest.fixture
def other_entries(sandbox: SandboxProject) -> SandboxProject:
    """1.0.0 runs `main`; 1.1.0 has no `main` and runs `jobs/01.5-Delta-pipeline`."""
    sandbox.add_release("1.0.0")
    sandbox.add_release(
        "1.1.0",
        notebooks={
            "1. setup.sql": "-- Databricks notebook source\nSELECT 1\n",
            "jobs/01.5-Delta-pipeline.py": PY_NOTEBOOK.format("delta"),
        },
        entry="jobs/01.5-Delta-pipeline",
    )
    return sandbox


def test_rollback_across_entry_notebooks_of_different_names_is_one_edit(
    other_entries: SandboxProject, values: dict[str, Any]
) -> None:
    newer = other_entries.evaluate(with_releases(values, ["1.0.0", "1.1.0"], "1.1.0"))
    older = other_entries.evaluate(with_releases(values, ["1.0.0", "1.1.0"], "1.0.0"))
    changes = compare(newer, older)
    assert [(c.kind, c.name) for c in changes] == [("change", "pipeline-job")], changes
    paths = [
        r.inputs["tasks"][0]["notebookTask"]["notebookPath"]
        for r in (newer.resources[JOB], older.resources[JOB])
    ]
    assert paths == [
        "/Production/etl-pipeline/releases/1.1.0/jobs/01.5-Delta-pipeline",
        "/Production/etl-pipeline/releases/1.0.0/main",
    ], paths
    assert newer.outputs["liveNotebookPath"] == paths[0], newer.outputs


def test_an_entry_override_must_be_a_notebook_of_every_kept_release(
    other_entries: SandboxProject, values: dict[str, Any]
) -> None:
    values["job"]["entryNotebook"] = "main"
    message, partial = refused(other_entries, with_releases(values, ["1.0.0", "1.1.0"], "1.0.0"))
    assert (
        "databricks-cicd:job.entryNotebook: kept release 1.1.0 has no notebook 'main' (2"
        " notebook(s)). The override applies to every kept release, so rolling back would need a"
        " second edit" in message
    ), message
    assert "1.0.0" not in message.split("kept releases;")[-1], message
    assert partial.resources == {}


def test_an_entry_override_with_dots_and_spaces_is_run(
    other_entries: SandboxProject, values: dict[str, Any]
) -> None:
    values["job"]["entryNotebook"] = "1. setup"
    evaluation = other_entries.evaluate(with_releases(values, ["1.1.0"], "1.1.0"))
    task = evaluation.resources[JOB].inputs["tasks"][0]
    assert (
        task["notebookTask"]["notebookPath"] == "/Production/etl-pipeline/releases/1.1.0/1. setup"
    )


def test_an_override_given_as_a_file_name_says_to_drop_the_extension(
    other_entries: SandboxProject, values: dict[str, Any]
) -> None:
    values["job"]["entryNotebook"] = "jobs/01.5-Delta-pipeline.py"
    message, _ = refused(other_entries, with_releases(values, ["1.1.0"], "1.1.0"))
    assert (
        "kept release 1.1.0 (live) has no notebook 'jobs/01.5-Delta-pipeline.py' (that is the"
        " file: name the notebook without its extension, 'jobs/01.5-Delta-pipeline')" in message
    ), message


def test_workspace_limits_are_checked_at_preview_before_anything_registers(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    folder = sandbox.add_release("1.0.0")
    (folder / "notebooks" / "transforms" / "explore").mkdir()
    (folder / "notebooks" / "transforms" / "explore" / "step.py").write_text(PY_NOTEBOOK.format(1))
    (folder / "notebooks" / "bom.py").write_bytes(b"\xef\xbb\xbf" + PY_NOTEBOOK.format(2).encode())
    message, partial = refused(sandbox, values)
    assert (
        "dist/releases/1.0.0: 2 problem(s) in the content; nothing was published or registered"
        in message
    ), message
    assert (
        "- notebooks/transforms/explore.py (published as 'transforms/explore', the path of the"
        " folder holding notebooks/transforms/explore/step.py): rename the notebook or the folder"
        in message
    ), message
    assert "- notebooks/bom.py: save it as UTF-8 without BOM" in message, message
    assert partial.resources == {}, sorted(partial.resources)
