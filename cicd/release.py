"""Release content on disk: `python -m cicd.release build|publish|ensure|restore|check-lock`.

- `build VERSION` builds the pipeline library as VERSION (a reproducible wheel: fixed
  SOURCE_DATE_EPOCH, hatchling's stable file order) and assembles `dist/releases/VERSION/`
  with the notebooks tree. A new version is recorded in `releases.lock.yaml` (commit it with
  the stack config); a version already recorded must rebuild to the same bytes or it fails.
  Its entry notebook is `main`.
- `publish VERSION --notebooks DIR [--library FILE]... [--entry NOTEBOOK]` makes a release of
  content built elsewhere: checks the whole tree (every problem at once), copies it into the
  tracked folder `releases/VERSION/` and records every file's digest, the entry notebook (default
  `main`) and where the content came from in the lock. Commit the folder with the lock.
- `restore VERSION` rebuilds a published release from the git tree of pipeline/ recorded in the
  lock when it was built (never from a tag: a tag `v<VERSION>` on another tree is refused before
  anything builds) and checks it against the lock: how a kept-but-not-live release comes back on
  a fresh CI machine. A published release is only checked: its tracked folder comes with the
  clone.
- `ensure --stack STACK` makes every release the stack keeps present and identical to the lock:
  already there, else restored from its recorded tree. It never writes the lock. CI runs it
  before `pulumi preview`/`up`.

Builds run the pipeline's build backend with an allow-listed environment (no credential, a
scratch HOME): see `cicd.releases.build.build_environment`.

No command deletes or overwrites a file that is not byte-identical to what it would write: a
release folder holding anything else is refused, the files named, nothing changed.

- `check-lock --base FILE` fails when the lock lost a release or a recorded file changed
  compared with FILE (the base branch's lock): the lock only grows.

Exit codes: 0 done; 1 a release cannot be built or does not match the lock; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cicd.config import ConfigError, check_version, read_stack_file
from cicd.project import PROJECT_DIR, stack_file
from cicd.releases.build import ReleaseBuildError, build
from cicd.releases.content import ReleaseContentError
from cicd.releases.lock import LOCK_FILE, LockError, check_lock_grows
from cicd.releases.placement import ForeignContentError
from cicd.releases.publish import PublishError, publish
from cicd.releases.restore import ensure_releases, restore


def ensure(project_dir: Path, stack: str) -> list[str]:
    """`ensure --stack STACK`: every kept release present and identical to the lock."""
    config = read_stack_file(stack_file(project_dir, stack))
    return ensure_releases(project_dir, config, f"stack {stack}")


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
        "  python -m cicd.release build 1.4.0\n"
        "  python -m cicd.release publish 1.4.0 --notebooks ../other/notebooks"
        " --library ../other/dist/other-1.4.0-py3-none-any.whl\n"
        "  python -m cicd.release ensure --stack prod\n"
        "  python -m cicd.release check-lock --base <(git show origin/main:releases.lock.yaml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("build", "build the working tree as VERSION and record it"),
        ("restore", "rebuild a published VERSION from the git tree the lock records"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument(
            "version",
            metavar="VERSION",
            type=_version_argument,
            help="the release version, e.g. 1.4.0",
        )
    publish_command = commands.add_parser(
        "publish", help="make VERSION a release of content built elsewhere, and record it"
    )
    publish_command.add_argument(
        "version", metavar="VERSION", type=_version_argument, help="the new release's version"
    )
    publish_command.add_argument(
        "--notebooks", metavar="DIR", type=Path, required=True, help="the notebooks tree (a folder)"
    )
    publish_command.add_argument(
        "--library",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a built .whl or .jar; repeat for more",
    )
    publish_command.add_argument(
        "--entry",
        metavar="NOTEBOOK",
        help="the notebook the job runs, path in the tree without extension (default: main)",
    )
    ensure_command = commands.add_parser("ensure", help="make every kept release of a stack ready")
    ensure_command.add_argument(
        "--stack", required=True, help="the stack whose kept releases to make ready"
    )
    check_command = commands.add_parser("check-lock", help="the lock only grows (against --base)")
    check_command.add_argument(
        "--base", type=Path, required=True, help="the lock file of the base branch"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            lines = build(project_dir, args.version)
        elif args.command == "publish":
            lines = publish(project_dir, args.version, args.notebooks, args.library, args.entry)
        elif args.command == "restore":
            lines = restore(project_dir, args.version)
        elif args.command == "check-lock":
            lines = check_lock_grows(args.base, project_dir / LOCK_FILE)
        else:
            lines = ensure(project_dir, args.stack)
    except (
        ReleaseBuildError,
        ReleaseContentError,
        LockError,
        ConfigError,
        ForeignContentError,
        PublishError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _version_argument(value: str) -> str:
    try:
        return check_version(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
