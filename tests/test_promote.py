"""`python -m cicd.promote` on copies of the repo's stack files: comments, order and formatting
kept, only the intended lines changed, every refusal explained and writing nothing; and the
edited prod file evaluated by the real program (promotion adds 1.4.0 and switches the job;
rollback changes only the job). Staging provenance is asked of the emulator (tests/emulator_runs).
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk.service.workspace import ImportFormat, Language
from ruamel.yaml import YAML

from cicd.config import pulumi_config_map
from cicd.evaluation import compare, evaluate
from cicd.jobs.provenance import run_record
from cicd.promote import main
from cicd.promotion.edits import EditRefused, stage_candidate
from cicd.promotion.stack_edit import StackDocument, changed_lines, dump_text
from cicd.releases.lock import LOCK_FILE, content_digest, read_lock
from tests.conftest import REPO, SandboxProject
from tests.emulator import Emulator
from tests.emulator_runs import DEFAULT_IDENTITY, RunScripts
from tests.staging_layout import publish_staging

JOB = ("databricks:index/job:Job", "pipeline-job")
# What a switch of `live` changes in the repo's stacks: each job and the pipeline, once.
RUNNERS = [
    ("change", "databricks:index/job:Job", "pipeline-job"),
    ("change", "databricks:index/job:Job", "pipeline-job-orders_quality-job"),
    ("change", "databricks:index/pipeline:Pipeline", "pipeline-lakeflow-orders_bronze-pipeline"),
]
RUNNER_NAMES = [(kind, name) for kind, _, name in RUNNERS]


@pytest.fixture
def project(sandbox: SandboxProject) -> SandboxProject:
    """The repo's stack files beside releases 1.2.0, 1.3.0 and 1.4.0, all in the lock."""
    for name in ("Pulumi.prod.yaml", "Pulumi.staging.yaml"):
        shutil.copy(REPO / name, sandbox.root / name)
    for version in ("1.2.0", "1.3.0", "1.4.0"):
        sandbox.add_release(version)
    return sandbox


def _comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")] + [
        line.split(" #", 1)[1] for line in text.splitlines() if " # " in line
    ]


def _prod(project: SandboxProject) -> Path:
    return project.root / "Pulumi.prod.yaml"


def test_promote_unverified_keeps_every_comment_and_changes_only_the_release_lines(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _prod(project).read_text()
    code = main(
        ["1.4.0", "--stack", "prod", "--allow-unverified", "test"], project_dir=project.root
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    after = _prod(project).read_text()
    assert _comments(after) == _comments(before)
    assert '- version: "1.4.0"\n        allowUnverified: "test"' in after
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    assert removed == ['    live: "1.3.0"', '    rollbackTarget: "1.2.0"'], removed
    # The printed lines are exactly the changed ones.
    assert '-    live: "1.3.0"' in out and '+    live: "1.4.0"' in out, out
    assert '+    rollbackTarget: "1.3.0"' in out and '+        allowUnverified: "test"' in out
    # Everything else byte for byte, in order.
    kept_lines = [line for line in before.splitlines() if line not in removed]
    assert [line for line in after.splitlines() if line in kept_lines] == kept_lines


def test_promotion_then_rollback_change_what_the_guarantees_say(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    def evaluation() -> Any:
        return evaluate(pulumi_config_map(_prod(project)), "prod", project.root)

    before = evaluation()
    assert main(["1.4.0", "--allow-unverified", "test"], project_dir=project.root) == 0
    promoted = evaluation()
    changes = compare(before, promoted)
    added = {c.name for c in changes if c.kind == "add"}
    assert added and all(name.startswith("release-1.4.0") for name in added), added
    assert sorted((c.kind, c.type, c.name) for c in changes if c.kind != "add") == RUNNERS
    assert main(["--rollback"], project_dir=project.root) == 0
    out = capsys.readouterr().out
    assert '+    live: "1.3.0"' in out and '-    live: "1.4.0"' in out, out
    rolled_back = evaluation()
    assert sorted((c.kind, c.name) for c in compare(promoted, rolled_back)) == RUNNER_NAMES
    task = next(t for t in rolled_back.resources[JOB].inputs["tasks"] if t["taskKey"] == "main")
    assert task["notebookTask"]["notebookPath"].endswith("/releases/1.3.0/main"), task


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["9.9.9", "--allow-unverified", "x"],
            "release 9.9.9 is not published in releases.lock.yaml",
        ),
        (["1.3.0", "--allow-unverified", "x"], "release 1.3.0 is already live"),
        (["../x", "--allow-unverified", "x"], "is not a plain identifier"),
    ],
    ids=["not-in-lock", "already-live", "bad-version"],
)
def test_refusals_name_the_fix_and_write_nothing(
    project: SandboxProject, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    before = _prod(project).read_text()
    assert main(argv, project_dir=project.root) == 1
    err = capsys.readouterr().err
    assert expected in err, err
    assert _prod(project).read_text() == before


def test_not_in_lock_says_how_to_publish(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["9.9.9", "--allow-unverified", "x"], project_dir=project.root) == 1
    assert "python -m cicd.release build 9.9.9" in capsys.readouterr().err


def test_rollback_with_nothing_to_go_back_to_is_refused(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--rollback"], project_dir=project.root) == 0
    rolled_back = _prod(project).read_text()
    assert 'live: "1.2.0"' in rolled_back
    assert main(["--rollback"], project_dir=project.root) == 1
    assert "already the rollback target" in capsys.readouterr().err
    assert _prod(project).read_text() == rolled_back


def test_retire_drops_only_what_is_neither_live_nor_target(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["1.4.0", "--allow-unverified", "hotfix"], project_dir=project.root) == 0
    capsys.readouterr()
    assert main(["--retire"], project_dir=project.root) == 0
    out = capsys.readouterr().out
    assert out.count("\n  -") == 1 and '-      - version: "1.2.0"' in out, out
    text = _prod(project).read_text()
    assert 'version: "1.2.0"' not in text and 'version: "1.3.0"' in text
    assert main(["--retire"], project_dir=project.root) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_a_file_that_would_be_reformatted_is_refused(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = _prod(project).read_text().replace("kept:\n      - version", "kept:\n      -   version")
    _prod(project).write_text(odd)
    assert main(["1.4.0", "--allow-unverified", "x"], project_dir=project.root) == 1
    assert "make the edit by hand" in capsys.readouterr().err
    assert _prod(project).read_text() == odd


def test_an_edit_the_reader_refuses_writes_nothing(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file the one reader refuses (a candidate that is not kept) is never edited.
    staging = project.root / "Pulumi.staging.yaml"
    bad = staging.read_text().replace('live: "1.3.0"', 'live: "1.3.0"\n    candidate: "7"')
    staging.write_text(bad)
    assert (
        main(["1.4.0", "--stack", "staging", "--allow-unverified", "x"], project_dir=project.root)
        == 1
    )
    err = capsys.readouterr().err
    assert "databricks-cicd:releases" in err, err
    assert staging.read_text() == bad


def test_staging_candidate_stage_keeps_the_job_on_the_deployed_release(
    project: SandboxProject,
) -> None:
    assert main(["1.4.0", "--allow-unverified", "x"], project_dir=project.root) == 0
    committed = _prod(project).read_text()
    edit = stage_candidate(committed, "Pulumi.prod.yaml", "1.3.0", "1.2.0")
    assert edit.config.releases.live == "1.3.0" and edit.config.releases.candidate == "1.4.0"
    assert _comments(edit.after) == _comments(committed)
    _prod(project).write_text(edit.after)
    before = evaluate(pulumi_config_map(REPO / "Pulumi.prod.yaml"), "prod", project.root)
    staged = evaluate(pulumi_config_map(_prod(project)), "prod", project.root)
    changes = compare(before, staged)
    # Publishing the candidate adds its resources and changes nothing else: not even the job.
    assert changes and all(c.kind == "add" and c.name.startswith("release-1.4.0") for c in changes)
    assert staged.outputs["candidateRelease"] == "1.4.0"
    assert staged.outputs["candidateNotebookPath"].endswith("/releases/1.4.0/main")
    with pytest.raises(EditRefused, match="removes '0.9.0', which production runs now"):
        stage_candidate(committed, "Pulumi.prod.yaml", "0.9.0", None)


# ---------------------------------------------------------------------------------------------
# Provenance asked of a real HTTP server


def _reader(client: Any) -> Any:
    return lambda _source: client


def test_promote_checks_staging_and_refuses_without_a_green_run(
    project: SandboxProject,
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "promote-provenance-a"
    staging = publish_staging(project.root, emulator, run_scripts, name, "1.4.0")
    client = emulator.client()
    before = _prod(project).read_text()
    # A failed run of 1.4.0 is no provenance.
    run_scripts.script(f"/{name}/releases/1.4.0/", ("TERMINATED", "FAILED", "boom"))
    staging.deployer.jobs.run_now(staging.job_id, notebook_params=staging.record)
    assert main(["1.4.0"], project_dir=project.root, staging_reader=_reader(client)) == 1
    err = capsys.readouterr().err
    assert "release 1.4.0" in err and "has no successful run" in err and "FAILED" in err, err
    assert "--allow-unverified" in err
    assert _prod(project).read_text() == before

    # A green run of the same content, started by the deploy identity (as CI does), is
    # (staging deployed again, under a folder of its own: a script follows a notebook path).
    name = "promote-provenance-a-green"
    staging = publish_staging(project.root, emulator, run_scripts, name, "1.4.0")
    staging.deployer.jobs.run_now(staging.job_id, notebook_params=staging.record)
    run_scripts.script(f"/{name}/releases/1.4.0/", ("TERMINATED", "SUCCESS", None))
    assert main(["1.4.0"], project_dir=project.root, staging_reader=_reader(client)) == 0
    out = capsys.readouterr().out
    assert "ran green in staging" in out and emulator.url in out, out
    assert 'live: "1.4.0"' in _prod(project).read_text()
    assert "allowUnverified" not in _prod(project).read_text()


def test_a_green_run_of_other_content_is_no_provenance(
    project: SandboxProject,
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "promote-provenance-b"
    staging = publish_staging(project.root, emulator, run_scripts, name, "1.4.0")
    run_scripts.script(f"/{name}/releases/1.4.0/", ("TERMINATED", "SUCCESS", None))
    client = emulator.client()
    other = run_record("1.4.0", "sha256:" + "0" * 64)
    staging.deployer.jobs.run_now(staging.job_id, notebook_params=other)
    assert main(["1.4.0"], project_dir=project.root, staging_reader=_reader(client)) == 1
    err = capsys.readouterr().err
    assert "ran 1.4.0 with other content" in err, err


def test_a_run_started_by_hand_is_no_provenance(
    project: SandboxProject,
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Someone with CAN_MANAGE_RUN starts the job with the record CI would pass, or the deploy
    identity's run overrides another parameter: neither counts (issue 20, item 8)."""
    name = "promote-provenance-hand"
    staging = publish_staging(project.root, emulator, run_scripts, name, "1.4.0")
    run_scripts.script(f"/{name}/releases/1.4.0/", ("TERMINATED", "SUCCESS", None))
    client = emulator.client()  # a person's token
    client.jobs.run_now(staging.job_id, notebook_params=staging.record)
    staging.deployer.jobs.run_now(
        staging.job_id, notebook_params={**staging.record, "source_table": "dev.scratch.orders"}
    )
    before = _prod(project).read_text()
    assert main(["1.4.0"], project_dir=project.root, staging_reader=_reader(client)) == 1
    err = capsys.readouterr().err
    assert f"was started by {DEFAULT_IDENTITY}, not by the job's trigger" in err, err
    assert "overrides source_table" in err, err
    assert _prod(project).read_text() == before


def test_a_run_the_schedule_started_is_provenance(
    project: SandboxProject,
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "promote-provenance-schedule"
    staging = publish_staging(project.root, emulator, run_scripts, name, "1.4.0")
    run_scripts.script(f"/{name}/releases/1.4.0/", ("TERMINATED", "SUCCESS", None))
    client = emulator.client()
    started = client.jobs.run_now(staging.job_id)
    run_scripts.fired_by_schedule(started.run_id)
    assert main(["1.4.0"], project_dir=project.root, staging_reader=_reader(client)) == 0, (
        capsys.readouterr().err
    )
    out = capsys.readouterr().out
    assert "ran green in staging" in out and str(started.run_id) in out, out
    assert 'live: "1.4.0"' in _prod(project).read_text()


def test_a_staging_release_edited_by_hand_is_no_provenance(
    project: SandboxProject,
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A green run of the release proves something only if staging's copy is the lock's: an
    edit of its notebook (by an admin: the folder is restricted) is found when promoting."""
    name = "promote-provenance-edited"
    staging = publish_staging(project.root, emulator, run_scripts, name, "1.4.0")
    run_scripts.script(f"/{name}/releases/1.4.0/", ("TERMINATED", "SUCCESS", None))
    staging.deployer.jobs.run_now(staging.job_id, notebook_params=staging.record)
    client = emulator.client()
    main_notebook = f"{staging.root}/releases/1.4.0/main"
    client.workspace.import_(
        main_notebook,
        content=base64.b64encode(b"# Databricks notebook source\nprint('not reviewed')\n").decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )
    before = _prod(project).read_text()
    assert main(["1.4.0"], project_dir=project.root, staging_reader=_reader(client)) == 1
    err = capsys.readouterr().err
    assert "release 1.4.0 in staging is not what" in err and main_notebook in err, err
    assert "--restore" in err, err
    assert _prod(project).read_text() == before


def test_no_staging_job_is_no_provenance(
    project: SandboxProject, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    _staging_file(project, "promote-provenance-none", emulator.url)
    client = emulator.client()
    assert main(["1.4.0"], project_dir=project.root, staging_reader=_reader(client)) == 1
    err = capsys.readouterr().err
    assert "no job named 'promote-provenance-none'" in err and "CAN_VIEW" in err, err


def _staging_file(project: SandboxProject, job_name: str, host: str) -> None:
    staging = project.root / "Pulumi.staging.yaml"
    text = staging.read_text()
    text = re.sub(r"name: etl-pipeline-staging", f"name: {job_name}", text)
    text = re.sub(r"databricks:host: \S+", f"databricks:host: {host}", text)
    staging.write_text(text)


def _digest(project: SandboxProject, version: str) -> str:
    return content_digest(read_lock(project.root / LOCK_FILE)[version])


@pytest.mark.usefixtures("built_releases")
def test_done_when_build_promote_preview_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's acceptance, on a copy of the repo: `cicd.release build 1.4.0`, then
    `cicd.promote 1.4.0 --stack prod --allow-unverified "test"` keeps every comment; the prod
    evaluation then adds only 1.4.0's resources and changes only the job; `--rollback` then
    changes only the job, back to 1.3.0."""
    import subprocess

    from cicd.release import main as release_main

    root = tmp_path / "repo"
    shutil.copytree(
        REPO / "pipeline",
        root / "pipeline",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist"),
    )
    for name in (
        "__main__.py",
        "Pulumi.yaml",
        "Pulumi.prod.yaml",
        "Pulumi.staging.yaml",
        LOCK_FILE,
    ):
        shutil.copy(REPO / name, root / name)
    for version in ("1.2.0", "1.3.0"):
        shutil.copytree(REPO / "dist/releases" / version, root / "dist/releases" / version)
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    prod = root / "Pulumi.prod.yaml"
    original = prod.read_text()

    assert release_main(["build", "1.4.0"], project_dir=root) == 0, capsys.readouterr().err
    before = evaluate(pulumi_config_map(prod), "prod", root)
    assert main(["1.4.0", "--stack", "prod", "--allow-unverified", "test"], project_dir=root) == 0
    promoted_text = prod.read_text()
    assert _comments(promoted_text) == _comments(original)
    promoted = evaluate(pulumi_config_map(prod), "prod", root)
    changes = compare(before, promoted)
    assert {c.name for c in changes if c.kind == "add"} == {
        r.name for r in promoted.resources.values() if r.name.startswith("release-1.4.0")
    }
    assert sorted((c.kind, c.name) for c in changes if c.kind != "add") == RUNNER_NAMES

    assert main(["--rollback", "--stack", "prod"], project_dir=root) == 0
    rolled_back = evaluate(pulumi_config_map(prod), "prod", root)
    assert sorted((c.kind, c.name) for c in compare(promoted, rolled_back)) == RUNNER_NAMES
    assert rolled_back.outputs["liveRelease"] == "1.3.0"
    assert _comments(prod.read_text()) == _comments(original)


# ---------------------------------------------------------------------------------------------
# The stack file is shared: concurrent runs, its bytes, its permissions, its comments


def test_two_promotions_at_once_one_wins_the_other_names_its_change(
    project: SandboxProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both read the file, both ask staging (held at a barrier until both have read), then both
    write: the second writer finds the first one's change and refuses, showing it."""
    import threading
    from types import SimpleNamespace

    import cicd.promotion.staging

    project.add_release("1.5.0")
    barrier = threading.Barrier(2, timeout=30)

    def green(project_dir: Path, version: str, source: object, staging_reader: object) -> object:
        barrier.wait()
        return SimpleNamespace(run_page_url=f"https://staging/run/{version}")

    monkeypatch.setattr(cicd.promotion.staging, "check_staging_provenance", green)
    codes: dict[str, int] = {}

    def run(version: str) -> None:
        reader = SimpleNamespace(jobs=None)  # the look-up itself is stubbed above
        codes[version] = main([version], project_dir=project.root, staging_reader=lambda _: reader)

    threads = [threading.Thread(target=run, args=(v,)) for v in ("1.4.0", "1.5.0")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    err = capsys.readouterr().err
    assert sorted(codes.values()) == [0, 1], (codes, err)
    winner = next(v for v, code in codes.items() if code == 0)
    loser = next(v for v, code in codes.items() if code == 1)
    text = _prod(project).read_text()
    assert f'live: "{winner}"' in text and f'version: "{loser}"' not in text, text
    assert "changed while `python -m cicd.promote" in err, err
    assert f'+    live: "{winner}"' in err, f"the refusal should show the other change: {err}"
    assert "run the command again" in err, err
    # Nothing lost: the loser, run again, promotes on top of the winner's change.
    monkeypatch.undo()
    assert main([loser, "--allow-unverified", "again"], project_dir=project.root) == 0
    text = _prod(project).read_text()
    assert f'version: "{winner}"' in text and f'live: "{loser}"' in text, text
    assert not list(project.root.glob(".*.lock")), "the edit lock was left behind"


@pytest.mark.slow
def test_promotions_in_separate_processes_lose_nothing(project: SandboxProject) -> None:
    """Four real processes at once: each either promoted (its version is kept in the end) or
    refused naming the other change; none exits 0 having lost its edit."""
    import subprocess
    import sys

    versions = ["1.5.0", "1.6.0", "1.7.0", "1.8.0"]
    for version in versions:
        project.add_release(version)
    script = (
        "import sys; from pathlib import Path; from cicd.promote import main;"
        " sys.exit(main([sys.argv[1], '--allow-unverified', 'race'], project_dir=Path(sys.argv[2])))"
    )
    processes = {
        v: subprocess.Popen(
            [sys.executable, "-c", script, v, str(project.root)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in versions
    }
    results = {v: (p.wait(120), p.communicate()[1]) for v, p in processes.items()}
    text = _prod(project).read_text()
    for version, (code, err) in results.items():
        if code == 0:
            assert f'version: "{version}"' in text, f"{version} exited 0 but is lost:\n{text}"
        else:
            assert code == 1 and ("changed while" in err or "is writing it now" in err), (
                f"{version}: exit {code}: {err}"
            )
    assert any(code == 0 for code, _ in results.values()), results


def test_crlf_and_bom_are_kept_byte_for_byte(project: SandboxProject) -> None:
    lf = _prod(project).read_bytes()
    original = b"\xef\xbb\xbf" + lf.replace(b"\n", b"\r\n")
    _prod(project).write_bytes(original)
    assert main(["1.4.0", "--allow-unverified", "x"], project_dir=project.root) == 0
    assert main(["--retire"], project_dir=project.root) == 0
    assert main(["--rollback"], project_dir=project.root) == 0
    after = _prod(project).read_bytes()
    assert after.startswith(b"\xef\xbb\xbf"), after[:10]
    body = after[3:]
    assert body.count(b"\n") == body.count(b"\r\n"), "an LF line ending crept in"
    # The same three edits on the LF file give the same lines: only the bytes' form differs.
    _prod(project).write_bytes(lf)
    for argv in (["1.4.0", "--allow-unverified", "x"], ["--retire"], ["--rollback"]):
        assert main(argv, project_dir=project.root) == 0
    assert body == _prod(project).read_bytes().replace(b"\n", b"\r\n")


def test_mixed_line_endings_are_refused_naming_the_cause(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = _prod(project).read_bytes().replace(b"\n", b"\r\n", 3)
    _prod(project).write_bytes(mixed)
    assert main(["--rollback"], project_dir=project.root) == 1
    err = capsys.readouterr().err
    assert "mixes line endings" in err and "line 4 ends in LF" in err, err
    assert _prod(project).read_bytes() == mixed


def test_a_read_only_stack_file_is_a_message_not_a_traceback(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _prod(project).read_bytes()
    _prod(project).chmod(0o444)
    try:
        assert main(["1.4.0", "--allow-unverified", "x"], project_dir=project.root) == 1
        err = capsys.readouterr().err
        assert "Pulumi.prod.yaml: is read-only (mode -r--r--r--)" in err, err
        assert "chmod u+w" in err and "Traceback" not in err, err
        assert _prod(project).read_bytes() == before
    finally:
        _prod(project).chmod(0o644)


def test_retire_keeps_a_comment_above_a_kept_entry(
    project: SandboxProject, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _prod(project).read_text()
    text = text.replace(
        '      - version: "1.3.0"\n',
        '      # 1.3.0: the fix for INC-42, keep until 1.5\n      - version: "1.3.0"\n',
    )
    _prod(project).write_text(text)
    assert main(["1.4.0", "--allow-unverified", "x"], project_dir=project.root) == 0
    capsys.readouterr()
    assert main(["--retire"], project_dir=project.root) == 0
    out = capsys.readouterr().out
    after = _prod(project).read_text()
    assert '      # 1.3.0: the fix for INC-42, keep until 1.5\n      - version: "1.3.0"\n' in after
    assert 'version: "1.2.0"' not in after, after
    assert out.count("\n  -") == 1 and "\n  +" not in out, out


@pytest.mark.parametrize("style", [(2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (2, 4, 0)])
def test_a_stack_file_in_any_known_indentation_style_is_edited_on_one_line(
    style: tuple[int, int, int],
) -> None:
    """The stack file is read once and written back in the first style that gives it back byte
    for byte (cicd.promotion.stack_edit.round_trip_load); an edit changes the one line."""
    mapping, sequence, offset = style
    writer = YAML()
    writer.preserve_quotes = True
    writer.width = 4096
    writer.indent(mapping=mapping, sequence=sequence, offset=offset)
    styled = dump_text(writer, writer.load((REPO / "Pulumi.prod.yaml").read_text()))
    document = StackDocument(styled, "Pulumi.prod.yaml")
    assert document.text() == styled, f"style {style}: not given back byte for byte"
    document.set_value("live", "9.9.9")
    edited = document.text()
    before = next(line for line in styled.splitlines() if line.strip().startswith("live:"))
    after = before.split("live:")[0] + 'live: "9.9.9"'
    assert changed_lines(styled, edited) == [f"-{before}", f"+{after}"], (
        f"style {style}: {changed_lines(styled, edited)}"
    )


# ---------------------------------------------------------------------------------------------
# Start-up: the commands that never ask a workspace do not load the Databricks SDK


# Runs in a fresh interpreter: a finder on sys.meta_path notes the first import of databricks.sdk
# (the command then running and the project's frames on the stack: who imported it), then the
# commands run one after another on the project; the result goes to a JSON file.
_SDK_WITNESS = """\
import json, sys, traceback
from pathlib import Path

repo = Path.cwd()


class Witness:
    command = "import cicd.promote, cicd.gate"
    seen = None

    def find_spec(self, name, path=None, target=None):
        if name == "databricks.sdk" and self.seen is None:
            frames = [
                f"{Path(f.filename).relative_to(repo)}:{f.lineno} ({f.line})"
                for f in traceback.extract_stack()
                if f.filename.startswith(str(repo / "cicd"))
            ]
            self.seen = {"command": self.command, "frames": frames}
        return None


witness = Witness()
sys.meta_path.insert(0, witness)
from cicd.gate import main as gate
from cicd.promote import main as promote

project, commands, result = Path(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
codes = []
for tool, argv in commands:
    witness.command = f"python -m cicd.{tool} {' '.join(argv)}"
    codes.append((promote if tool == "promote" else gate)(argv, project_dir=project))
offline = witness.seen
witness.command = "import cicd.jobs.runs"  # the control: a module that needs the SDK
import cicd.jobs.runs

result.write_text(json.dumps({"codes": codes, "offline": offline, "control": witness.seen}))
"""


def test_commands_that_ask_no_workspace_never_load_the_databricks_sdk(
    project: SandboxProject, tmp_path: Path
) -> None:
    """The on-call runbook's edits (promote --rollback/--abandon/--retire, an unverified
    promotion) and the gate's plan, stage and restore of a release that needs no staging run
    contact no workspace: they must start without databricks.sdk (over a second of imports,
    most of their start-up; benchmarks/startup.py). Run as a person runs them: one fresh
    interpreter, the real stack file; a control import proves the witness sees the SDK load."""
    import json
    import os
    import subprocess
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # The stand-in Pulumi CLI: the deploy before these edits ran 1.3.0 (rollback target 1.2.0).
    outputs = '{"liveRelease": "1.3.0", "rollbackTarget": "1.2.0", "jobId": "7"}'
    (bin_dir / "pulumi").write_text(f"#!/bin/sh\ncat <<'JSON'\n{outputs}\nJSON\n")
    (bin_dir / "pulumi").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    commands = [
        ("promote", ["1.4.0", "--stack", "prod", "--allow-unverified", "hotfix"]),
        ("gate", ["plan", "--stack", "prod"]),  # a promotion, allowUnverified
        ("gate", ["stage", "--stack", "prod"]),
        ("gate", ["restore", "--stack", "prod"]),
        ("promote", ["--abandon", "--stack", "prod"]),
        ("promote", ["--retire", "--stack", "prod"]),
        ("promote", ["--rollback", "--stack", "prod"]),
        ("gate", ["plan", "--stack", "prod"]),  # a rollback
    ]
    result = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-c", _SDK_WITNESS, str(project.root), json.dumps(commands), str(result)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, f"the witness script failed: {said}"
    seen = json.loads(result.read_text())
    assert seen["codes"] == [0] * len(commands), f"exit codes {seen['codes']}: {said}"
    # Each command did its edit: the unverified promotion was staged and shown as such, the
    # abandoned 1.4.0 retired, then the rollback made 1.2.0 live.
    assert "goes out WITHOUT a green staging run: allowUnverified 'hotfix'" in said, said
    assert "stack prod: rollback: 1.3.0 -> 1.2.0" in said, said
    releases = json.loads(pulumi_config_map(_prod(project))["databricks-cicd:releases"])
    assert releases["live"] == "1.2.0", f"Pulumi.prod.yaml releases after the commands: {releases}"
    assert "1.4.0" not in {k["version"] for k in releases["kept"]}, releases
    offline = seen["offline"]
    assert offline is None, (
        f"`{offline and offline['command']}` loaded databricks.sdk, imported by:\n  "
        + "\n  ".join(offline["frames"] if offline else [])
    )
    control = seen["control"]
    assert control and any(f.startswith("cicd/jobs/runs.py:") for f in control["frames"]), (
        f"the witness did not see cicd.jobs.runs import the SDK: {control}"
    )
