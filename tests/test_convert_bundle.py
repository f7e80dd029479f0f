"""`python -m cicd.convert_bundle`: Databricks' own bundle examples (trimmed copies in
tests/data/bundles, see SOURCE.md there) convert into a copy of the project, and the offline
evaluation then registers every bundle job with the same task keys, dependencies and task types,
and every path in the live release; a second version and a switch of `live` change only jobs and
pipelines; what cannot be converted is listed at once with file and key, and nothing is written.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cicd.config import pulumi_config_map
from cicd.convert_bundle import main
from cicd.evaluation import Evaluation, compare, evaluate
from cicd.evaluation.program import fake_id
from cicd.releases.lock import LOCK_FILE, NO_ENTRY, read_release_metadata
from tests.conftest import REPO, SandboxProject

BUNDLES = REPO / "tests" / "data" / "bundles"
STACK = "bundles"
JOB = "databricks:index/job:Job"
PIPELINE = "databricks:index/pipeline:Pipeline"
WORKSPACE_ROOT = "/Production/bundles"
ARTIFACT_ROOT = "/Volumes/prod/bundles/artifacts"
STACK_TEXT = f"""\
# Bundles converted with cicd.convert_bundle (a comment the conversion must keep).
config:
  databricks:host: https://dbc-bundles-0000.cloud.databricks.com
  databricks-cicd:pipelineName: bundles
  databricks-cicd:workspaceRoot: {WORKSPACE_ROOT} # release folders live here
  databricks-cicd:artifactStore:
    # Runtime 15+ refuses DBFS-root libraries.
    kind: volume
    root: {ARTIFACT_ROOT}
  databricks-cicd:access:
    adminGroup: etl-admins
    deployIdentity: 7a1d9c2e-4b3f-4e6a-8c5d-0f1e2d3c4b5a
"""
# Bundle task kinds and the provider input each one becomes.
TASK_INPUTS = {
    "notebook_task": "notebookTask",
    "python_wheel_task": "pythonWheelTask",
    "spark_python_task": "sparkPythonTask",
    "sql_task": "sqlTask",
    "pipeline_task": "pipelineTask",
    "run_job_task": "runJobTask",
    "condition_task": "conditionTask",
    "for_each_task": "forEachTask",
}


@dataclass(frozen=True)
class Case:
    bundle: str
    target: str
    wheels: tuple[str, ...]  # file names of the wheels given with --library


CASES = {
    "default_python": Case("default_python", "prod", ("default_python-0.0.1-py3-none-any.whl",)),
    "default_sql": Case("default_sql", "prod", ()),
    "lakeflow_pipelines_python": Case(
        "lakeflow_pipelines_python", "prod", ("lakeflow_pipelines_python-0.0.1-py3-none-any.whl",)
    ),
    # cowsay is a package-index requirement: a release installs it as a wheel it published.
    "serverless_job": Case("serverless_job", "dev", ("cowsay-6.1-py3-none-any.whl",)),
}


@dataclass
class Project:
    sandbox: SandboxProject
    wheels_dir: Path

    @property
    def root(self) -> Path:
        return self.sandbox.root

    @property
    def stack_file(self) -> Path:
        return self.root / f"Pulumi.{STACK}.yaml"

    def wheel(self, name: str, data: bytes | None = None) -> Path:
        """A wheel pip would install (publish checks that), `data` in its module to tell builds
        apart."""
        path = self.wheels_dir / name
        if not path.exists() or data is not None:
            distribution, version = name.split("-")[:2]
            dist_info = f"{distribution}-{version}.dist-info"
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr(f"{distribution}/__init__.py", data or f"# built {name}".encode())
                archive.writestr(
                    f"{dist_info}/METADATA",
                    f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n",
                )
                archive.writestr(
                    f"{dist_info}/WHEEL",
                    "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
                )
        return path

    def convert(
        self,
        bundle: Path,
        capsys: pytest.CaptureFixture[str],
        *args: str,
        target: str = "prod",
        version: str = "1.0.0",
    ) -> tuple[int, str, str]:
        code = main(
            [str(bundle), "--target", target, "--stack", STACK, "--version", version, *args],
            project_dir=self.root,
        )
        out, err = capsys.readouterr()
        return code, out, err

    def convert_case(
        self, case: Case, capsys: pytest.CaptureFixture[str], version: str = "1.0.0"
    ) -> tuple[int, str, str]:
        libraries = [arg for name in case.wheels for arg in ("--library", str(self.wheel(name)))]
        return self.convert(
            BUNDLES / case.bundle, capsys, *libraries, target=case.target, version=version
        )

    def evaluate(self, **releases: Any) -> Evaluation:
        config = pulumi_config_map(self.stack_file)
        if releases:
            values = yaml.safe_load(self.stack_file.read_text())["config"]
            current = dict(values["databricks-cicd:releases"], **releases)
            config["databricks-cicd:releases"] = json.dumps(current)
        return evaluate(config, STACK, self.root)

    def written(self) -> list[str]:
        """Every file the conversion may write, that exists."""
        return sorted(
            str(p.relative_to(self.root))
            for p in [self.root / LOCK_FILE, *self.root.glob("releases/**/*")]
            if p.is_file()
        )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "project").mkdir()
    (tmp_path / "wheels").mkdir()
    sandbox = SandboxProject(tmp_path / "project")
    (sandbox.root / f"Pulumi.{STACK}.yaml").write_text(STACK_TEXT)
    return Project(sandbox, tmp_path / "wheels")


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Iterator[Any]:
    """A writable copy of one of the bundles, to change one thing at a time."""

    def make(name: str) -> Path:
        target = tmp_path / "bundles" / name
        shutil.copytree(BUNDLES / name, target)
        return target

    yield make


# -- what the bundles say, read independently of the converter -------------------------------


def bundle_resources(name: str, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted((BUNDLES / name / "resources").glob("*.yml")):
        found.update((yaml.safe_load(path.read_text()).get("resources") or {}).get(kind) or {})
    return found


def task_kind(task: dict[str, Any]) -> str:
    kinds = [k for k in task if k in TASK_INPUTS]
    assert len(kinds) == 1, task
    return TASK_INPUTS[kinds[0]]


def registered_paths(evaluation: Evaluation) -> set[str]:
    """Workspace paths of every notebook and file the program publishes (as jobs name them)."""
    paths = set()
    for registration in evaluation.resources.values():
        if registration.type in (
            "databricks:index/notebook:Notebook",
            "databricks:index/workspaceFile:WorkspaceFile",
            "databricks:index/file:File",
        ):
            paths.add(str(registration.inputs["path"]))
    return paths


def job_of(evaluation: Evaluation, name: str) -> dict[str, Any]:
    jobs = [r for r in evaluation.of_type(JOB) if r.inputs["name"] == name]
    assert len(jobs) == 1, (
        f"jobs named {name!r}: {[r.inputs['name'] for r in evaluation.of_type(JOB)]}"
    )
    return jobs[0].inputs


def inside(path: str, version: str) -> bool:
    folder = f"{WORKSPACE_ROOT}/releases/{version}/"
    return path.startswith((folder, f"/Workspace{folder}", f"{ARTIFACT_ROOT}/releases/{version}/"))


def check_jobs(evaluation: Evaluation, case: Case, version: str) -> None:
    published = registered_paths(evaluation)
    libraries = {f"{ARTIFACT_ROOT}/releases/{version}/{w}" for w in case.wheels}
    for key, job in bundle_resources(case.bundle, "jobs").items():
        registered = job_of(evaluation, job["name"])
        tasks = {t["taskKey"]: t for t in registered["tasks"]}
        expected = {t["task_key"]: t for t in job["tasks"]}
        assert sorted(tasks) == sorted(expected), f"job {key}: task keys {sorted(tasks)}"
        for task_key, task in expected.items():
            seen = tasks[task_key]
            assert task_kind(task) in seen, f"job {key} task {task_key}: {seen}"
            depends = sorted(d["task_key"] for d in task.get("depends_on", []))
            assert sorted(d["taskKey"] for d in seen.get("dependsOns") or []) == depends, seen
            for path in (
                seen.get("notebookTask", {}).get("notebookPath"),
                seen.get("sparkPythonTask", {}).get("pythonFile"),
                seen.get("sqlTask", {}).get("file", {}).get("path"),
            ):
                if path is not None:
                    assert inside(path, version), f"job {key} task {task_key}: {path}"
                    assert path.removeprefix("/Workspace") in {
                        p.removeprefix("/Workspace") for p in published
                    }, f"job {key} task {task_key}: {path} is not published"
        for environment in registered.get("environments") or []:
            for dependency in environment["spec"].get("dependencies") or []:
                assert dependency in libraries, f"job {key}: dependency {dependency}"


def check_pipelines(evaluation: Evaluation, case: Case, version: str) -> None:
    pipelines = {r.inputs["name"]: r.inputs for r in evaluation.of_type(PIPELINE)}
    for key, pipeline in bundle_resources(case.bundle, "pipelines").items():
        registered = pipelines[pipeline["name"]]
        assert len(registered["libraries"]) == len(pipeline["libraries"]), registered
        for library in registered["libraries"]:
            path = (
                library.get("glob", {}).get("include")
                or library.get("notebook", {}).get("path")
                or library.get("file", {}).get("path")
            )
            assert path and inside(path, version), f"pipeline {key}: library {library}"
        assert inside(registered["rootPath"] + "/", version), registered["rootPath"]
        for dependency in (registered.get("environment") or {}).get("dependencies") or []:
            assert dependency == f"{ARTIFACT_ROOT}/releases/{version}/{case.wheels[0]}", dependency
        assert registered["catalog"] == "catalog" and registered["serverless"] is True, registered


# -- the four bundles ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_bundle_example_converts_and_evaluates_on_the_live_release(
    name: str, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    code, out, err = project.convert_case(case, capsys)
    assert code == 0, err
    text = project.stack_file.read_text()
    # Every line of the file before stays, in order (comments included).
    remaining = iter(text.splitlines())
    assert all(line in remaining for line in STACK_TEXT.splitlines()), text
    assert f"{case.bundle}" in out and "is live" in out, out
    evaluation = project.evaluate()
    assert evaluation.outputs["liveRelease"] == "1.0.0", evaluation.outputs
    check_jobs(evaluation, case, "1.0.0")
    check_pipelines(evaluation, case, "1.0.0")
    expected_jobs = len(bundle_resources(case.bundle, "jobs"))
    assert len(evaluation.of_type(JOB)) == expected_jobs, [r.name for r in evaluation.of_type(JOB)]
    assert read_release_metadata(project.root / LOCK_FILE)["1.0.0"].entry_notebook == NO_ENTRY


def test_pipeline_task_runs_the_converted_pipeline(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = project.convert_case(CASES["default_python"], capsys)
    assert code == 0, err
    evaluation = project.evaluate()
    pipeline = next(
        r for r in evaluation.of_type(PIPELINE) if r.inputs["name"] == "default_python_etl"
    )
    job = job_of(evaluation, "sample_job")
    refresh = next(t for t in job["tasks"] if t["taskKey"] == "refresh_pipeline")
    # The mocks give every resource an id derived from its name (cicd.evaluation.program).
    assert refresh["pipelineTask"]["pipelineId"] == fake_id(pipeline.name), refresh
    # The wheel task's parameters carry the target's variables, resolved.
    wheel = next(t for t in job["tasks"] if t["taskKey"] == "python_wheel_task")
    assert wheel["pythonWheelTask"]["parameters"] == ["--catalog", "catalog", "--schema", "prod"]
    assert {p["name"]: p["default"] for p in job["parameters"]} == {
        "catalog": "catalog",
        "schema": "prod",
    }, job["parameters"]
    assert job["trigger"]["periodic"] == {"interval": 1.0, "unit": "DAYS"}, job["trigger"]


def test_converting_again_with_the_same_version_changes_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES["default_python"]
    assert project.convert_case(case, capsys)[0] == 0
    stack, lock = project.stack_file.read_bytes(), (project.root / LOCK_FILE).read_bytes()
    files = {p: (project.root / p).read_bytes() for p in project.written()}
    code, out, err = project.convert_case(case, capsys)
    assert code == 0, err
    assert "nothing to change" in out and "already published" in out, out
    assert project.stack_file.read_bytes() == stack
    assert (project.root / LOCK_FILE).read_bytes() == lock
    assert {p: (project.root / p).read_bytes() for p in project.written()} == files


def test_a_second_version_then_switching_live_changes_only_jobs_and_pipelines(
    project: Project, capsys: pytest.CaptureFixture[str], bundle_copy: Any
) -> None:
    case = CASES["default_python"]
    assert project.convert_case(case, capsys)[0] == 0
    # The team changes its code: a new notebook cell and a new wheel build.
    bundle = bundle_copy("default_python")
    notebook = bundle / "src" / "sample_notebook.ipynb"
    notebook.write_text(notebook.read_text().replace("Default notebook", "Default notebook v2"))
    wheel = project.wheel(case.wheels[0], b"built again for 2.0.0")
    code, out, err = project.convert(
        bundle, capsys, "--library", str(wheel), target="prod", version="2.0.0"
    )
    assert code == 0, err
    assert "2.0.0 is kept, not live" in out and "cicd.promote 2.0.0" in out, out
    config = yaml.safe_load(project.stack_file.read_text())["config"]
    assert config["databricks-cicd:releases"] == {
        "kept": [{"version": "1.0.0"}, {"version": "2.0.0"}],
        "live": "1.0.0",
    }
    before = project.evaluate()
    after = project.evaluate(live="2.0.0")
    changes = compare(before, after)
    assert changes and {c.type for c in changes} == {JOB, PIPELINE}, changes
    assert all(c.kind == "change" for c in changes), changes
    check_jobs(after, case, "2.0.0")
    check_pipelines(after, case, "2.0.0")
    assert len(before.resources) == len(after.resources), len(after.resources)


# -- what cannot be converted ----------------------------------------------------------------

UNSUPPORTED_RESOURCES = """\
resources:
  apps:
    my_app:
      name: my-app
      source_code_path: ../src
  dashboards:
    sales:
      display_name: Sales
      file_path: ../src/sales.lvdash.json
  model_serving_endpoints:
    scorer:
      name: scorer
  jobs:
    dbt_job:
      name: dbt
      description: runs dbt
      tasks:
        - task_key: run_dbt
          dbt_task:
            commands: ["dbt run"]
"""


def test_unsupported_items_are_listed_at_once_and_nothing_is_written(
    project: Project, capsys: pytest.CaptureFixture[str], bundle_copy: Any
) -> None:
    bundle = bundle_copy("default_sql")
    (bundle / "resources" / "extra.yml").write_text(UNSUPPORTED_RESOURCES)
    with (bundle / "databricks.yml").open("a") as handle:
        handle.write("\npython:\n  resources:\n    - 'resources:load_resources'\n")
    code, out, err = project.convert(bundle, capsys)
    assert code == 1, out
    for expected in (
        "resources/extra.yml: resources.apps.my_app: apps are not converted",
        "resources/extra.yml: resources.dashboards.sales:",
        "resources/extra.yml: resources.model_serving_endpoints.scorer:",
        "resources/extra.yml: resources.jobs.dbt_job.tasks[0].dbt_task: task type dbt_task",
        "resources/extra.yml: resources.jobs.dbt_job.description:",
        "databricks.yml: python: resources defined in Python",
        "--skip-unsupported",
    ):
        assert expected in err, f"{expected!r} not in:\n{err}"
    assert project.stack_file.read_text() == STACK_TEXT
    assert project.written() == []


def test_skip_unsupported_converts_the_rest_and_says_what_was_left_out(
    project: Project, capsys: pytest.CaptureFixture[str], bundle_copy: Any
) -> None:
    bundle = bundle_copy("default_sql")
    # The left-out job also runs a notebook: it is not published with the rest.
    extra = UNSUPPORTED_RESOURCES + (
        "        - task_key: prepare\n"
        "          notebook_task:\n"
        "            notebook_path: ../src/prepare_dbt.py\n"
    )
    (bundle / "resources" / "extra.yml").write_text(extra)
    (bundle / "src" / "prepare_dbt.py").write_text("# Databricks notebook source\nprint(1)\n")
    code, out, err = project.convert(bundle, capsys, "--skip-unsupported")
    assert code == 0, err
    assert "left out (--skip-unsupported)" in out and "resources.apps.my_app" in out, out
    assert "resources.jobs.dbt_job: left out" in out, out
    assert "resources.jobs.dbt_job.description:" in out, out
    evaluation = project.evaluate()
    assert [r.inputs["name"] for r in evaluation.of_type(JOB)] == ["default_sql_sql_job"]
    assert project.written() == [
        LOCK_FILE,
        "releases/1.0.0/notebooks/src/orders_daily.sql",
        "releases/1.0.0/notebooks/src/orders_raw.sql",
    ], project.written()


def test_many_unsupported_items_are_capped(
    project: Project, capsys: pytest.CaptureFixture[str], bundle_copy: Any
) -> None:
    bundle = bundle_copy("default_sql")
    apps = "".join(f"    app_{i:02d}:\n      name: app-{i}\n" for i in range(30))
    (bundle / "resources" / "apps.yml").write_text("resources:\n  apps:\n" + apps)
    code, _, err = project.convert(bundle, capsys)
    assert code == 1
    assert "30 item(s)" in err and "and 10 more" in err, err
    assert err.count("apps are not converted") == 20, err


def test_bad_input_names_file_and_key_and_writes_nothing(
    project: Project, capsys: pytest.CaptureFixture[str], bundle_copy: Any
) -> None:
    bundle = bundle_copy("default_sql")
    job_file = bundle / "resources" / "default_sql_sql.job.yml"
    text = job_file.read_text()
    text = text.replace("../src/orders_daily.sql", "../src/orders_weekly.sql")
    text = text.replace("${var.catalog}", "${var.catalgo}")
    job_file.write_text(text)
    code, _, err = project.convert(bundle, capsys)
    assert code == 1
    where = "resources/default_sql_sql.job.yml: resources.jobs.default_sql_sql_job"
    assert f"{where}.tasks[1].sql_task.file.path: src/orders_weekly.sql: no such file" in err, err
    assert f"{where}.parameters[0].default: ${{var.catalgo}}: no variable 'catalgo'" in err, err
    assert "2 problem(s)" in err, err
    assert project.stack_file.read_text() == STACK_TEXT and project.written() == []


def test_deploy_time_values_come_from_var(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # The dev target's schema is the deploying user's name: only known to the bundle CLI.
    case = CASES["default_sql"]
    code, _, err = project.convert(BUNDLES / case.bundle, capsys, target="dev")
    assert code == 1
    assert "targets.dev.variables.schema: ${workspace.current_user.short_name}" in err, err
    assert "--var" in err, err
    code, _, err = project.convert(
        BUNDLES / case.bundle, capsys, "--var", "schema=dev_alice", target="dev"
    )
    assert code == 0, err
    job = job_of(project.evaluate(), "default_sql_sql_job")
    assert {p["name"]: p["default"] for p in job["parameters"]}["schema"] == "dev_alice", job


def test_a_package_index_dependency_needs_its_wheel(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = project.convert(BUNDLES / "serverless_job", capsys, target="dev")
    assert code == 1
    assert (
        "resources/serverless_job.yml: resources.jobs.serverless_job.environments[0].spec"
        ".dependencies[0]: 'cowsay' comes from a package index" in err
    ), err
    assert "pip download cowsay" in err, err


def test_a_stack_file_edited_during_the_conversion_is_not_overwritten(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cicd.bundles.convert as convert_module

    real_publish = convert_module.publish
    edited = STACK_TEXT + "# the user's edit, made while the conversion ran\n"

    def publish_while_the_user_edits(*args: Any, **kwargs: Any) -> list[str]:
        project.stack_file.write_text(edited)
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(convert_module, "publish", publish_while_the_user_edits)
    code, _, err = project.convert_case(CASES["default_sql"], capsys)
    assert code == 1
    assert "changed while converting: not overwritten" in err, err
    assert project.stack_file.read_text() == edited


def test_a_key_holding_other_settings_is_refused(
    project: Project, capsys: pytest.CaptureFixture[str], bundle_copy: Any
) -> None:
    assert project.convert_case(CASES["default_sql"], capsys)[0] == 0
    bundle = bundle_copy("default_sql")
    job_file = bundle / "resources" / "default_sql_sql.job.yml"
    job_file.write_text(job_file.read_text().replace("interval: 1", "interval: 2"))
    before = project.stack_file.read_bytes()
    code, _, err = project.convert(bundle, capsys, version="2.0.0")
    assert code == 1
    assert "databricks-cicd:jobs.default_sql_sql_job already holds other settings" in err, err
    assert "trigger.periodic.interval" in err, err
    assert project.stack_file.read_bytes() == before
    assert not (project.root / "releases" / "2.0.0").exists()


def test_a_stack_whose_kept_release_lacks_the_bundle_files_is_refused(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stack already running another release (and a main job on its entry notebook).
    project.sandbox.add_release("0.9.0")
    text = STACK_TEXT + (
        "  databricks-cicd:releases:\n"
        "    kept:\n"
        '      - version: "0.9.0"\n'
        '    live: "0.9.0"\n'
        "  databricks-cicd:job:\n"
        "    name: etl\n"
        "    cluster: {sparkVersion: 15.4.x-scala2.12, nodeType: i3.xlarge, numWorkers: 1}\n"
        "    runAs: 5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60\n"
    )
    project.stack_file.write_text(text)
    code, _, err = project.convert_case(CASES["default_sql"], capsys)
    assert code == 1
    assert "kept release 0.9.0:" in err and "sqlFile 'src/orders_raw.sql'" in err, err
    assert "databricks-cicd:job runs each kept release's entry notebook" in err, err
    assert project.stack_file.read_text() == text
    assert not (project.root / "releases").exists()


# -- artifacts -------------------------------------------------------------------------------

BUILD_SCRIPT = """\
import os, pathlib, zipfile
pathlib.Path("dist").mkdir()
with zipfile.ZipFile("dist/default_python-0.0.1-py3-none-any.whl", "w") as wheel:
    wheel.writestr("default_python/__init__.py", "")
    wheel.writestr("default_python-0.0.1.dist-info/METADATA",
                   "Metadata-Version: 2.1\\nName: default_python\\nVersion: 0.0.1\\n")
    wheel.writestr("default_python-0.0.1.dist-info/WHEEL",
                   "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
pathlib.Path(os.environ["SEEN_ENV"]).write_text("\\n".join(sorted(os.environ)))
"""


def test_artifacts_are_built_in_a_scratch_copy_without_credentials(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    bundle_copy: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bundle = bundle_copy("default_python")
    (bundle / "build_wheel.py").write_text(BUILD_SCRIPT)
    seen = tmp_path / "seen-env.txt"
    main_file = bundle / "databricks.yml"
    # The build command records the environment it ran with (by name: no value is printed).
    main_file.write_text(
        main_file.read_text().replace(
            "build: uv build --wheel",
            f"build: SEEN_ENV={seen} {sys.executable} build_wheel.py",
        )
    )
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-not-for-builds")
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "not-for-builds")
    code, out, err = project.convert(bundle, capsys)
    assert code == 0, err
    names = seen.read_text().split()
    assert "DATABRICKS_TOKEN" not in names and "DATABRICKS_CLIENT_SECRET" not in names, names
    assert "SOURCE_DATE_EPOCH" in names, names
    assert not (bundle / "dist").exists(), "the build wrote into the user's bundle"
    wheel = project.root / "releases" / "1.0.0" / "libraries" / CASES["default_python"].wheels[0]
    assert wheel.is_file(), project.written()
    check_jobs(project.evaluate(), CASES["default_python"], "1.0.0")
    assert os.environ["DATABRICKS_TOKEN"] not in out + err


def test_a_failing_build_writes_nothing(
    project: Project, capsys: pytest.CaptureFixture[str], bundle_copy: Any
) -> None:
    bundle = bundle_copy("default_python")
    main_file = bundle / "databricks.yml"
    main_file.write_text(main_file.read_text().replace("uv build --wheel", "exit 3"))
    code, _, err = project.convert(bundle, capsys)
    assert code == 1
    assert "databricks.yml: artifacts.python_artifact.build: 'exit 3' failed (exit 3)" in err, err
    assert "--library" in err, err
    assert project.stack_file.read_text() == STACK_TEXT and project.written() == []


# -- reading a bundle: targets, variables, references -----------------------------------------

SMALL_BUNDLE = """\
bundle:
  name: small
include:
  - resources/*.yml
variables:
  catalog:
    default: main
  schema:
    default: sales
  warehouse:
    default: wh-default
targets:
  dev:
    variables:
      schema: dev_sales
  prod:
    run_as:
      service_principal_name: 5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60
    resources:
      jobs:
        nightly:
          tasks:
            - task_key: load
              timeout_seconds: 600
"""
SMALL_JOBS = """\
resources:
  jobs:
    nightly:
      name: nightly-${bundle.target}
      timeout_seconds: 7200
      email_notifications:
        on_failure: [oncall@example.com]
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: Europe/Amsterdam
      parameters:
        - name: schema
          default: ${var.catalog}.${var.schema}
      tasks:
        - task_key: load
          sql_task:
            warehouse_id: ${var.warehouse}
            file:
              path: ../src/sql/load.sql
        - task_key: check
          depends_on: [{task_key: load}]
          condition_task: {left: "{{tasks.load.values.rows}}", op: GREATER_THAN, right: "0"}
        - task_key: publish
          depends_on: [{task_key: check, outcome: "true"}]
          run_job_task:
            job_id: ${resources.jobs.report.id}
    report:
      name: report-${bundle.target}
      timeout_seconds: 600
      email_notifications:
        on_failure: [oncall@example.com]
      tasks:
        - task_key: report
          notebook_task:
            notebook_path: ../src/report.py
            base_parameters: {schema: "${var.schema}"}
"""


@pytest.fixture
def small_bundle(tmp_path: Path) -> Path:
    root = tmp_path / "small"
    (root / "resources").mkdir(parents=True)
    (root / "src" / "sql").mkdir(parents=True)
    (root / "databricks.yml").write_text(SMALL_BUNDLE)
    (root / "resources" / "jobs.yml").write_text(SMALL_JOBS)
    (root / "src" / "sql" / "load.sql").write_text("SELECT 1\n")
    (root / "src" / "report.py").write_text("# Databricks notebook source\nprint('report')\n")
    (root / "src" / ".scratch.py").write_text("never published\n")
    return root


def converted_jobs(project: Project) -> dict[str, Any]:
    config = yaml.safe_load(project.stack_file.read_text())["config"]
    jobs: dict[str, Any] = config["databricks-cicd:jobs"]
    return jobs


def test_target_values_overrides_and_var_take_precedence_in_order(
    project: Project, capsys: pytest.CaptureFixture[str], small_bundle: Path
) -> None:
    code, _, err = project.convert(small_bundle, capsys, "--var", "catalog=cli", target="prod")
    assert code == 0, err
    nightly = converted_jobs(project)["nightly"]
    # --var wins over the default; the default applies where the target sets nothing.
    assert nightly["jobParameters"] == {"schema": "cli.sales"}, nightly
    assert nightly["name"] == "nightly-prod"
    load = nightly["tasks"][0]
    # The target's resources are merged into the job task by task key.
    assert load["timeoutSeconds"] == 600 and load["sqlFile"]["warehouseId"] == "wh-default", load
    assert load["sqlFile"]["path"] == "src/sql/load.sql", load
    # The target's run_as applies to every job.
    assert {job["runAs"] for job in converted_jobs(project).values()} == {
        "5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60"
    }
    # ${resources.jobs.report.id} became this stack's job key; the condition branch is kept.
    publish_task = nightly["tasks"][2]
    assert publish_task["runJob"] == {"job": "report"}, publish_task
    assert publish_task["dependsOn"] == [{"taskKey": "check", "outcome": "true"}], publish_task
    report = converted_jobs(project)["report"]["tasks"][0]
    assert report["notebook"] == {"path": "src/report", "parameters": {"schema": "sales"}}, report
    evaluation = project.evaluate()
    nightly_job = job_of(evaluation, "nightly-prod")
    report_job = next(r for r in evaluation.of_type(JOB) if r.inputs["name"] == "report-prod")
    run = next(t for t in nightly_job["tasks"] if t["taskKey"] == "publish")
    assert run["runJobTask"]["jobId"] == float(fake_id(report_job.name)), run
    assert nightly_job["schedule"]["timezoneId"] == "Europe/Amsterdam", nightly_job
    # Hidden files are never published, and only what the jobs use is.
    assert project.written() == sorted(
        [
            LOCK_FILE,
            "releases/1.0.0/notebooks/src/report.py",
            "releases/1.0.0/notebooks/src/sql/load.sql",
        ]
    ), project.written()


def test_the_dev_target_takes_its_own_variable_values(
    project: Project, capsys: pytest.CaptureFixture[str], small_bundle: Path
) -> None:
    code, _, err = project.convert(small_bundle, capsys, target="dev")
    assert code == 0, err
    nightly = converted_jobs(project)["nightly"]
    assert nightly["jobParameters"] == {"schema": "main.dev_sales"}, nightly
    assert "runAs" not in nightly and "timeoutSeconds" not in nightly["tasks"][0], nightly


def test_an_unknown_target_names_the_known_ones(
    project: Project, capsys: pytest.CaptureFixture[str], small_bundle: Path
) -> None:
    code, _, err = project.convert(small_bundle, capsys, target="staging")
    assert code == 1
    assert "has no target 'staging'; its targets are: dev, prod" in err, err
    assert project.written() == []


def test_a_reference_inside_a_longer_value_and_a_person_as_run_as_are_refused(
    project: Project, capsys: pytest.CaptureFixture[str], small_bundle: Path
) -> None:
    jobs = small_bundle / "resources" / "jobs.yml"
    jobs.write_text(
        jobs.read_text()
        .replace("job_id: ${resources.jobs.report.id}", "job_id: id-${resources.jobs.report.id}")
        .replace(
            "      timeout_seconds: 600\n",
            "      timeout_seconds: 600\n      run_as: {user_name: a@example.com}\n",
            1,
        )
    )
    code, _, err = project.convert(small_bundle, capsys, target="dev")
    assert code == 1
    where = "resources/jobs.yml: resources.jobs"
    assert (
        f"{where}.nightly.tasks[2].run_job_task.job_id: ${{resources.jobs.report.id}} can only be a whole value"
        in err
    ), err
    assert f"{where}.report.run_as: runs as a person" in err, err
    assert project.written() == []


CLASSIC_JOB = """\
resources:
  jobs:
    classic:
      name: classic
      run_as: {service_principal_name: 5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60}
      timeout_seconds: 1800
      max_concurrent_runs: 2
      tags: {team: data}
      email_notifications:
        on_failure: [oncall@example.com]
      job_clusters:
        - job_cluster_key: etl
          new_cluster:
            spark_version: 15.4.x-scala2.12
            node_type_id: i3.xlarge
            data_security_mode: SINGLE_USER
            autoscale: {min_workers: 1, max_workers: 4}
            spark_conf: {spark.sql.shuffle.partitions: 64}
      tasks:
        - task_key: files
          job_cluster_key: etl
          spark_python_task:
            python_file: ../src/list_files.py
        - task_key: each
          depends_on: [{task_key: files}]
          for_each_task:
            inputs: "{{tasks.files.values.names}}"
            concurrency: 4
            task:
              task_key: each_file
              job_cluster_key: etl
              notebook_task:
                notebook_path: ../src/report.py
              libraries:
                - whl: ../dist/*.whl
        - task_key: cleanup
          depends_on: [{task_key: each}]
          run_if: ALL_DONE
          max_retries: 2
          min_retry_interval_millis: 120000
          job_cluster_key: etl
          python_wheel_task:
            package_name: small
            entry_point: cleanup
            named_parameters: {days: 7}
          libraries:
            - whl: ../dist/*.whl
"""


def test_job_clusters_for_each_retries_and_classic_libraries(
    project: Project, capsys: pytest.CaptureFixture[str], small_bundle: Path
) -> None:
    (small_bundle / "resources" / "jobs.yml").write_text(CLASSIC_JOB)
    (small_bundle / "src" / "list_files.py").write_text("print('files')\n")
    wheel = project.wheel("small-0.1.0-py3-none-any.whl")
    code, out, err = project.convert(small_bundle, capsys, "--library", str(wheel), target="dev")
    assert code == 0, err
    classic = converted_jobs(project)["classic"]
    assert classic["jobClusters"] == {
        "etl": {
            "sparkVersion": "15.4.x-scala2.12",
            "nodeType": "i3.xlarge",
            "dataSecurityMode": "SINGLE_USER",
            "sparkConf": {"spark.sql.shuffle.partitions": "64"},
            "autoscale": {"minWorkers": 1, "maxWorkers": 4},
        }
    }, classic
    job = job_of(project.evaluate(), "classic")
    tasks = {t["taskKey"]: t for t in job["tasks"]}
    library = f"{ARTIFACT_ROOT}/releases/1.0.0/small-0.1.0-py3-none-any.whl"
    inner = tasks["each"]["forEachTask"]["task"]
    assert inner["notebookTask"]["notebookPath"] == f"{WORKSPACE_ROOT}/releases/1.0.0/src/report"
    assert inner["libraries"] == [{"whl": library}], inner
    assert tasks["each"]["forEachTask"]["concurrency"] == 4.0, tasks["each"]
    cleanup = tasks["cleanup"]
    assert cleanup["runIf"] == "ALL_DONE" and cleanup["maxRetries"] == 2.0, cleanup
    assert cleanup["minRetryIntervalMillis"] == 120000.0, cleanup
    assert cleanup["pythonWheelTask"]["namedParameters"] == {"days": "7"}, cleanup
    assert cleanup["libraries"] == [{"whl": library}], cleanup
    assert tasks["files"]["sparkPythonTask"]["pythonFile"] == (
        f"/Workspace{WORKSPACE_ROOT}/releases/1.0.0/src/list_files.py"
    ), tasks["files"]
    cluster = job["jobClusters"][0]["newCluster"]
    assert cluster["singleUserName"] == "5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60", cluster
    assert job["maxConcurrentRuns"] == 2.0 and job["timeoutSeconds"] == 1800.0, job
    assert "before deploying" not in out, out


def test_unreadable_yaml_and_a_missing_include_are_named(
    project: Project, capsys: pytest.CaptureFixture[str], small_bundle: Path
) -> None:
    (small_bundle / "resources" / "broken.yml").write_text("resources:\n  jobs: [\n")
    main_file = small_bundle / "databricks.yml"
    main_file.write_text(
        main_file.read_text().replace("  - resources/*.yml", "  - resources/*.yml\n  - more/*.yml")
    )
    code, _, err = project.convert(small_bundle, capsys)
    assert code == 1
    assert "resources/broken.yml: (file): is not valid YAML" in err, err
    assert "databricks.yml: include[1]: 'more/*.yml' matches no file in the bundle" in err, err
    assert project.written() == [] and project.stack_file.read_text() == STACK_TEXT


def test_bad_arguments_exit_2_and_a_bad_version_or_stack_is_named(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(BUNDLES / "default_sql"), "--target", "prod"], project_dir=project.root) == 2
    assert "--stack" in capsys.readouterr().err
    assert main(["x", "--target", "t", "--stack", STACK, "--version", "1", "--var", "novalue"]) == 2
    assert "give NAME=VALUE" in capsys.readouterr().err
    code, _, err = project.convert(BUNDLES / "default_sql", capsys, version="../1.0.0")
    assert code == 1 and "--version: release version '../1.0.0' is not a plain identifier" in err
    code = main(
        [str(BUNDLES / "default_sql"), "--target", "prod", "--stack", "nope", "--version", "1.0"],
        project_dir=project.root,
    )
    assert code == 1 and "Pulumi.nope.yaml: no such stack file" in capsys.readouterr().err
    assert project.written() == []
