"""What the stack's jobs and pipelines use of a release, and where that lands in the workspace.

A task or pipeline names release content relative to the release's notebooks tree (a notebook
without extension, a file with it, a folder glob) and libraries by file-name pattern. This module
resolves those names against one release's content, giving the workspace and artifact-store paths
a job or pipeline points at, and lists what a release lacks. Every kept release is checked, not
only the live one: a rollback must stay a one-line edit, so every kept release must hold
everything the jobs and pipelines run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass

from cicd.config import ArtifactStore, JobSettings, PipelineSettings, StackConfig, TaskBody
from cicd.releases.content import ReleaseContent, entry_problem


def release_folder_path(workspace_root: str, version: str) -> str:
    return f"{workspace_root}/releases/{version}"


def artifact_folder_path(store: ArtifactStore, version: str) -> str:
    return f"{store.root}/releases/{version}"


@dataclass(frozen=True)
class ReleaseLocation:
    """One published release: its content and the folders it was published to."""

    version: str
    content: ReleaseContent
    workspace_root: str
    artifact_store: ArtifactStore

    @property
    def folder(self) -> str:
        return release_folder_path(self.workspace_root, self.version)

    def notebook(self, name: str) -> str:
        """A notebook's workspace path (as jobs name notebooks: without `/Workspace`)."""
        return f"{self.folder}/{name}"

    def file(self, relative: str) -> str:
        """A workspace file's absolute path, as file tasks and pipelines name files."""
        return f"/Workspace{self.folder}/{relative}"

    def glob(self, folder: str) -> str:
        return f"/Workspace{self.folder}/{folder}/**"

    def root(self, folder: str | None) -> str:
        return f"/Workspace{self.folder}" + (f"/{folder}" if folder else "")

    def library_paths(self, patterns: list[str] | None, *, wheels_only: bool = False) -> list[str]:
        """Library URIs of the release matching `patterns` (None: every one), sorted."""
        artifact = artifact_folder_path(self.artifact_store, self.version)
        names = [
            lib.file_name
            for lib in self.content.libraries
            if not (wheels_only and not lib.file_name.endswith(".whl"))
            and (patterns is None or any(fnmatch.fnmatchcase(lib.file_name, p) for p in patterns))
        ]
        return sorted(self.artifact_store.library_uri(f"{artifact}/{name}") for name in names)


def _file_names(content: ReleaseContent) -> set[str]:
    return {f.relative_path for f in content.workspace_files}


def _task_problems(content: ReleaseContent, task: TaskBody, *, implied: bool) -> Iterator[str]:
    files = _file_names(content)
    # The implied task's entry notebook is checked with its own message (cicd.releases.inputs).
    if task.notebook is not None and not implied:
        problem = entry_problem(content, task.notebook.path)
        if problem:
            yield f"task {task.task_key!r}: {problem}"
    for kind, path in (
        ("sparkPythonFile", task.spark_python_file and task.spark_python_file.path),
        ("sqlFile", task.sql_file and task.sql_file.path),
    ):
        if path and path not in files:
            notebook = any(n.relative_path == path for n in content.notebooks)
            why = (
                "it is a notebook (it starts with the Databricks notebook header): run it as a"
                " notebook task, or remove the header"
                if notebook
                else "no such file"
            )
            yield f"task {task.task_key!r}: {kind} {path!r}: {why}"
    patterns = task.libraries or []
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(lib.file_name, pattern) for lib in content.libraries):
            yield (
                f"task {task.task_key!r}: library pattern {pattern!r} matches none of the"
                f" release's libraries ({', '.join(lib.file_name for lib in content.libraries) or 'none'})"
            )
    if task.python_wheel is not None and not any(
        lib.file_name.endswith(".whl") for lib in content.libraries
    ):
        yield f"task {task.task_key!r}: pythonWheel needs a wheel, and the release has none"


def job_problems(
    config: StackConfig, key: str, job: JobSettings, content: ReleaseContent, entry: str
) -> list[str]:
    """What release `content` lacks for job `key` (each line names the key and the fix)."""
    where = f"databricks-cicd:{'.'.join(config.job_location(key))}"
    found: list[str] = []
    implied = job.tasks is None
    # A release without an entry notebook (NO_ENTRY) is refused for a job without tasks by
    # cicd.releases.inputs, with its own message; there is no implied task to check here.
    implied_entry = job.entry_notebook or entry
    tasks = (
        job.tasks
        if job.tasks is not None
        else [job.implied_task(implied_entry)]
        if implied_entry
        else []
    )
    for task in tasks:
        found.extend(f"{where}: {p}" for p in _task_problems(content, task.runs(), implied=implied))
    for name, environment in sorted(job.environments.items()):
        for pattern in environment.libraries or []:
            if not any(
                fnmatch.fnmatchcase(lib.file_name, pattern) and lib.file_name.endswith(".whl")
                for lib in content.libraries
            ):
                found.append(
                    f"{where}.environments.{name}: library pattern {pattern!r} matches none of"
                    " the release's wheels"
                )
    return found


def pipeline_problems(key: str, pipeline: PipelineSettings, content: ReleaseContent) -> list[str]:
    where = f"databricks-cicd:pipelines.{key}"
    files = _file_names(content)
    every = files | {n.relative_path for n in content.notebooks}
    found: list[str] = []
    for library in pipeline.libraries:
        if library.notebook is not None:
            problem = entry_problem(content, library.notebook)
            if problem:
                found.append(f"{where}.libraries: {problem}")
        elif library.file is not None and library.file not in files:
            found.append(f"{where}.libraries: file {library.file!r}: no such file")
        elif library.glob is not None and not any(p.startswith(library.path + "/") for p in every):
            found.append(f"{where}.libraries: glob {library.glob!r}: no file below that folder")
    for pattern in pipeline.environment.libraries if pipeline.environment else []:
        if not any(
            fnmatch.fnmatchcase(lib.file_name, pattern) and lib.file_name.endswith(".whl")
            for lib in content.libraries
        ):
            found.append(
                f"{where}.environment.libraries: pattern {pattern!r} matches none of the"
                " release's wheels"
            )
    if pipeline.root_path and not any(p.startswith(pipeline.root_path + "/") for p in every):
        found.append(f"{where}.rootPath: {pipeline.root_path!r}: no such folder in the release")
    return found


def reference_problems(config: StackConfig, content: ReleaseContent, entry: str) -> list[str]:
    """Everything the stack's jobs and pipelines use that release `content` does not hold."""
    found: list[str] = []
    for key, job in config.all_jobs().items():
        found.extend(job_problems(config, key, job, content, entry))
    for key, pipeline in sorted(config.pipelines.items()):
        found.extend(pipeline_problems(key, pipeline, content))
    return found


def release_fields(
    config: StackConfig, release: ReleaseLocation, entry: str
) -> dict[str, dict[str, dict[str, str | list[str]]]]:
    """Per job, per task (and per serverless environment, as `environment:<key>`), the fields
    whose values come from `release`: what a job runs when that release is live.

    Plain values, so the gate can run a candidate as the live job would (swap these fields in
    the live job's settings) and the preview can say what each job runs.
    """
    found: dict[str, dict[str, dict[str, str | list[str]]]] = {}
    for key, job in config.all_jobs().items():
        tasks = (
            job.tasks if job.tasks is not None else [job.implied_task(job.entry_notebook or entry)]
        )
        fields: dict[str, dict[str, str | list[str]]] = {}
        for task in tasks:
            for body in (task, task.for_each.task) if task.for_each else (task,):
                values: dict[str, str | list[str]] = {}
                if body.notebook is not None:
                    values["notebook_path"] = release.notebook(body.notebook.path)
                if body.spark_python_file is not None:
                    values["python_file"] = release.file(body.spark_python_file.path)
                if body.sql_file is not None:
                    values["sql_file"] = release.file(body.sql_file.path)
                cluster, _ = job.compute_of(body)
                if cluster is not None:
                    values["libraries"] = release.library_paths(body.libraries)
                if values:
                    fields[body.task_key] = values
        for name, environment in sorted(job.environments.items()):
            fields[f"environment:{name}"] = {
                "dependencies": release.library_paths(environment.libraries, wheels_only=True)
            }
        found[key] = fields
    return found
