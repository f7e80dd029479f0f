"""`python -m cicd.dev_build`: an engineer's dev build, by the reproducible release build, into
`dist/dev/<slug>/`; and the check the program makes before registering anything."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cicd.config import parse_stack_config, stack_file_values
from cicd.dev_build import main
from cicd.releases.content import scan_release
from cicd.releases.dev_builds import (
    DevBuildError,
    dev_version,
    ensure_dev_builds,
    load_dev_builds,
)
from tests.conftest import REPO, base_values

ALICE = "alice@example.com"
BOB = "bob@example.com"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the repo's pipeline sources and a stack listing alice and bob."""
    shutil.copytree(
        REPO / "pipeline",
        tmp_path / "pipeline",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info"),
    )
    values: dict[str, Any] = base_values()
    values["developers"] = {
        "defaults": {"sparkVersion": "15.4.x-scala2.12", "nodeType": "i3.xlarge", "numWorkers": 0},
        "engineers": [{"user": ALICE}, {"user": BOB}],
    }
    document = {"config": {f"databricks-cicd:{k}": v for k, v in values.items()}}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def wheels(folder: Path) -> list[Path]:
    return sorted((folder / "libraries").glob("*.whl"))


def test_build_for_one_engineer_writes_only_their_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "dev", "--user", "Alice@Example.com"], project_dir=project) == 0
    alice = project / "dist" / "dev" / "alice-example-com"
    built = wheels(alice)
    version = dev_version(project / "pipeline")
    assert [w.name for w in built] == [f"etl_pipeline-{version}-py3-none-any.whl"], built
    content = scan_release(alice)  # the same import rules as a release
    assert "main" in content.notebook_names(), content.notebook_names()
    assert not (project / "dist" / "dev" / "bob-example-com").exists(), (
        "bob's folder was written too"
    )
    assert f"{ALICE}: dev build {version}" in capsys.readouterr().out


def test_same_sources_build_the_same_bytes_and_a_change_a_new_file(project: Path) -> None:
    alice = project / "dist" / "dev" / "alice-example-com"
    assert main(["--stack", "dev", "--user", ALICE], project_dir=project) == 0
    first = wheels(alice)[0]
    first_bytes = first.read_bytes()
    assert main(["--stack", "dev", "--user", ALICE], project_dir=project) == 0
    assert wheels(alice)[0].read_bytes() == first_bytes, "the dev build is not reproducible"
    module = sorted((project / "pipeline" / "src" / "etl_pipeline").glob("*.py"))[0]
    module.write_text(module.read_text() + "\n# a change\n")
    assert main(["--stack", "dev", "--user", ALICE], project_dir=project) == 0
    second = wheels(alice)
    assert len(second) == 1 and second[0].name != first.name, (
        f"{first.name} -> {[w.name for w in second]}"
    )
    assert second[0].read_bytes() != first_bytes


def test_all_builds_every_listed_engineer(project: Path) -> None:
    assert main(["--stack", "dev", "--all"], project_dir=project) == 0
    for slug in ("alice-example-com", "bob-example-com"):
        assert len(wheels(project / "dist" / "dev" / slug)) == 1, (
            f"{slug}: {wheels(project / 'dist' / 'dev' / slug)}"
        )


def test_an_unlisted_user_is_refused_with_the_fix(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "dev", "--user", "carol@example.com"], project_dir=project) == 1
    error = capsys.readouterr().err
    assert (
        "carol@example.com is not listed in databricks-cicd:developers.engineers of stack dev:"
        in error
    ), error
    assert "`- user: carol@example.com`" in error, error
    assert not (project / "dist" / "dev").exists(), "something was built for an unlisted user"


def test_ensure_builds_missing_folders_and_keeps_present_ones(project: Path) -> None:
    config = parse_stack_config(stack_file_values(project / "Pulumi.dev.yaml"))
    own = (
        project
        / "dist"
        / "dev"
        / "alice-example-com"
        / "libraries"
        / "etl_pipeline-0.0.0.dev7-py3-none-any.whl"
    )
    own.parent.mkdir(parents=True)
    own.write_bytes(b"alice's own build")
    report = ensure_dev_builds(project, config)
    assert wheels(own.parent.parent) == [own] and own.read_bytes() == b"alice's own build", wheels(
        own.parent.parent
    )
    assert len(wheels(project / "dist" / "dev" / "bob-example-com")) == 1, report
    assert any(line.startswith(f"{ALICE}: dev build present") for line in report), report


def test_program_check_names_each_missing_build_and_its_command(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_stack_config(stack_file_values(project / "Pulumi.dev.yaml"))
    monkeypatch.chdir(project)  # the program reads dist/dev relative to the project
    with pytest.raises(DevBuildError) as caught:
        load_dev_builds(config, "dev")
    message = str(caught.value)
    assert message.startswith(
        "2 problem(s) with the engineers' dev builds; nothing was deployed"
    ), message
    for slug, user in (("alice-example-com", ALICE), ("bob-example-com", BOB)):
        assert f"dist/dev/{slug}/libraries: no dev build (wheel) for {user}" in message, message
        assert f"`python -m cicd.dev_build --stack dev --user {user}`" in message, message
    assert main(["--stack", "dev", "--all"], project_dir=project) == 0
    builds = load_dev_builds(config, "dev")
    assert sorted(builds) == ["alice-example-com", "bob-example-com"], sorted(builds)
    assert str(builds["alice-example-com"].root) == "dist/dev/alice-example-com", builds[
        "alice-example-com"
    ].root
