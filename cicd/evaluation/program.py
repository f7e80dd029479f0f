"""Run the real Pulumi program offline, under Pulumi's mocks, and record what it declares.

`evaluate()` runs `__main__.py` with a stack's config through `pulumi.runtime.set_mocks` (the
official unit-testing route) and returns every registration: type, name, parent, inputs (wire
names), dependencies and options, plus the stack outputs. `compare()` diffs two evaluations the
way a reviewer reads a preview (`cicd.evaluation.changes`).

Used by the tests, the offline preview (`cicd.preview`), the drift check and the benchmark. Every
evaluation runs under `collector_policy()`, this project's one garbage-collector policy. It needs neither the
Pulumi CLI nor credentials, and it is not the truth about a real workspace: `pulumi preview`
against real state stays that.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc, settings

from cicd.project import PROJECT_DIR

PROJECT = "databricks-cicd"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Registration:
    """One resource the program declared, as the engine would receive it."""

    type: str
    name: str
    parent: str | None  # parent's name; None for children of the stack
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]  # names of explicit and implicit dependencies
    delete_before_replace: bool
    protect: bool
    custom: bool
    # The URN the engine gives it, and the URNs its explicit aliases stand for (children of an
    # aliased parent inherit the parent's aliases in the engine, not here).
    urn: str = ""
    parent_urn: str = ""  # "" for children of the stack
    aliases: tuple[str, ...] = ()
    retain_on_delete: bool = False  # deleting it from the program leaves it in the workspace

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)


@dataclass
class Evaluation:
    """What one run of the program declared; `resources` is keyed by (type, name)."""

    resources: dict[tuple[str, str], Registration] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources.values() if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources.values() if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


def _name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def fake_id(name: str) -> str:
    """The id the mocks give resource `name` (a provider gives one id per resource)."""
    return str(int(hashlib.sha256(name.encode()).hexdigest()[:12], 16))


class _ProgramMocks(pulumi.runtime.Mocks):
    """Returns what the real provider computes and the program (or its outputs) reads."""

    def __init__(self, host: str) -> None:
        self.host = host.rstrip("/")

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        resource_id = fake_id(args.name)
        state = dict(args.inputs)
        path = args.inputs.get("path")
        if args.typ == "databricks:index/job:Job":
            state["url"] = f"{self.host}/#job/{resource_id}"
        elif args.typ == "databricks:index/pipeline:Pipeline":
            state["url"] = f"{self.host}/pipelines/{resource_id}"
        elif args.typ == "databricks:index/cluster:Cluster":
            state["clusterId"] = resource_id
            state["url"] = f"{self.host}/#setting/clusters/{resource_id}/configuration"
        elif args.typ == "databricks:index/dbfsFile:DbfsFile":
            state["dbfsPath"] = f"dbfs:{path}"
        elif args.typ in (
            "databricks:index/notebook:Notebook",
            "databricks:index/workspaceFile:WorkspaceFile",
            "databricks:index/directory:Directory",
        ):
            state["workspacePath"] = f"/Workspace{path}"
            state["objectId"] = int(resource_id) % 10**9
        return (resource_id if args.custom else None), state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also keeping what it is told about parents, options and outputs."""

    def __init__(self, program_mocks: pulumi.runtime.Mocks, evaluation: Evaluation) -> None:
        super().__init__(program_mocks)
        self.evaluation = evaluation
        self.stack_urn: str | None = None

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN rule (the SDK's mock keeps only the parent's last type): the
        parent's whole type chain, the root stack left out, then this resource's type."""
        return _urn(_type_chain(parent, self.stack_urn), type_, name)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == STACK_TYPE:
            self.stack_urn = response.urn
            return response
        parent = request.parent if request.parent and request.parent != self.stack_urn else None
        registration = Registration(
            type=request.type,
            name=request.name,
            parent=_name_of(parent) if parent else None,
            inputs=rpc.deserialize_properties(request.object),
            dependencies=tuple(sorted(_name_of(u) for u in request.dependencies)),
            delete_before_replace=bool(request.deleteBeforeReplace),
            protect=bool(request.protect),
            custom=bool(request.custom),
            urn=response.urn,
            parent_urn=parent or "",
            aliases=tuple(self._alias_urn(request, alias) for alias in request.aliases),
            retain_on_delete=bool(request.retainOnDelete),
        )
        if registration.key in self.evaluation.resources:
            raise ValueError(f"duplicate resource {registration.key}")
        self.evaluation.resources[registration.key] = registration
        return response

    def _alias_urn(self, request: Any, alias: Any) -> str:
        """The URN an alias spec names, as the engine resolves it."""
        if alias.urn:
            return str(alias.urn)
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return _urn(
            _type_chain(parent, self.stack_urn),
            spec.type or request.type,
            spec.name or request.name,
            spec.stack or None,
            spec.project or None,
        )


def _type_chain(parent_urn: str | None, stack_urn: str | None) -> str:
    if not parent_urn or parent_urn == stack_urn:
        return ""
    return parent_urn.split("::")[2]


def _urn(
    chain: str, type_: str, name: str, stack: str | None = None, project: str | None = None
) -> str:
    qualified = f"{chain}${type_}" if chain else type_
    return (
        f"urn:pulumi:{stack or pulumi.get_stack()}::{project or pulumi.get_project()}"
        f"::{qualified}::{name}"
    )


# Generation 0 is collected every 50,000 allocations instead of CPython's 700 while the program
# runs. Registering a resource allocates hundreds of short-lived objects (Outputs, futures,
# protobuf structs) and few cycles, so the default threshold starts a collection every few
# resources, and every tenth of those walks older generations too.
EVALUATION_GC_THRESHOLD = (50_000, 20, 100)
_policy_depth = 0


@contextlib.contextmanager
def collector_policy() -> Iterator[None]:
    """The garbage-collector policy of every evaluation of the program (the command-line tools'
    and the benchmark's alike): the heap that exists on entry, mostly the ~280k objects importing
    pulumi_databricks leaves, is frozen (`gc.freeze()`), so no collection walks it again, and the
    collector runs less often while the program registers its resources.

    Without it, at 5 releases x 1,000 notebooks more than half of an evaluation was spent in the
    collector walking those imports. The collector stays on: cycles the program makes are still
    reclaimed. Nested uses (a tool that evaluates twice inside one policy) keep the outer one.
    """
    global _policy_depth
    if _policy_depth:
        yield
        return
    # The provider SDK is most of that heap: imported (once per process) before the freeze, or a
    # tool's first evaluation would import it unfrozen.
    import pulumi_databricks  # noqa: F401

    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*EVALUATION_GC_THRESHOLD)
    _policy_depth += 1
    try:
        yield
    finally:
        _policy_depth -= 1
        gc.set_threshold(*previous)
        # Back to the oldest generation: what the evaluation left is collectable again once the
        # caller drops it, and the next evaluation freezes the heap as it is then.
        gc.unfreeze()


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # The program reads release folders relative to the project, as under the Pulumi CLI.
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def evaluate(
    config: Mapping[str, str],
    stack: str,
    project_dir: Path = PROJECT_DIR,
    into: Evaluation | None = None,
) -> Evaluation:
    """Run `__main__.py` once with `config` ({"ns:key": "string or JSON"}) as stack `stack`.

    Raises what the program raises (a bad config is a `pulumi.RunError` naming the key); pass
    `into` to see what was registered before that.
    """
    evaluation = into if into is not None else Evaluation()
    host = str(config.get("databricks:host", "https://workspace.example.cloud.databricks.com"))
    program_mocks = _ProgramMocks(host)
    monitor = _RecordingMonitor(program_mocks, evaluation)
    # A fresh root stack per run: otherwise a second run in this process parents its resources to
    # the first run's stack.
    settings.reset_options()
    pulumi.runtime.set_mocks(
        program_mocks, project=PROJECT, stack=stack, preview=True, monitor=monitor
    )
    pulumi.runtime.set_all_config(dict(config), [])

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run_program() -> pulumi.Output[None]:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        stack = settings.get_root_resource()
        exported: dict[str, Any] = getattr(stack, "outputs", {})
        # Returned so that the test decorator waits until every export has resolved.
        return pulumi.Output.all(**exported).apply(evaluation.outputs.update)

    with _working_directory(project_dir), collector_policy():
        run_program()
    return evaluation
