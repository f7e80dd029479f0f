"""The engineer's dev loop: `python -m cicd.dev push|pull|status --stack STACK [--user USER]`.

- `push` imports the working tree's `pipeline/notebooks` into `/Users/<user>/<pipeline>/` (the
  release import rules: notebooks in source format with their language, other files as
  workspace files), builds the library from the working tree, uploads it to your dev location
  and installs it on your cluster (your previous dev build uninstalled); `--restart` restarts
  the cluster so running sessions load it.
- `pull` brings the workspace's edits into `pipeline/notebooks/`: only what changed there since
  the last push or pull, merged into the local file (three-way, per cell; the workspace rewrites
  notebooks on export, so writing its export would show the whole rewrite), and notebooks
  created in the workspace (extension from their language): `git diff` then shows exactly your
  workspace edits. Deletions are shown; `--delete` applies the workspace's deletions here.
- `status` prints one line per notebook: in sync, changed here, changed in the workspace,
  changed on both sides, only here, only there.

Each command lists the personal folder and exports only what moved since the sync record; a push
with nothing changed imports, uploads and installs nothing. Nothing is overwritten silently: a
per-user sync record (`.dev-sync/`, git-ignored) keeps the state of the last push or pull (and the
workspace's copy, the base of the next merge); edits on both sides that clash are refused, all of
them named at once. `--force` overwrites after saving what it replaces to a backup folder. Two
commands on one sync record at once: the second is refused. See docs/dev-loop.md.

Credentials: the Databricks SDK's unified authentication (DATABRICKS_TOKEN, or
DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, or --profile); the host defaults to the
stack's `databricks:host`. `--user` defaults to the identity the credentials belong to.

Exit codes: 0 done; 1 refused or failed (the message says why and what to do; a refusal
changes nothing); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors.base import DatabricksError

from cicd.config import ConfigError, read_stack_file
from cicd.devloop import items, library, notebooks
from cicd.devloop.record import (
    describes_another,
    keep_base,
    load_record,
    read_base,
    record_lock,
    record_path,
    save_record,
)
from cicd.devloop.target import DevLoopError, DevTarget, resolve_target
from cicd.devloop.workspace import connect, current_identity, default_host, find_cluster
from cicd.jobs.stack_outputs import stack_host
from cicd.project import PIPELINE_DIR, PROJECT_DIR, stack_file
from cicd.releases.build import ReleaseBuildError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.dev",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb, text in (
        ("push", "put your working tree and library build into your environment"),
        ("pull", "bring the workspace's notebook edits into your working tree"),
        ("status", "one line per notebook: how the two sides differ"),
    ):
        command = verbs.add_parser(verb, help=text)
        command.add_argument("--stack", required=True, help="stack whose developers list you")
        command.add_argument("--user", help="your e-mail or application id (default: yours)")
        command.add_argument("--profile", help="a profile of ~/.databrickscfg")
        command.add_argument("--host", help="workspace URL (default: the stack's databricks:host)")
        if verb in ("push", "pull"):
            command.add_argument(
                "--force", action="store_true", help="overwrite conflicts, after a backup"
            )
        if verb == "push":
            command.add_argument(
                "--restart", action="store_true", help="restart the cluster to load the build"
            )
        if verb == "pull":
            command.add_argument(
                "--delete", action="store_true", help="apply the workspace's deletions here"
            )
    return parser


def run(args: argparse.Namespace, project_dir: Path) -> list[str]:
    config = read_stack_file(stack_file(project_dir, args.stack))
    if args.user:  # an unlisted user is refused before any credential is needed
        resolve_target(config, args.stack, args.user)
    host = args.host or default_host(stack_host(args.stack, project_dir), args.profile)
    client = connect(host, args.profile)
    identity = current_identity(client)
    target = resolve_target(config, args.stack, args.user or identity)
    record_file = record_path(project_dir, args.stack, target.engineer.slug)
    with record_lock(record_file, f"dev {args.verb}"):
        return _run_locked(args, project_dir, client, target, record_file)


def _run_locked(
    args: argparse.Namespace,
    project_dir: Path,
    client: WorkspaceClient,
    target: DevTarget,
    record_file: Path,
) -> list[str]:
    cluster = find_cluster(client, target)
    notebooks_dir = project_dir / PIPELINE_DIR / "notebooks"
    local = items.scan_local(notebooks_dir)
    record = load_record(record_file, client.config.host or "", target.folder)

    def base(digest: str) -> bytes | None:
        return read_base(record_file, digest)

    def keep(digest: str, data: bytes) -> None:
        keep_base(record_file, digest, data)

    listing = items.scan_remote(client, target.folder, local, record)
    statuses = items.compare(local, listing.items, record, base)
    notebooks.refresh_record(statuses, record, keep)
    header = f"{target.user}: {client.config.host}{target.folder} <-> {notebooks_dir}"

    if args.verb == "status":
        if not describes_another(record_file, record.host, record.folder):
            save_record(record_file, record)  # what the listing taught: fewer exports next time
        counts = Counter(s.state for s in statuses)
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        return [header, *(s.line() for s in statuses), summary or "no notebooks on either side"]

    if args.verb == "pull":
        outcome = notebooks.pull_notebooks(
            notebooks_dir, statuses, record, project_dir, args.force, args.delete, base, keep
        )
        save_record(record_file, record)
        return _report(header, outcome, "nothing to pull: the working tree has every edit")

    wheel = library.build_dev_wheel(project_dir, target.engineer.slug)  # fails before writes
    try:
        outcome = notebooks.push_notebooks(
            client, target.folder, listing.folders, statuses, record, project_dir, args.force, keep
        )
    finally:
        save_record(record_file, record)  # what was pushed before a failure stays recorded
    lines = _report(header, outcome, "notebooks: nothing to push, the workspace has them all")
    try:
        lines += library.sync_library(client, cluster, target, wheel, record, args.restart)
    finally:
        save_record(record_file, record)
    return lines


def _report(header: str, outcome: notebooks.Outcome, nothing: str) -> list[str]:
    lines = [header, *(outcome.lines or [nothing])]
    if outcome.backup is not None:
        lines.append(f"saved what --force replaced in {outcome.backup}")
    return lines


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    args = _parser().parse_args(argv)
    try:
        lines = run(args, project_dir)
    except (DevLoopError, ConfigError, ReleaseBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DatabricksError as exc:
        print(
            f"error: the workspace refused a call ({type(exc).__name__}: {exc}). Check that your"
            " environment exists and that you hold the rights README lists under 'Identities"
            " and the rights they need'; run `status` to see what was already done",
            file=sys.stderr,
        )
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
