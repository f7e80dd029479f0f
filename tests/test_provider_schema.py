"""Every registered input is a real pulumi-databricks property, at every depth, with every
required property present — checked against the SDK's own typed `...Args` classes.

Mocks accept any key, and a misspelled key inside a nested dict would pass through to the
provider silently; this walks each recorded registration through the Args class hierarchy.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any

import pulumi_databricks
import pulumi_databricks._inputs as databricks_inputs
import pytest
from pulumi._types import input_type_py_to_pulumi_names

from cicd.evaluation import Evaluation
from tests.conftest import SandboxProject, with_releases


@cache
def _fields(args_class: type) -> tuple[dict[str, Any], set[str]]:
    """wire name -> annotation, and the wire names of required properties."""
    names = input_type_py_to_pulumi_names(args_class)
    namespace = {**vars(pulumi_databricks), **vars(databricks_inputs)}
    hints = typing.get_type_hints(args_class.__init__, globalns=namespace)
    params = inspect.signature(args_class.__init__).parameters
    fields = {names.get(p, p): hints[p] for p in params if p not in ("self", "__self__")}
    required = {
        names.get(p, p)
        for p, param in params.items()
        if p not in ("self", "__self__") and param.default is inspect.Parameter.empty
    }
    return fields, required


def _args_classes(annotation: Any) -> list[type]:
    """The Args classes an annotation admits (unwrapping Input, Optional, Sequence, Mapping)."""
    found: list[type] = []
    if isinstance(annotation, type) and annotation.__name__.endswith("Args"):
        found.append(annotation)
    for arg in typing.get_args(annotation):
        found.extend(_args_classes(arg))
    return found


def problems_in(value: Any, args_class: type, where: str) -> list[str]:
    if isinstance(value, list):
        return [
            p
            for i, item in enumerate(value)
            for p in problems_in(item, args_class, f"{where}[{i}]")
        ]
    if not isinstance(value, Mapping):
        return [f"{where}: expected an object of {args_class.__name__}, got {value!r}"]
    fields, required = _fields(args_class)
    problems = [
        f"{where}.{key}: not a property of {args_class.__name__}"
        for key in value
        if key not in fields
    ]
    problems += [
        f"{where}.{key}: required by {args_class.__name__} but missing"
        for key in sorted(required)
        if key not in value
    ]
    for key, item in value.items():
        nested = _args_classes(fields.get(key))
        if nested and isinstance(item, (Mapping, list)):
            problems += problems_in(item, nested[0], f"{where}.{key}")
        elif isinstance(item, Mapping) and item and key in fields and not _is_map(fields[key]):
            problems.append(f"{where}.{key}: an object where {args_class.__name__} takes a scalar")
    return problems


def _is_map(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return True
    return any(_is_map(a) for a in typing.get_args(annotation))


def resource_args_class(type_token: str) -> type:
    return getattr(pulumi_databricks, type_token.rsplit(":", 1)[-1] + "Args")  # type: ignore[no-any-return]


def schema_problems(evaluation: Evaluation) -> list[str]:
    problems = []
    for registration in evaluation.resources.values():
        if registration.type.startswith("databricks:"):
            problems += problems_in(
                registration.inputs, resource_args_class(registration.type), registration.name
            )
    return problems


def test_the_checker_catches_a_misspelled_nested_key() -> None:
    job = {"name": "x", "tasks": [{"taskKey": "main", "notebookTask": {"notebookPth": "/x"}}]}
    problems = problems_in(job, pulumi_databricks.JobArgs, "job")
    assert (
        "job.tasks[0].notebookTask.notebookPth: not a property of JobTaskNotebookTaskArgs"
        in problems
    ), problems
    assert (
        "job.tasks[0].notebookTask.notebookPath: required by JobTaskNotebookTaskArgs but missing"
        in problems
    )


def test_every_input_is_a_provider_property(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    sandbox.add_release("1.0.0")
    sandbox.add_release("1.1.0")
    values["job"]["cluster"]["numWorkers"] = 0  # exercise sparkConf / single-node paths too
    evaluation = sandbox.evaluate(with_releases(values, ["1.0.0", "1.1.0"], "1.1.0"))
    types = {r.type for r in evaluation.resources.values()}
    assert {
        "databricks:index/job:Job",
        "databricks:index/notebook:Notebook",
        "databricks:index/permissions:Permissions",
    } <= types, types
    assert schema_problems(evaluation) == []


@pytest.mark.usefixtures("built_releases")
@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_input_of_each_stack_is_a_provider_property(stack: str) -> None:
    from tests.test_stacks import run_stack

    evaluation = run_stack(stack)
    assert len(evaluation.resources) > 5, len(evaluation.resources)
    assert schema_problems(evaluation) == []
