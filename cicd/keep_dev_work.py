"""Keep engineers' dev work in the workspace when a stack stops owning it:
`python -m cicd.keep_dev_work --stack STACK [--file EXPORT.json]`.

Stacks deployed before `python -m cicd.dev` existed hold every engineer's notebooks and dev
builds in their state; the program no longer declares them, so the next `pulumi up` would delete
them. This marks exactly those resources `retainOnDelete` in the stack's state (`pulumi stack
export`, edit, `pulumi stack import`), so that `pulumi up` forgets them instead. It is
idempotent (nothing left to mark: nothing imported) and does nothing for a stack that does not
exist yet; CI's staging deploy runs it before `pulumi up`.

With `--file`, it edits an export you made yourself (`pulumi stack export --file EXPORT.json`)
and prints the `pulumi stack import` to run; it never calls the Pulumi CLI then.

Exit codes: 0 done (or nothing to do); 1 the Pulumi CLI failed (its message is shown); 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cicd.devloop.stack_state import mark_dev_work_retained
from cicd.project import PROJECT_DIR


def _pulumi(*args: str) -> subprocess.CompletedProcess[str]:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise RuntimeError("the pulumi CLI is not on PATH (https://www.pulumi.com/docs/install/)")
    env = dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true")
    return subprocess.run(
        [pulumi, *args, "--non-interactive"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _report(stack: str, marked: list[str]) -> str:
    if not marked:
        return f"stack {stack}: no engineer's notebook or dev build left to keep; nothing changed"
    lines = [
        f"stack {stack}: {len(marked)} resource(s) of engineers' dev work marked"
        " retainOnDelete; the next `pulumi up` forgets them and leaves them in the workspace:"
    ]
    return "\n".join(lines + [f"  {urn}" for urn in marked])


def run_on_file(stack: str, path: Path) -> str:
    export = json.loads(path.read_text())
    marked = mark_dev_work_retained(export)
    if marked:
        path.write_text(json.dumps(export, indent=4) + "\n")
        return (
            _report(stack, marked) + f"\nnow run: pulumi stack import --stack {stack} --file {path}"
        )
    return _report(stack, marked)


def run_on_stack(stack: str) -> str:
    exported = _pulumi("stack", "export", "--stack", stack)
    if exported.returncode != 0:
        if "no stack named" in exported.stderr:
            return f"stack {stack} does not exist yet: nothing to keep"
        raise RuntimeError(f"pulumi stack export failed: {exported.stderr.strip()[-800:]}")
    export = json.loads(exported.stdout)
    marked = mark_dev_work_retained(export)
    if marked:
        with tempfile.TemporaryDirectory() as scratch:
            edited = Path(scratch) / "state.json"
            edited.write_text(json.dumps(export))
            imported = _pulumi("stack", "import", "--stack", stack, "--file", str(edited))
            if imported.returncode != 0:
                raise RuntimeError(f"pulumi stack import failed: {imported.stderr.strip()[-800:]}")
    return _report(stack, marked)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.keep_dev_work",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
        "  python -m cicd.keep_dev_work --stack staging\n"
        "  python -m cicd.keep_dev_work --stack staging --file export.json",
    )
    parser.add_argument(
        "--stack", required=True, help="the stack whose state to edit (`pulumi stack -s STACK`)"
    )
    parser.add_argument("--file", type=Path, help="edit this `pulumi stack export` file instead")
    args = parser.parse_args(argv)
    try:
        print(run_on_file(args.stack, args.file) if args.file else run_on_stack(args.stack))
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
