"""Green before switch: the production deploy's gate, `python -m cicd.gate plan|stage|run|restore`.

- `plan --stack prod`: compares the committed stack file with what the stack runs now (its
  outputs, via the Pulumi CLI) and says what the deploy will do to the job: nothing, a rollback,
  a promotion or the first deploy. A promotion (or first deploy) needs a green staging run of
  the same content, unless the release carries `allowUnverified` in the stack file. Writes
  `promotion=true|false` to `$GITHUB_OUTPUT` when set.
- `stage --stack prod`: `plan`, then, for a promotion, rewrites the stack file in this checkout so
  that the next `pulumi up` publishes the new release as `candidate` beside the live one and
  leaves the job as it is. The committed file is kept in `dist/gate/` and put back by `run`
  (or `restore`); nothing else writes the stack file.
- `run --stack prod [--timeout 3600]`: runs the candidate once with the live job's own settings
  (`cicd.jobs.candidate`, `jobs.submit`), follows it, then puts the committed file back, so
  that the next `pulumi up` switches the job. It fails unless that run succeeded, naming the
  run's page and error: production stays on its release.
- `restore --stack prod`: puts the committed file back (only over the staged text).

Exit codes: 0 done; 1 refused (no green staging run, a file in the way) or the candidate run
failed; 2 bad arguments; 3 the candidate run timed out (cancelled); 4 workspace or Pulumi
unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cicd.config import ConfigError, read_stack_file
from cicd.jobs.cli import (
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    EXIT_REFUSED,
    EXIT_SUCCESS,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    add_staging_options,
    one_line,
    positive_seconds,
)
from cicd.jobs.stack_outputs import JobIdError, read_stack_outputs, stack_host, workspace_client
from cicd.project import PROJECT_DIR, stack_file
from cicd.promotion.edits import EditRefused
from cicd.promotion.staged_file import GateError, restore, stage
from cicd.promotion.switch import PROMOTION, SwitchPlan, plan_switch

# Only a promotion's staging check and `run` contact a workspace: the SDK and the modules that
# use it (over a second of imports) load there, in `_ran_green_in_staging` and
# `_run_then_restore`, so that `plan` of a rollback or of an unverified release and `restore`
# start without them.

# `--help` text: one line per subcommand in the list, the longer story in `gate COMMAND --help`.
GATE_COMMANDS = {
    "plan": "say what the deploy will do to the job; a promotion needs a green staging run",
    "stage": "plan, then stage a promotion: the release goes out as candidate beside live",
    "run": "run the candidate with the live job's settings, then put the committed file back",
    "restore": "put the committed stack file back after `stage` (e.g. after a failed step)",
}
GATE_DESCRIPTIONS = {
    "plan": "Compare the committed stack file with what the stack runs now (its outputs, via the"
    " Pulumi CLI) and say what the deploy will do: nothing, a rollback, a promotion or the"
    " first deploy. A promotion needs a green staging run of the same content unless the"
    " release carries allowUnverified. Writes promotion=true|false to $GITHUB_OUTPUT when set.",
    "stage": "Run `plan`; for a promotion, rewrite the stack file in this checkout so that the"
    " next `pulumi up` publishes the new release as candidate beside the live one and leaves"
    " the job as it is. The committed file is kept in dist/gate/ and put back by `run` or"
    " `restore`.",
    "run": "Run the candidate once with the live job's own settings, follow it, then put the"
    " committed stack file back so that the next `pulumi up` switches the job. Fails unless"
    " the run succeeded, naming its page and error: production stays on its release."
    " Exit 3 when the run timed out (it is cancelled).",
    "restore": "Put the committed stack file back (from dist/gate/), only over the text `stage`"
    " wrote: use it when a step between `stage` and `run` failed, so the checkout is as"
    " committed again. Refuses, naming the file, if the stack file was edited since.",
}
GATE_EXAMPLES = """\
Examples (the production deploy, in order):
  python -m cicd.gate plan --stack prod --staging-profile staging-reader
  python -m cicd.gate stage --stack prod && pulumi up --stack prod --yes
  python -m cicd.gate run --stack prod --timeout 3600 && pulumi up --stack prod --yes
  python -m cicd.gate restore --stack prod
"""


def plan(project_dir: Path, stack: str) -> SwitchPlan:
    """What the deploy does to the job, printed. A gated switch needs a green staging run
    (`needs_staging_run`) unless its release carries allowUnverified."""
    desired = read_stack_file(stack_file(project_dir, stack))
    switch = plan_switch(desired, read_stack_outputs(stack, cwd=project_dir))
    print(f"stack {stack}: {switch.describe()}")
    if switch.gated and switch.allow_unverified is not None:
        print(
            f"release {switch.desired_live} goes out WITHOUT a green staging run:"
            f" allowUnverified {switch.allow_unverified!r} (Pulumi.{stack}.yaml)"
        )
    return switch


def needs_staging_run(switch: SwitchPlan) -> bool:
    return switch.gated and switch.allow_unverified is None


def _unreachable(exc: Exception) -> int:
    print(
        f"error: the workspace refused or could not be reached: {one_line(str(exc), 300)}",
        file=sys.stderr,
    )
    return EXIT_UNREACHABLE


def _ran_green_in_staging(project_dir: Path, version: str, args: argparse.Namespace) -> int | None:
    from cicd.promotion.staging import StagingSource, ran_green_in_staging

    source = StagingSource(args.staging_stack, args.staging_job_id, args.staging_profile)
    return ran_green_in_staging(project_dir, version, source)


def _run_then_restore(project_dir: Path, args: argparse.Namespace) -> int:
    """`run`, then the committed file back whatever happened (its message after the run's)."""
    from databricks.sdk.errors.base import DatabricksError

    from cicd.jobs.candidate import CandidateError

    try:
        try:
            return run(project_dir, args.stack, args)
        finally:
            restore(project_dir, args.stack)
    except CandidateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except DatabricksError as exc:
        return _unreachable(exc)


def run(project_dir: Path, stack: str, args: argparse.Namespace) -> int:
    from cicd.jobs.candidate import run_job_candidate
    from cicd.jobs.runs import RunWatcher

    config = read_stack_file(stack_file(project_dir, stack))
    version = config.releases.candidate
    if version is None:
        print(f"stack {stack}: no candidate staged; nothing to run")
        return EXIT_SUCCESS
    outputs = read_stack_outputs(stack, cwd=project_dir) or {}
    if outputs.get("candidateRelease") != version:
        raise GateError(
            f"stack {stack} has not published candidate {version} (its candidateRelease output"
            f" is {outputs.get('candidateRelease')!r}): run `pulumi up` after `cicd.gate stage`"
        )
    job_ids = _by_key(outputs, "jobIds")
    live_fields = _by_key(outputs, "liveFields")
    candidate_fields = _by_key(outputs, "candidateFields")
    gated = config.gated_jobs()
    missing = [key for key in gated if key not in job_ids or key not in candidate_fields]
    if missing:
        raise GateError(
            f"stack {stack}'s outputs name no job id or candidate fields for job(s)"
            f" {', '.join(missing)} (outputs jobIds, candidateFields): run `pulumi up` with this"
            " program after `cicd.gate stage`"
        )
    host = stack_host(stack, project_dir)
    if host:
        os.environ["DATABRICKS_HOST"] = host
    client = workspace_client()
    print(
        f"candidate {version}: running {len(gated)} job(s) with their live settings:"
        f" {', '.join(gated)}; pipelines switch with `live` (staging's green run vouches for them)"
    )
    for key in gated:
        job_id = int(str(job_ids[key]))
        watcher = RunWatcher(
            jobs=client.jobs,
            job_id=job_id,
            notebook_params=None,
            job_parameters=None,
            timeout=args.timeout,
            poll_interval=args.poll_interval,
            clock=time.monotonic,
            sleep=time.sleep,
            out=sys.stdout,
            err=sys.stderr,
            label=f"candidate {version} (live job {key} {job_id}'s settings)",
        )
        code, left_out = run_job_candidate(
            client.jobs,
            job_id,
            version,
            live_fields.get(key) or {},
            candidate_fields[key] or {},
            watcher,
        )
        if left_out:
            print(
                f"job {key}: left out of the candidate's run: {', '.join(left_out)} (pipeline"
                " and run-job tasks run the live release until the switch)"
            )
        if code != EXIT_SUCCESS:
            verdict = (
                f"candidate {version} was NOT made live: production stays on"
                f" {config.releases.live}. Job {key} failed: {watcher.run_page_url or watcher.run_id}"
            )
            print(verdict, file=sys.stderr)
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                with open(summary, "a", encoding="utf-8") as handle:
                    handle.write(f"### prod gate\n{verdict} (its error is in this step's log)\n")
            return code
    return EXIT_SUCCESS


def _by_key(outputs: dict[str, object], name: str) -> dict[str, Any]:
    value = outputs.get(name)
    return dict(value) if isinstance(value, dict) else {}


def _write_github_output(switch: SwitchPlan) -> None:
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(f"promotion={'true' if switch.kind == PROMOTION else 'false'}\n")
            handle.write(f"release={switch.desired_live}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=GATE_EXAMPLES,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in GATE_COMMANDS.items():
        command = commands.add_parser(
            name,
            help=text,
            description=textwrap.fill(GATE_DESCRIPTIONS[name], 96),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=f"Example:\n  python -m cicd.gate {name} --stack prod",
        )
        command.add_argument(
            "--stack", default="prod", help="the gated stack: Pulumi.STACK.yaml (default: prod)"
        )
        if name in ("plan", "stage"):
            add_staging_options(command)
        if name == "run":
            command.add_argument(
                "--timeout",
                type=positive_seconds,
                default=DEFAULT_TIMEOUT_SECONDS,
                metavar="SECONDS",
                help="cancel the candidate run and exit 3 after this long (default: 3600)",
            )
            command.add_argument(
                "--poll-interval",
                type=positive_seconds,
                default=DEFAULT_POLL_INTERVAL_SECONDS,
                metavar="SECONDS",
                help="seconds between status checks (default: 15)",
            )
    return parser


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "restore":
            restore(project_dir, args.stack)
            return EXIT_SUCCESS
        if args.command == "run":
            return _run_then_restore(project_dir, args)
        switch = plan(project_dir, args.stack)
        if needs_staging_run(switch):
            refused = _ran_green_in_staging(project_dir, switch.desired_live, args)
            if refused is not None:
                return refused
        if args.command == "stage":
            stage(project_dir, args.stack, switch)
        _write_github_output(switch)
        return EXIT_SUCCESS
    except (GateError, EditRefused, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except JobIdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (OSError, ValueError) as exc:
        return _unreachable(exc)


if __name__ == "__main__":
    sys.exit(main())
