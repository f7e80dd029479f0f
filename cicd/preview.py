"""Offline preview for code review: `python -m cicd.preview --stack prod [--base FILE]`.

Evaluates the real program for a stack under Pulumi's mocks — no Pulumi CLI, no credentials, no
workspace — and prints the resources it declares (type, name, key inputs). Given the stack file
of the base branch (`--base`), it prints what the change would add, change or remove, and which
inputs change, old -> new. A rollback edit shows exactly one changed resource: the job.

It complements `pulumi preview`, which compares with the real state of the stack (drift,
provider-computed values, deletions of resources made outside this program) and stays the
source of truth. Release content must be on disk: kept releases are built or restored first,
as `python -m cicd.release ensure` does.

With `--base`, a change that removes the release the job ran or the rollback target in the same
step (where releases.requireRollbackTarget is set, i.e. prod) is refused: switch first, remove
in a later change.

The policy pack's guardrails (`policy/`, see `cicd.evaluation.guardrails`) run over the evaluated
registrations too, so a violation shows on a pull request without a workspace.

With `--graph` (Mermaid, `cicd.taskgraph`) it prints, instead of the resource list and the
summary, a Markdown document with each job's task graph and the release it runs, and the
pipelines: paste it into a pull request or a .md file and GitHub draws it. The checks are the
same. SVG is not offered: drawing Mermaid needs a browser engine this project does not ship.

Exit codes: 0 printed; 1 the program refuses the config, the change removes what the base ran or
would roll back to (the message names key and fix), or a guardrail is violated (the message
names policy, resource, field and value); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi

from cicd.config import (
    ConfigError,
    StackConfig,
    namespace_values,
    parse_stack_config,
    pulumi_config_map,
    transition_problems,
)
from cicd.evaluation import Change, Evaluation, compare, evaluate
from cicd.evaluation.guardrails import describe_violations, guardrail_violations
from cicd.project import PROJECT_DIR, stack_file
from cicd.releases.build import ReleaseBuildError
from cicd.releases.content import ReleaseContentError
from cicd.releases.lock import LockError
from cicd.releases.placement import ForeignContentError
from cicd.releases.references import release_folder_path
from cicd.releases.restore import ensure_releases
from cicd.taskgraph import FORMATS as GRAPH_FORMATS
from cicd.taskgraph import mermaid_document, what_it_runs
from policy.databricks_guardrails.redact import last_key, redact_text, redact_value

# What identifies each kind of resource to a reviewer.
KEY_INPUTS = ("path", "name", "clusterName", "directoryPath")


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested inputs as dotted paths: tasks[0].notebookTask.notebookPath -> value."""
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _show(value: Any, path: str = "") -> str:
    """A value as the preview prints it, redacted (`redact`): a literal secret in a stack file
    (which the guardrails refuse) must not reach the pull request's log either."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the wire carries numbers as floats
    if value is None:
        return "(unset)"
    return redact_text(str(redact_value(value, last_key(path) if path else None)))


def describe(evaluation: Evaluation) -> list[str]:
    lines = []
    for registration in sorted(evaluation.resources.values(), key=lambda r: r.name):
        keys = [
            f"{k}={_show(registration.inputs[k], k)}"
            for k in KEY_INPUTS
            if k in registration.inputs
        ]
        lines.append(f"  {registration.type}  {registration.name}  {' '.join(keys)}".rstrip())
    return lines


def describe_changes(before: Evaluation, after: Evaluation, changes: Sequence[Change]) -> list[str]:
    symbols = {"add": "+", "remove": "-", "change": "~"}
    lines = []
    for change in changes:
        lines.append(f"  {symbols[change.kind]} {change.type}  {change.name}")
        if change.kind != "change":
            continue
        old = dict(flatten(before.resources[(change.type, change.name)].inputs))
        new = dict(flatten(after.resources[(change.type, change.name)].inputs))
        for path in sorted(set(old) | set(new)):
            if old.get(path) != new.get(path):
                shown = f"{_show(old.get(path), path)} -> {_show(new.get(path), path)}"
                lines.append(f"      {path}: {shown}")
        lines += [f"      {option}" for option in change.changed_inputs if option.startswith("(")]
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in symbols}
    unchanged = len(after.resources) - counts["add"] - counts["change"]
    lines.append(
        f"{counts['add']} to add, {counts['change']} to change, {counts['remove']} to remove,"
        f" {unchanged} unchanged"
    )
    return lines


def summary(config: StackConfig, entries: Mapping[str, str] | None = None) -> list[str]:
    """What the stack runs: the releases, then each job's tasks and each pipeline's sources
    (paths relative to the live release's folder)."""
    releases = config.releases
    live = releases.live
    lines = [
        f"Summary: live {live}, rollback target {releases.effective_rollback_target or 'none'},"
        f" kept {', '.join(releases.versions)}"
        + (f", candidate {releases.candidate}" if releases.candidate else "")
    ]
    for key, job in config.all_jobs().items():
        entry = job.entry_notebook or (entries or {}).get(live, "main")
        tasks = job.tasks if job.tasks is not None else [job.implied_task(entry)]
        lines.append(f"  job {key} ({job.name}) runs release {live}: {len(tasks)} task(s)")
        for task in sorted(tasks, key=lambda t: t.task_key):
            body = task.runs()
            after = ", ".join(d.task_key for d in task.dependencies())
            loop = "for each input: " if task.for_each is not None else ""
            lines.append(
                f"    {task.task_key}: {loop}{what_it_runs(body)}"
                + (f" (after {after})" if after else "")
            )
    for key, pipeline in sorted(config.pipelines.items()):
        sources = ", ".join(
            lib.glob or lib.file or lib.notebook or "" for lib in pipeline.libraries
        )
        lines.append(
            f"  pipeline {key} ({pipeline.name}) runs release {live}: {sources}"
            f" -> {pipeline.catalog}.{pipeline.schema_}"
        )
    return lines


def _evaluate_file(
    stack_path: Path, stack: str, project_dir: Path
) -> tuple[StackConfig, Evaluation]:
    """The stack file's validated config, and what the program declares with it."""
    config_map = pulumi_config_map(stack_path)
    config = parse_stack_config(namespace_values(config_map))
    ensure_releases(project_dir, config, str(stack_path))
    return config, evaluate(config_map, stack, project_dir)


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.preview",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
        "  python -m cicd.preview --stack prod\n"
        "  python -m cicd.preview --stack prod --base <(git show origin/main:Pulumi.prod.yaml)\n"
        "  python -m cicd.preview --stack prod --graph > task-graphs.md",
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--config", type=Path, help="stack file to preview instead of Pulumi.<stack>.yaml"
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="the stack file before the change (e.g. `git show origin/main:Pulumi.prod.yaml`)",
    )
    parser.add_argument(
        "--graph",
        nargs="?",
        const="mermaid",
        choices=GRAPH_FORMATS,
        help="instead of the resource list and the summary, print each job's task graph and the"
        " release it runs as Markdown with Mermaid flowcharts (GitHub renders them); the checks"
        " and guardrails are the same. Only mermaid: SVG would need a browser engine",
    )
    args = parser.parse_args(argv)
    stack_path = args.config or stack_file(project_dir, args.stack)
    for path in (stack_path, args.base):
        if path is not None and not path.exists():
            parser.error(f"{path}: no such stack file")
    with tempfile.TemporaryDirectory() as scratch:
        if args.base is not None:
            # Read once: --base may be a pipe, e.g. <(git show origin/main:Pulumi.prod.yaml).
            copy = Path(scratch) / "base.yaml"
            copy.write_bytes(args.base.read_bytes())
            args.base = copy
        return _preview(args, stack_path, project_dir)


def _preview(args: argparse.Namespace, stack_path: Path, project_dir: Path) -> int:
    print(
        f"Offline preview of stack {args.stack} ({stack_path.name}), evaluated under mocks;"
        " `pulumi preview` against the real state stays the source of truth."
    )
    try:
        base = _evaluate_file(args.base, args.stack, project_dir) if args.base else None
        config, after = _evaluate_file(stack_path, args.stack, project_dir)
        problems = transition_problems(base[0].releases, config.releases) if base else []
    except (
        pulumi.RunError,
        ConfigError,
        ReleaseBuildError,
        ReleaseContentError,
        LockError,
        ForeignContentError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if problems:
        print(
            "error: this change cannot go out in one step; nothing would be deployed:\n"
            + "\n".join(f"  - {p}" for p in problems),
            file=sys.stderr,
        )
        return 1
    before = base[1] if base else None
    if args.graph:
        pass  # the graphs replace the listing, after the guardrails' verdict
    elif before is None:
        print(f"{len(after.resources)} resources:")
        print("\n".join(describe(after)))
    else:
        print(f"Compared with {args.base}:")
        print("\n".join(describe_changes(before, after, compare(before, after))))
    # Guardrails: the policy pack's verdict on these registrations (cicd.evaluation.guardrails).
    violations = guardrail_violations(config, after, args.stack)
    if violations:
        print(describe_violations(violations), file=sys.stderr)
        return 1
    folder = release_folder_path(config.workspace_root, config.releases.live) + "/"
    main_notebook = str(after.outputs.get("liveNotebookPath") or "")
    entries = {config.releases.live: main_notebook.removeprefix(folder)} if main_notebook else {}
    if args.graph:
        print("\n".join(mermaid_document(config, entries)))
        print("Guardrails: the policy pack found no violation.")
        return 0
    print("\n".join(summary(config, entries)))
    print("Guardrails: the policy pack found no violation.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
