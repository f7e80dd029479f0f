"""Release builds never meet a credential (issue 20, item 1).

A tag is not reviewed: `cicd.release ensure`/`restore` rebuild only from the tree the lock records
and refuse a tag on other content before anything builds; the build itself (code: the build
backend and its hooks) runs with an allow-listed environment and a scratch HOME. Each test plants
a build hook that writes every variable it sees (and `~/.databrickscfg`) to a file and to its
output, puts a canary secret in the caller's environment and home, runs the real command, and
looks for the canary everywhere: the command's output, every file under the test's folder, the
hook's record.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cicd.release import main
from tests.test_release_cli import git, project, stack_file  # noqa: F401 (fixture)

CANARY = "canary-7f3e9a1c-secret-value"
COMMIT = ["-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qam"]

HOOK = '''\
import os
import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    """Planted: records everything a build can see, then fails if told to."""

    def initialize(self, version, build_data):
        seen = "\\n".join(f"{k}={v}" for k, v in sorted(os.environ.items()))
        config = Path(os.path.expanduser("~/.databrickscfg"))
        if config.is_file():
            seen += "\\n" + config.read_text()
        with open(RECORD, "a") as out:
            out.write(seen + "\\n--- hook ran ---\\n")
        print(seen)
        print(seen, file=sys.stderr)
        if FAIL:
            raise RuntimeError("planted hook fails after printing what it saw")
'''


def plant_hook(root: Path, record: Path, fail: bool = False) -> None:
    """A hatchling build hook in pipeline/ (`[tool.hatch.build.hooks.custom]`, hatch_build.py)."""
    (root / "pipeline" / "hatch_build.py").write_text(
        HOOK.replace("RECORD", repr(str(record))).replace("FAIL", repr(fail))
    )
    pyproject = root / "pipeline" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.hatch.build.hooks.custom]\n")
    git(root, "add", "-A")


def plant_canary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The canary in the environment (as a CI secret and under a name nobody would deny-list)
    and in the caller's ~/.databrickscfg."""
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CANARY)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", CANARY)
    monkeypatch.setenv("SOME_TEAM_VARIABLE", CANARY)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".databrickscfg").write_text(f"[DEFAULT]\ntoken = {CANARY}\n")
    monkeypatch.setenv("HOME", str(home))
    return home / ".databrickscfg"


def files_with_canary(root: Path, planted: Path) -> list[str]:
    return sorted(
        str(path)
        for path in root.rglob("*")
        if path.is_file() and path != planted and CANARY.encode() in path.read_bytes()
    )


@pytest.mark.parametrize("command", ["ensure", "restore"])
def test_a_tag_on_other_content_is_refused_before_anything_builds(
    project: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0, capsys.readouterr().err
    git(project, "add", "-A")
    git(project, *COMMIT, "release 1.0.0")
    # Someone who can push a tag, but whose code nobody reviewed: a hook on a branch, tagged.
    record = tmp_path / "hook-saw.txt"
    git(project, "switch", "-qc", "attack")
    plant_hook(project, record)
    git(project, *COMMIT, "a build hook")
    git(project, "tag", "v1.0.0")
    git(project, "switch", "-q", "-")
    shutil.rmtree(project / "dist")
    stack_file(project, ["1.0.0"], "1.0.0")
    planted = plant_canary(monkeypatch, tmp_path)
    capsys.readouterr()

    argv = ["ensure", "--stack", "prod"] if command == "ensure" else ["restore", "1.0.0"]
    assert main(argv, project_dir=project) == 1
    out, err = capsys.readouterr()
    assert "tag v1.0.0 holds pipeline/ tree" in err and "nothing was built" in err, err
    assert not record.exists(), f"the tag's build hook ran: {record.read_text()[:200]}"
    assert not (project / "dist").exists(), "something was built"
    assert CANARY not in out + err
    assert files_with_canary(tmp_path, planted) == []


def test_the_recorded_tree_builds_with_no_credential_in_reach(
    project: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Reviewed code with a hook that reads the environment: it runs, and sees no secret."""
    record = tmp_path / "hook-saw.txt"
    plant_hook(project, record)
    git(project, *COMMIT, "a reviewed build hook")
    assert main(["build", "1.0.0"], project_dir=project) == 0, capsys.readouterr().err
    git(project, "tag", "v1.0.0")  # on the recorded tree: accepted
    record.unlink()
    shutil.rmtree(project / "dist")
    module = project / "pipeline" / "src" / "etl_pipeline" / "orders.py"
    module.write_text(module.read_text() + "\n# the team moved on\n")
    stack_file(project, ["1.0.0"], "1.0.0")
    planted = plant_canary(monkeypatch, tmp_path)
    capsys.readouterr()

    assert main(["ensure", "--stack", "prod"], project_dir=project) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "1.0.0: restored from source tree" in out, out
    saw = record.read_text()
    assert "--- hook ran ---" in saw and "ETL_PIPELINE_VERSION=1.0.0" in saw, saw
    assert "DATABRICKS_CLIENT_SECRET" not in saw and "SOME_TEAM_VARIABLE" not in saw, saw
    assert str(tmp_path / "home") not in saw, f"the build saw the caller's HOME: {saw}"
    assert CANARY not in out + err
    assert files_with_canary(tmp_path, planted) == []


def test_a_failing_build_prints_its_output_without_a_secret(
    project: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A build's output is shown when it fails: it holds whatever the hook printed, which is
    only what the allow-list let through."""
    record = tmp_path / "hook-saw.txt"
    plant_hook(project, record, fail=True)
    planted = plant_canary(monkeypatch, tmp_path)
    assert main(["build", "2.0.0"], project_dir=project) == 1
    out, err = capsys.readouterr()
    assert "planted hook fails" in err and "ETL_PIPELINE_VERSION=2.0.0" in err, err
    assert CANARY not in out + err
    assert files_with_canary(tmp_path, planted) == []
