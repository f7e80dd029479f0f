"""Promote a release to production, roll back, or retire old releases: edits of the stack file.

Usage::

    python -m cicd.promote VERSION [--stack prod] [--allow-unverified "<reason>"]
    python -m cicd.promote --rollback [--stack prod]
    python -m cicd.promote --abandon [--stack prod]
    python -m cicd.promote --retire [--stack prod]

`VERSION` adds the release to `kept`, makes it `live`, and makes the release live until now the
`rollbackTarget`. It is refused when VERSION is not published in `releases.lock.yaml`, is
already live, or has no successful staging run of the same content (same lock digests), looked
up in the staging workspace with read-only credentials (`cicd.promotion.staging`).
`--allow-unverified REASON` skips that look-up and records REASON next to the release in the
stack file, for the reviewer. `--rollback` sets live back to the rollback target and the
rollback target to the release before it (again: one release further back); `--abandon`, after
the prod gate refused the live release, makes the file say what production runs again (the
same edit, refused when there is no candidate to abandon; the abandoned release stays kept
until `--retire`); `--retire` drops kept releases that are neither live, the rollback target
nor the candidate. The on-call runbook is docs/on-call.md.

The file keeps its comments, order and formatting (ruamel.yaml round trip); the result is
checked by the one config reader and the retention guard before it is written, and a refused
edit writes nothing. Line endings (CRLF) and a UTF-8 byte-order mark are kept byte for byte. The
file is written only if it still holds the bytes read at the start (`cicd.sharedfile`): a
concurrent run's change is never overwritten; the later run refuses, showing that change. Each
command prints the lines it changed.

Exit codes: 0 done (or nothing to change); 1 refused (the message says why and the fix);
2 bad arguments; 4 the staging workspace could not be asked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cicd.jobs.cli import EXIT_REFUSED, add_staging_options, one_line
from cicd.project import PROJECT_DIR, stack_file
from cicd.promotion.edits import (
    Edit,
    EditRefused,
    abandon,
    check_promotable,
    promote,
    retire,
    rollback,
)
from cicd.releases.lock import LOCK_FILE, LockError, read_lock
from cicd.sharedfile import SharedFileError, check_writable, read_shared, replace_file

# Only a promotion checked in staging contacts a workspace: the SDK and the staging modules
# (over a second of imports) load there, in `_ran_green_in_staging`, so that a rollback, abandon,
# retire or unverified promotion (the on-call runbook's commands) starts without them.
if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from cicd.promotion.staging import StagingSource

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.promote",
        description="Promote a release (VERSION), --rollback, --abandon, or --retire, by editing"
        " Pulumi.<stack>.yaml in place. Exit codes: 0 done, 1 refused, 2 usage error,"
        " 4 staging workspace unreachable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
        "  python -m cicd.promote 1.4.0 --stack prod --staging-profile staging-reader\n"
        "  python -m cicd.promote 1.4.0 --allow-unverified 'hotfix, staging is down'\n"
        "  python -m cicd.promote --rollback --stack prod\n"
        "  python -m cicd.promote --retire --stack prod",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("version", nargs="?", help="the release to make live")
    action.add_argument("--rollback", action="store_true", help="set live to the rollback target")
    action.add_argument(
        "--abandon",
        action="store_true",
        help="the gate refused the live release: set the file back to what production runs",
    )
    action.add_argument(
        "--retire", action="store_true", help="drop releases neither live nor rollback target"
    )
    parser.add_argument("--stack", default="prod", help="the stack file to edit (default: prod)")
    parser.add_argument(
        "--allow-unverified",
        metavar="REASON",
        help="promote without a green staging run; REASON is recorded in the stack file",
    )
    add_staging_options(parser)
    return parser


def _print_edit(edit: Edit, path: Path) -> None:
    if not edit.lines:
        print(f"{path.name}: nothing to change")
    else:
        print(f"{path.name}:")
        for line in edit.lines:
            print(f"  {line}")
    for note in edit.notes:
        print(note)


def _ran_green_in_staging(
    args: argparse.Namespace,
    project_dir: Path,
    staging_reader: Callable[[StagingSource], WorkspaceClient] | None,
) -> int | None:
    from cicd.promotion.staging import StagingSource, ran_green_in_staging

    source = StagingSource(args.staging_stack, args.staging_job_id, args.staging_profile)
    return ran_green_in_staging(project_dir, args.version, source, staging_reader)


def main(
    argv: Sequence[str] | None = None,
    *,
    project_dir: Path = PROJECT_DIR,
    staging_reader: Callable[[StagingSource], WorkspaceClient] | None = None,
) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.allow_unverified is not None and (
        args.version is None or not args.allow_unverified.strip()
    ):
        parser.print_usage(sys.stderr)
        print("error: --allow-unverified needs VERSION and a non-empty reason", file=sys.stderr)
        return EXIT_USAGE
    path = stack_file(project_dir, args.stack)
    command = "python -m cicd.promote " + " ".join(list(argv) if argv is not None else sys.argv[1:])
    try:
        shared = read_shared(path)
        check_writable(path)  # before anything is asked of staging
    except FileNotFoundError:
        print(f"error: {path}: no such stack file (check --stack)", file=sys.stderr)
        return EXIT_USAGE
    except SharedFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    text = shared.text
    try:
        if args.rollback:
            edit = rollback(text, path.name)
        elif args.abandon:
            edit = abandon(text, path.name)
        elif args.retire:
            edit = retire(text, path.name)
        else:
            lock = read_lock(project_dir / LOCK_FILE)
            # Cheap refusals first: nothing is asked of staging for a version that cannot go.
            check_promotable(text, path.name, args.version, lock)
            if args.allow_unverified is None:
                refused = _ran_green_in_staging(args, project_dir, staging_reader)
                if refused is not None:
                    return refused
            edit = promote(text, path.name, args.version, lock, args.allow_unverified)
    except (EditRefused, LockError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, ValueError) as exc:
        # Staging's own failures are answered in _ran_green_in_staging: this is the edit's.
        print(f"error: cannot edit {path.name} ({one_line(str(exc), 300)})", file=sys.stderr)
        return EXIT_REFUSED
    try:
        replace_file(path, shared.raw, shared.encode(edit.after), command)
    except SharedFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    _print_edit(edit, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
