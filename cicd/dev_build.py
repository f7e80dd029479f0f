"""Engineers' dev builds: `python -m cicd.dev_build --stack STACK (--user USER ... | --all)`.

A dev build is the working tree's library and notebooks, built by the same reproducible build
as a release (`cicd.release.build_from_source`) into `dist/dev/<slug>/` (`notebooks/` and
`libraries/`, the shape of a release folder). The Pulumi program publishes each listed
engineer's folder to their own dev environment, so one engineer's build never lands on another
engineer's cluster. `dist/` is never committed: `python -m cicd.release ensure` (CI runs it
before every Pulumi command) builds the folders that are missing, from the working tree.

The wheel's version is `0.0.0.dev<N>`, N taken from a digest of the library's sources: a changed
library gets a new version and file name (so pip on a running cluster installs it instead of
keeping the same-version wheel it already has), the same sources the same bytes.

Exit codes: 0 built; 1 the stack or the build refuses (the message says what to do); 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cicd.config import ConfigError, DevEngineer, StackConfig, read_stack_file
from cicd.project import PROJECT_DIR, stack_file
from cicd.releases.build import ReleaseBuildError
from cicd.releases.dev_builds import DevBuildError, build_dev


def _select(
    config: StackConfig, stack: str, users: Sequence[str], everyone: bool
) -> list[DevEngineer]:
    if config.developers is None:
        raise DevBuildError(
            f"stack {stack} has no databricks-cicd:developers: add the section to"
            f" Pulumi.{stack}.yaml with yourself under engineers (see README)"
        )
    if everyone:
        return config.developers.by_slug()
    listed = {e.user.lower(): e for e in config.developers.engineers}
    chosen = []
    for user in users:
        engineer = listed.get(user.lower())
        if engineer is None:
            raise DevBuildError(
                f"{user} is not listed in databricks-cicd:developers.engineers of stack {stack}:"
                f" add `- user: {user}` there first (see README)"
            )
        chosen.append(engineer)
    return sorted({e.slug: e for e in chosen}.values(), key=lambda e: e.slug)


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.dev_build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", required=True, help="stack whose developers list names you")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", action="append", help="engineer to build for (repeatable)")
    who.add_argument("--all", action="store_true", help="build for every listed engineer")
    args = parser.parse_args(argv)
    try:
        config = read_stack_file(stack_file(project_dir, args.stack))
        engineers = _select(config, args.stack, args.user or [], args.all)
        lines = build_dev(project_dir, engineers)
    except (DevBuildError, ReleaseBuildError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
