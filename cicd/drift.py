"""Catch hand edits in the workspace: `python -m cicd.drift --stack STACK [--json] [--restore]`.

The provider does not read a managed notebook's content back, so an edit made in the browser to a
kept release (or a library replaced in the artifact store) is invisible to `pulumi preview
--refresh` and never undone by `pulumi up`. This check reads every kept release's notebooks,
workspace files and libraries back and compares them with `releases.lock.yaml`, reads the job
back and compares every setting the program sets, compares the grants on the production folder
and the job (direct and inherited) with what the program grants, and reports every other cluster
policy an engineer can use and every cluster of theirs outside their own policy. The expected state comes from the
program itself (the offline evaluator), so run `python -m cicd.release ensure --stack STACK` first.

Credentials: the Databricks SDK's unified authentication (DATABRICKS_CLIENT_ID/SECRET, TOKEN, or
a profile); the host is `databricks:host` of the stack file (DATABRICKS_HOST when it has none).
Read-only rights suffice for the check; `--restore` writes, so it runs with the deploy identity.

`--since REPORT.json` (an earlier `--json` report of the stack, which records each object's id and
modification time) reads again only what changed since; the workspace is read on a few threads.
The program's own evaluation is cached per stack config, lock and program code in `.drift-cache/`.

Everything it prints, report and errors, goes through the redaction (`policy/databricks_guardrails/
redact.py`): no value of a setting whose key names a secret, nothing shaped like a credential.

Exit codes: 0 nothing drifted; 1 drift found (report on stdout; after --restore, drift that is
left: job or permissions); 2 error: no or bad credentials, unreachable host, a kept release's
folder missing, a job that cannot be found, bad arguments, stack file or --since report.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors.base import DatabricksError
from databricks.sdk.errors.platform import PermissionDenied, Unauthenticated

from cicd.config import ConfigError, pulumi_config_map
from cicd.driftcheck.access import check_engineers, engineer_scope
from cicd.driftcheck.check import DriftResult, ReleaseFolderMissing, check_releases, check_stack
from cicd.driftcheck.expected import DriftSetupError, expected_state
from cicd.driftcheck.findings import json_report, text_report
from cicd.driftcheck.job import JobNotFound
from cicd.driftcheck.restore import BackupError, new_backup_folder, restore
from cicd.driftcheck.since import OBJECTS, SinceError, load_since, records_json
from cicd.jobs.stack_outputs import workspace_client
from cicd.project import PROJECT_DIR, stack_file
from policy.databricks_guardrails.redact import redact_text

EXIT_CLEAN, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
BACKUP_ROOT = "drift-backups"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.drift",
        description="Report what changed in a stack's workspace behind the program's back. "
        "Exit codes: 0 no drift, 1 drift found, 2 error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
        "  python -m cicd.drift --stack prod\n"
        "  python -m cicd.drift --stack prod --restore --backup-dir ./before-restore\n"
        "Run `python -m cicd.release ensure --stack STACK` first: the kept releases must be on disk.",
    )
    parser.add_argument(
        "--stack", required=True, metavar="NAME", help="the stack to check: Pulumi.NAME.yaml"
    )
    parser.add_argument("--json", action="store_true", help="every finding, as JSON on stdout")
    parser.add_argument(
        "--restore",
        action="store_true",
        help="put drifted release files back to their published bytes, after a local backup"
        " (needs write rights: run it with the deploy identity)",
    )
    parser.add_argument(
        "--backup-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"where --restore saves what it replaces (default: ./{BACKUP_ROOT}/)",
    )
    parser.add_argument(
        "--since",
        type=Path,
        default=None,
        metavar="REPORT.json",
        help="an earlier --json report of this stack: objects it proves unchanged (same object"
        " id and modification time) are not read again",
    )
    parser.add_argument(
        "--job-id", type=int, default=None, metavar="N", help="the job, if not found by its name"
    )
    return parser


def _explain(exc: BaseException, host: str) -> str:
    if isinstance(exc, Unauthenticated):
        return (
            f"authentication to {host} failed: check DATABRICKS_CLIENT_ID and"
            " DATABRICKS_CLIENT_SECRET (or DATABRICKS_TOKEN, or the profile)"
        )
    if isinstance(exc, PermissionDenied):
        return (
            f"permission denied on {host} ({exc}): the checking identity needs CAN_READ on the"
            " workspace root, CAN_VIEW on the job and READ VOLUME on the artifact store, and"
            " reading an object's grants needs CAN_MANAGE on it (docs/identities.md);"
            " --restore needs the deploy identity"
        )
    if isinstance(exc, DatabricksError):
        return f"the workspace {host} refused a request: {exc}"
    return f"cannot reach the workspace {host} ({type(exc).__name__}: {exc}): check the host and network"


def main(
    argv: Sequence[str] | None = None,
    *,
    project_dir: Path = PROJECT_DIR,
    client_factory: Callable[[str], WorkspaceClient] = workspace_client,
) -> int:
    out, err = _Redacting(sys.stdout), _Redacting(sys.stderr)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        config_map = pulumi_config_map(stack_file(project_dir, args.stack))
        # The workspace the stack deploys to: one place names the host (as for cicd.run_job).
        host = config_map.get("databricks:host") or os.environ.get("DATABRICKS_HOST", "")
        if not host:
            raise DriftSetupError(
                f"{stack_file(project_dir, args.stack)}: no databricks:host; set it to the"
                " stack's workspace URL (or DATABRICKS_HOST)"
            )
        since = load_since(args.since, args.stack, host) if args.since else None
        began = time.monotonic()
        # Progress on stderr (stdout stays the report, or the JSON of --json).
        print(f"drift: what stack {args.stack} should be (the program, offline) ...", file=err)
        expected = expected_state(config_map, args.stack, project_dir)
        scope = engineer_scope(config_map)
    except (ConfigError, DriftSetupError, SinceError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    try:
        client = client_factory(host)
        objects = sum(len(release.objects) for release in expected.releases)
        print(
            f"drift: reading {len(expected.releases)} kept release(s) ({objects} objects),"
            f" {len(expected.jobs)} job(s) and {len(expected.pipelines)} pipeline(s) from {host}"
            f" ... ({time.monotonic() - began:.1f} s so far)",
            file=err,
            flush=True,
        )
        result = check_stack(client, expected, args.job_id, since)
        print(f"drift: read in {time.monotonic() - began:.1f} s", file=err, flush=True)
        if scope is not None:
            result.access_findings = check_engineers(client, scope)
        saved_to = None
        if args.restore and result.release_files_drifted:
            saved_to = new_backup_folder(args.backup_dir or project_dir / BACKUP_ROOT, args.stack)
            try:  # can it be made? (restore makes it, and refuses one that exists)
                saved_to.mkdir(parents=True)
                saved_to.rmdir()
            except OSError as exc:
                # A local folder, not the workspace: say so (and nothing was changed there).
                raise BackupError(
                    f"cannot create the backup folder {saved_to} ({exc.strerror or exc}): nothing"
                    " in the workspace was changed; pass --backup-dir with a folder you can write"
                ) from None
            restore(client, result.releases, saved_to)
            # What was not restored is proven unchanged by the first pass's records.
            after = check_releases(client, expected, result.records)
            result = DriftResult(
                result.job_id,
                after,
                result.job_findings,
                result.permission_findings,
                result.job_ids,
                result.pipeline_ids,
                result.access_findings,
            )
    except (ReleaseFolderMissing, JobNotFound, BackupError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except ValueError as exc:  # the SDK's config error: no credentials it can use
        print(
            f"error: no usable Databricks credentials for {host}: {exc}. Set"
            " DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (or DATABRICKS_TOKEN, or"
            " DATABRICKS_CONFIG_PROFILE)",
            file=err,
        )
        return EXIT_ERROR
    except (DatabricksError, OSError) as exc:
        print(f"error: {_explain(exc, host)}", file=err)
        return EXIT_ERROR
    return _report(args, host, result, saved_to, out)


class _Redacting:
    """A stream that redacts what is written to it: every line the check prints, errors that
    quote the service's messages included."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(redact_text(text))

    def flush(self) -> None:
        self.stream.flush()


def _report(
    args: argparse.Namespace,
    host: str,
    result: DriftResult,
    saved_to: Path | None,
    out: _Redacting,
) -> int:
    findings = result.findings
    if args.json:
        print(
            json_report(
                args.stack,
                host,
                findings,
                job_id=result.job_id,
                backup=str(saved_to) if saved_to else None,
                **{OBJECTS: records_json(result.records)},
            ),
            # Past the stream's text redaction: the document is redacted already, as a structure.
            file=out.stream,
        )
        return EXIT_DRIFT if findings else EXIT_CLEAN
    lines = []
    if saved_to is not None:
        lines.append(
            f"restored the drifted release files; what they replaced is saved in {saved_to}"
            " (manifest.json lists each file)"
        )
    if not findings:
        lines.append(
            f"stack {args.stack} ({host}): no drift in kept releases, jobs, pipelines or permissions"
        )
    else:
        lines.append(f"stack {args.stack} ({host}): {len(findings)} finding(s)")
        lines += text_report(findings)
        if result.release_files_drifted:
            lines.append(
                f"Release files: `python -m cicd.drift --stack {args.stack} --restore` with the"
                " deploy identity puts back the published bytes after a local backup."
            )
        if result.job_findings or result.permission_findings:
            lines.append(
                f"Jobs, pipelines and permissions: `pulumi up --refresh --stack {args.stack}` puts"
                " back what the program declares (--restore leaves them alone); an inherited"
                " grant is removed where it is granted, on the parent folder."
            )
        if result.access_findings:
            lines.append(
                "Engineers: remove their grant on every other cluster policy, and delete or move"
                " back every cluster of theirs outside their own policy (each line says how)."
            )
    print("\n".join(lines), file=out)
    return EXIT_DRIFT if findings else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
