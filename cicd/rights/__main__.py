"""`python -m cicd.rights --stack STACK [--json]`: every right each identity of the stack needs.
`python -m cicd.rights --docs [--check]`: write (or compare) docs/identities.md for every stack.

The program is evaluated offline for the stack (kept releases must be on disk, as `python -m
cicd.release ensure` leaves them). Exit codes: 0 printed (or docs current); 1 a right is
MISSING (the stack owns the object but grants nobody the right), or --check found the docs out of
date; 2 the stack file or the program cannot be read, or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pulumi

from cicd.config import ConfigError, namespace_values, parse_stack_config, pulumi_config_map
from cicd.evaluation import evaluate
from cicd.evaluation.guardrails import is_production
from cicd.project import PROJECT_DIR, stack_file
from cicd.rights.derive import derive_rights
from cicd.rights.model import Right, Source
from cicd.rights.report import json_report, markdown, text_report

DOC = Path("docs") / "identities.md"


class RightsError(Exception):
    """The stack cannot be evaluated; the message says why and what to do."""


def stack_rights(project_dir: Path, stack: str) -> tuple[list[Right], int]:
    """The stack's rights and how many resources its program registers."""
    path = stack_file(project_dir, stack)
    if not path.exists():
        raise RightsError(f"{path}: no such stack file")
    try:
        config_map = pulumi_config_map(path)
        config = parse_stack_config(namespace_values(config_map))
        evaluation = evaluate(config_map, stack, project_dir)
    except ConfigError as exc:
        raise RightsError(str(exc)) from None
    except pulumi.RunError as exc:
        raise RightsError(
            f"the program does not evaluate for stack {stack!r}: {exc}. Run `python -m"
            f" cicd.release ensure --stack {stack}` first so every kept release is on disk"
        ) from None
    rights = derive_rights(config, evaluation, is_production(config, stack))
    return rights, len([r for r in evaluation.resources.values() if r.custom])


def stacks_of(project_dir: Path) -> list[str]:
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in project_dir.glob("Pulumi.*.yaml")
    )


def render_docs(project_dir: Path) -> str:
    return markdown(
        [(stack, stack_rights(project_dir, stack)[0]) for stack in stacks_of(project_dir)]
    )


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.rights",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", metavar="NAME", help="reads Pulumi.<NAME>.yaml")
    target.add_argument("--docs", action="store_true", help=f"write {DOC} for every stack")
    parser.add_argument("--json", action="store_true", help="every right, as JSON")
    parser.add_argument("--check", action="store_true", help=f"with --docs: compare {DOC} only")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.docs:
            return _docs(project_dir, args.check)
        rights, resources = stack_rights(project_dir, args.stack)
    except RightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json_report(args.stack, rights))
    else:
        print("\n".join(text_report(args.stack, rights, resources)))
    return 1 if any(r.source is Source.MISSING for r in rights) else 0


def _docs(project_dir: Path, check: bool) -> int:
    document = render_docs(project_dir)
    path = project_dir / DOC
    if check:
        if path.exists() and path.read_text() == document:
            return 0
        print(f"error: {DOC} is not current: run `python -m cicd.rights --docs`", file=sys.stderr)
        return 1
    if path.exists() and path.read_text() == document:
        print(f"{DOC} is current")
        return 0
    path.parent.mkdir(exist_ok=True)
    path.write_text(document)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
