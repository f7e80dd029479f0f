"""What a job or pipeline runs, field by field: every path or package it names, and the release
folder a path lies in.

Shared by the rules that a job and a pipeline run released code (each path inside one release
folder) and that every job and pipeline of a stack runs the same release. A job names notebooks
(`<root>/releases/<v>/<name>`), files (`/Workspace<root>/releases/<v>/<path>`) and libraries
(`<artifact root>/releases/<v>/<file>`, as a library URI) in its tasks, for-each inner tasks and
serverless environments; a pipeline names notebooks, files, globs and its root folder, and
possibly libraries and environment dependencies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .common import FILE_LIBRARIES, get, get_or_computed, items, keys_of, task_bodies

# What a reference names: release content in the workspace, a library file in the artifact
# store, or a package an index serves (never a release's).
WORKSPACE = "workspace"
LIBRARY = "library"
INDEX = "index"

# The project's release identifiers (cicd.config.base.VERSION_PATTERN; the pack runs in its own
# venv, without the project's code): a glob or an empty segment is no release.
RELEASE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# Task kinds whose code is a file of the workspace (or of a Git checkout), by the field naming it.
_TASK_FILES = (
    ("notebookTask", "notebookPath"),
    ("sparkPythonTask", "pythonFile"),
)


@dataclass(frozen=True)
class Reference:
    field: str  # e.g. "tasks[0].notebookTask.notebookPath"
    # As the resource gives it; COMPUTED when unknown in a preview (another resource's output),
    # which the rules leave to the deploy, when the engine sends it known.
    value: Any
    kind: str  # WORKSPACE, LIBRARY or INDEX


def _libraries(where: str, libraries: Any) -> Iterator[Reference]:
    for j, library in items(libraries):
        for kind in sorted(keys_of(library)):
            field = f"{where}libraries[{j}].{kind}"
            yield Reference(
                field, get_or_computed(library, kind), LIBRARY if kind in FILE_LIBRARIES else INDEX
            )


def _dependencies(field: str, dependencies: Any) -> Iterator[Reference]:
    # A serverless environment's dependencies are pip requirement lines: a path installs that
    # file, anything else ('requests==2.32', '-r ...', '--index-url ...') reaches an index.
    for k, dependency in items(dependencies):
        path = isinstance(dependency, str) and dependency.startswith(("/", "dbfs:/"))
        yield Reference(f"{field}[{k}]", dependency, LIBRARY if path else INDEX)


def job_references(props: Mapping[str, Any]) -> Iterator[Reference]:
    """Every notebook, file, library and dependency a job's tasks (and inner tasks) and
    environments name."""
    for where, task in task_bodies(props):
        for kind, key in _TASK_FILES:
            value = get_or_computed(get(task, kind) or {}, key)
            if value is not None:
                yield Reference(f"{where}{kind}.{key}", value, WORKSPACE)
        sql_file = get(get(task, "sqlTask") or {}, "file") or {}
        path = get_or_computed(sql_file, "path")
        if path is not None:
            yield Reference(f"{where}sqlTask.file.path", path, WORKSPACE)
        yield from _libraries(where, get(task, "libraries"))
    for i, environment in items(get(props, "environments")):
        spec = get(environment, "spec") or {}
        dependencies = get_or_computed(spec, "dependencies")
        yield from _dependencies(f"environments[{i}].spec.dependencies", dependencies)


def pipeline_references(props: Mapping[str, Any]) -> Iterator[Reference]:
    """Every notebook, file, glob, library and dependency a pipeline names, and its root folder."""
    for j, library in items(get(props, "libraries")):
        for kind in sorted(keys_of(library)):
            value = get_or_computed(library, kind)
            field = f"libraries[{j}].{kind}"
            if kind in ("notebook", "file"):
                yield Reference(f"{field}.path", get_or_computed(value or {}, "path"), WORKSPACE)
            elif kind == "glob":
                include = get_or_computed(value or {}, "include")
                yield Reference(f"{field}.include", include, WORKSPACE)
            else:
                yield Reference(field, value, LIBRARY if kind in FILE_LIBRARIES else INDEX)
    root = get_or_computed(props, "rootPath")
    if root is not None:
        yield Reference("rootPath", root, WORKSPACE)
    environment = get(props, "environment") or {}
    dependencies = get_or_computed(environment, "dependencies")
    yield from _dependencies("environment.dependencies", dependencies)


def workspace_roots(notebook_root: str) -> tuple[str, ...]:
    """The releases folder as jobs name notebooks, and as files are named (under /Workspace)."""
    if notebook_root.startswith("/Workspace/"):
        return (notebook_root, notebook_root.removeprefix("/Workspace"))
    return (notebook_root, f"/Workspace{notebook_root}")


def release_of(value: Any, roots: tuple[str, ...]) -> str | None:
    """The release a path lies in: the folder right below one of `roots` (each ending in '/'),
    when it is a release identifier and nothing in the rest of the path climbs out of it. None
    for anything else: another folder, the releases folder itself, a glob over releases."""
    if not isinstance(value, str):
        return None
    for root in roots:
        if value.startswith(root):
            version, *rest = value[len(root) :].split("/")
            if RELEASE_VERSION.match(version) and ".." not in rest and ".." not in version:
                return version
    return None
