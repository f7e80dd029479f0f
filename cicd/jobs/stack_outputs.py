"""What a deployed stack tells the tools: its job id and other outputs (read with the Pulumi
CLI), its workspace (`databricks:host` of its stack file), and an SDK client for it (the only part
that loads the SDK)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from cicd.config import ConfigError, pulumi_config_map
from cicd.project import PROJECT_DIR, stack_file

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

PULUMI_TIMEOUT_SECONDS = 300.0
# Per request, once the workspace has answered: how long the SDK retries a failed call (its
# default is 5 minutes).
RETRY_TIMEOUT_SECONDS = 60
# Before the first request: how long a tool waits for an unreachable workspace to answer at all
# (issue 21: "within 60 s, with the time it really waited"). Without this check the SDK spends its
# retry budget twice over (its host-metadata probe when the client is made, then the first call)
# and then says "Timed out after 0:01:00", whatever it really waited.
REACHABLE_WITHIN_SECONDS = 45.0
# One attempt's connect/read limit while waiting (a host that drops packets never refuses).
PROBE_ATTEMPT_SECONDS = 10.0
# The SDK's own limit per HTTP attempt (its default), restored once the client is resolved.
HTTP_TIMEOUT_SECONDS = 60.0


class WorkspaceUnreachable(TimeoutError):
    """No answer from the workspace host within the budget. A TimeoutError (so an OSError, which
    every tool already reports as "cannot reach"); its message says how long it really waited."""

    def __init__(self, host: str, waited: float, reason: str) -> None:
        super().__init__(f"no answer from {host} in {waited:.1f} s ({reason})")
        self.host, self.waited, self.reason = host, waited, reason


def wait_until_reachable(
    host: str, budget: float | None = None, started: float | None = None
) -> None:
    """Return once `host` answers an HTTP request (any status: a 404 or 401 is an answer), or
    raise WorkspaceUnreachable after `budget` seconds (default REACHABLE_WITHIN_SECONDS) of
    refused or unanswered attempts, with the time really waited (counted from `started`, a
    time.monotonic() value, when given). Through the proxies the
    environment names (HTTPS_PROXY), as the SDK's own requests go."""
    limit = REACHABLE_WITHIN_SECONDS if budget is None else budget
    started = time.monotonic() if started is None else started
    pause = 0.5
    probe = urllib.request.Request(f"{host.rstrip('/')}/", method="HEAD")
    while True:
        remaining = limit - (time.monotonic() - started)
        try:
            with urllib.request.urlopen(
                probe, timeout=max(0.1, min(PROBE_ATTEMPT_SECONDS, remaining))
            ):
                return
        except urllib.error.HTTPError:
            return  # an answer, whatever its status
        except (urllib.error.URLError, OSError) as exc:
            cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(cause, ssl.SSLError):
                # The host answered; its certificate is the SDK's to check (it trusts its own
                # CA bundle, REQUESTS_CA_BUNDLE, which this probe does not read).
                return
            reason = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        waited = time.monotonic() - started
        if waited >= limit:
            raise WorkspaceUnreachable(host, waited, reason)
        time.sleep(min(pause, limit - waited))
        pause = min(pause * 2, 5.0)


def workspace_client(
    host: str | None = None,
    *,
    profile: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> WorkspaceClient:
    """An SDK client with the unified authentication (environment variables, a profile, or the
    service principal credentials given), for `host` (None: the one DATABRICKS_HOST or the profile
    names). Every tool that talks to a workspace makes its client here.

    Raises WorkspaceUnreachable (a TimeoutError) when the host does not answer within
    REACHABLE_WITHIN_SECONDS, naming the time really waited; ValueError (the SDK's) when no
    credential can be resolved. Once the host has answered, a failed call is retried for
    RETRY_TIMEOUT_SECONDS."""
    # The SDK loads here, where a workspace is contacted: reading a stack's outputs or host
    # (`cicd.gate plan`) does without it, and it takes over a second to import.
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    started = time.monotonic()
    config = Config(
        host=host,
        profile=profile,
        client_id=client_id,
        client_secret=client_secret,
        # Only for the SDK's best-effort host-metadata probe, made while the Config resolves:
        # the reachability check below is what waits for a host that does not answer.
        retry_timeout_seconds=1,
        http_timeout_seconds=PROBE_ATTEMPT_SECONDS,
    )
    config.retry_timeout_seconds = RETRY_TIMEOUT_SECONDS
    config.http_timeout_seconds = HTTP_TIMEOUT_SECONDS
    if config.host:
        wait_until_reachable(config.host, started=started)
    return WorkspaceClient(config=config)


class JobIdError(Exception):
    """The job id could not be resolved from the stack; the message says why and what to do."""


def _job_id_by_key(stack: str, job: str, cwd: Path) -> int:
    outputs = read_stack_outputs(stack, cwd=cwd)
    if outputs is None:
        raise JobIdError(f"stack {stack!r} has no outputs yet: deploy it (pulumi up) first")
    ids = outputs.get("jobIds")
    if not isinstance(ids, dict):
        raise JobIdError(
            f"stack {stack!r} has no jobIds output: deploy it with this program (pulumi up)"
            " to run a job other than 'main'"
        )
    if job not in ids:
        raise JobIdError(
            f"stack {stack!r} has no job {job!r}; its jobs are: {', '.join(sorted(ids))}"
            " (keys of databricks-cicd:jobs, and 'main' for databricks-cicd:job)"
        )
    value = str(ids[job]).strip()
    if not value.isdigit() or int(value) <= 0:
        raise JobIdError(f"output jobIds.{job} of stack {stack!r} is {value!r}, not a job id")
    return int(value)


def job_id_from_stack(stack: str, *, job: str = "main", cwd: Path = PROJECT_DIR) -> int:
    """The id of job `job` (a key of the stack's jobs; `main` is databricks-cicd:job) from the
    stack's outputs (`jobId` for the main job, `jobIds` for the others), or JobIdError saying
    what to do."""
    if job != "main":
        return _job_id_by_key(stack, job, cwd)
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise JobIdError(
            f"cannot read the job id of stack {stack!r}: the pulumi CLI is not on PATH. "
            "Install it (https://www.pulumi.com/docs/install/) or pass --job-id."
        )
    command = [pulumi, "stack", "output", "jobId", "--json", "--stack", stack, "--non-interactive"]
    done = _run_pulumi(command, stack, cwd)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise JobIdError(
            f"cannot read output jobId of stack {stack!r}: {reason}. Check that the stack exists "
            "and has been deployed (pulumi up), and that PULUMI_BACKEND_URL (or "
            "PULUMI_ACCESS_TOKEN) and PULUMI_CONFIG_PASSPHRASE are set; or pass --job-id."
        )
    try:
        value = json.loads(done.stdout)
    except ValueError:
        value = done.stdout.strip()
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise JobIdError(
            f"output jobId of stack {stack!r} is {done.stdout.strip()!r}, not a job id; "
            "pass --job-id."
        )
    return value


def stack_host(stack: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """`databricks:host` of `Pulumi.<stack>.yaml`, the workspace the stack deploys to."""
    try:
        host = pulumi_config_map(stack_file(project_dir, stack)).get("databricks:host")
    except ConfigError:
        return None
    return host or None


def read_stack_outputs(stack: str, *, cwd: Path = PROJECT_DIR) -> dict[str, object] | None:
    """Every output of a deployed stack (`pulumi stack output --json`), or None when the stack
    does not exist yet (its first deploy). Any other failure raises JobIdError saying why."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise JobIdError(
            f"cannot read the outputs of stack {stack!r}: the pulumi CLI is not on PATH. "
            "Install it (https://www.pulumi.com/docs/install/)."
        )
    command = [pulumi, "stack", "output", "--json", "--stack", stack, "--non-interactive"]
    done = _run_pulumi(command, stack, cwd)
    if done.returncode != 0:
        if "no stack named" in done.stderr.lower():
            return None
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise JobIdError(
            f"cannot read the outputs of stack {stack!r}: "
            f"{lines[-1] if lines else f'exit status {done.returncode}'}. Check "
            "PULUMI_BACKEND_URL (or PULUMI_ACCESS_TOKEN) and PULUMI_CONFIG_PASSPHRASE."
        )
    try:
        value = json.loads(done.stdout or "{}")
    except ValueError:
        raise JobIdError(f"`pulumi stack output --json` for {stack!r} printed no JSON") from None
    return value if isinstance(value, dict) else {}


def _run_pulumi(command: list[str], stack: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            cwd=cwd if (cwd / "Pulumi.yaml").is_file() else None,
            env=dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true"),
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JobIdError(f"cannot run `pulumi stack output` for stack {stack!r}: {exc}") from None
