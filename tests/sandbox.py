"""A local sandbox to try every workspace tool without a workspace: `./scripts/sandbox up|down`.

`up` starts the emulator the tests use (minilake, with the tests' faithful handlers: other
notebook languages, the Pipelines API, job runs that succeed) as a background process on a free
loopback port, copies the checkout to `.sandbox/project/` with each stack file's
`databricks:host` pointing at it, lays out both stacks there as a deploy of this checkout would
leave them (releases, jobs, pipelines, permissions, the engineers' dev clusters), and prints the
exports that point the tools at it. The tools read stack outputs with the Pulumi CLI: a stand-in
`pulumi` on the printed PATH answers `pulumi stack output` from what the layout created, and
nothing else (it is not Pulumi, and says so).

This is NOT a deployment: nothing leaves the machine, no Pulumi state exists, and the emulator
checks no permissions. `down` stops the server and removes `.sandbox/`, keeping the project copy
if files in it were changed (it names them), so nothing you did there is lost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Where the sandbox lives (the tour's test puts it in a temporary folder).
SANDBOX = Path(os.environ.get("CICD_SANDBOX_DIR") or REPO / ".sandbox").resolve()
STATE = SANDBOX / "state.json"
STACKS = ("staging", "prod")
TOKEN = "sandbox-token"

SHIM = """#!/bin/sh
# Stand-in for `pulumi stack output` in the local sandbox (tests/sandbox.py); not Pulumi.
stack=""; name=""; seen_output=0; prev=""
for arg in "$@"; do
  case "$prev" in --stack) stack="$arg";; esac
  case "$arg" in output) seen_output=1;; --*|stack) ;; *) [ "$seen_output" = 1 ] && [ "$prev" != "--stack" ] && name="$arg";; esac
  prev="$arg"
done
file="{outputs}/$stack.json"
if [ "$seen_output" != 1 ]; then
  echo "error: this is the sandbox's stand-in for 'pulumi stack output' only" >&2; exit 2
fi
if [ ! -f "$file" ]; then echo "error: no stack named '$stack' found" >&2; exit 255; fi
if [ -z "$name" ]; then cat "$file"; else
  {python} -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))" "$file" "$name" \\
    || {{ echo "error: current stack does not have output property '$name'" >&2; exit 255; }}
fi
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/2.0/clusters/list", timeout=2):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def serve(port: int, data: Path) -> None:
    """The background server: the emulator and the tests' handlers, until killed."""
    from tests import emulator_devloop, emulator_workspace
    from tests.emulator import Emulator
    from tests.emulator_pipelines import Pipelines
    from tests.emulator_runs import RunScripts

    emulator = Emulator(data, port=port)
    emulator_workspace.install(emulator)
    emulator_devloop.install(emulator)
    Pipelines().install(emulator)
    scripts = RunScripts().install(emulator)
    # Every run in the sandbox succeeds, exiting with a summary as the entry notebook does.
    scripts.script(
        "/",
        ("RUNNING", None, None),
        ("TERMINATED", "SUCCESS", None),
        exit_value='{"status": "succeeded"}',
    )
    emulator.start()
    while True:  # until `down` stops the process group
        time.sleep(3600)


def _copy_project(url: str) -> Path:
    """The checkout's tracked files (and built releases) in .sandbox/project, stack files pointing
    at the sandbox."""
    project = SANDBOX / "project"
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        source = REPO / name
        if source.is_file():
            target = project / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    shutil.copytree(REPO / "dist" / "releases", project / "dist" / "releases", dirs_exist_ok=True)
    for stack in STACKS:
        stack_file = project / f"Pulumi.{stack}.yaml"
        lines = stack_file.read_text().splitlines(keepends=True)
        stack_file.write_text(
            "".join(
                f"  databricks:host: {url}  # the local sandbox (./scripts/sandbox)\n"
                if line.startswith("  databricks:host:")
                else line
                for line in lines
            )
        )
    for link in ("venv", "policy/venv"):
        if (REPO / link).exists() and not (project / link).exists():
            (project / link).symlink_to(REPO / link)
    # A git repository of its own, so that `down` can tell what was changed in it.
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=sandbox",
            "-c",
            "user.email=sandbox@localhost",
            "commit",
            "-qm",
            "sandbox",
        ],
        cwd=project,
        check=True,
    )
    return project


def _lay_out(url: str, project: Path) -> dict[str, dict[str, Any]]:
    """Both stacks as a deploy would leave them; returns each stack's outputs."""
    from cicd.config import dev_cluster_name, pulumi_config_map, read_stack_file
    from cicd.driftcheck.cache import cached_evaluate
    from tests.drift_layout import publish

    os.environ["DATABRICKS_HOST"] = url
    os.environ["DATABRICKS_TOKEN"] = TOKEN
    from databricks.sdk import WorkspaceClient

    client = WorkspaceClient(host=url, token=TOKEN)
    outputs: dict[str, dict[str, Any]] = {}
    for stack in STACKS:
        print(f"sandbox: laying out stack {stack} ...", file=sys.stderr, flush=True)
        config_map = pulumi_config_map(project / f"Pulumi.{stack}.yaml")
        # Evaluated through the drift check's cache of the copy (its key digests every input),
        # as a drift check of this layout would: the tour's first check finds it there.
        evaluation, job_id, ids = publish(
            client,
            config_map,
            stack,
            with_ids=True,
            project_dir=project,
            evaluator=cached_evaluate,
        )
        values = dict(evaluation.outputs)
        values["jobId"] = str(job_id)
        values["jobIds"] = {
            k: ids.get(str(v), str(v)) for k, v in (values.get("jobIds") or {}).items()
        }
        values["pipelineIds"] = {
            k: ids.get(str(v), str(v)) for k, v in (values.get("pipelineIds") or {}).items()
        }
        values.pop("jobUrls", None)
        values.pop("pipelineUrls", None)
        values["jobUrl"] = f"{url}/#job/{job_id}"
        config = read_stack_file(project / f"Pulumi.{stack}.yaml")
        clusters = {}
        if config.developers is not None:
            for engineer in config.developers.by_slug():
                spec = config.developers.cluster_for(engineer)
                created = client.clusters.create(
                    cluster_name=dev_cluster_name(config.pipeline_name, engineer.slug),
                    spark_version=spec.spark_version,
                    node_type_id=spec.node_type,
                    num_workers=spec.num_workers or 0,
                    autotermination_minutes=spec.autotermination_minutes,
                    custom_tags={"Owner": engineer.user},
                ).response
                clusters[engineer.user] = str(created.cluster_id)
        values["devClusters"] = clusters
        outputs[stack] = values
    return outputs


def _exports(state: dict[str, Any]) -> str:
    return "\n".join(
        [
            "# A LOCAL SANDBOX (an emulator on this machine), not a deployment: nothing here",
            "# reaches a workspace. Undo with ./scripts/sandbox down.",
            f"export DATABRICKS_HOST={state['url']}",
            f"export DATABRICKS_TOKEN={TOKEN}",
            f'export PATH="{SANDBOX / "bin"}:$PATH"',
            f"cd {state['project']}",
        ]
    )


def up(port: int | None) -> int:
    if STATE.exists():
        state = json.loads(STATE.read_text())
        if _alive(state["url"]):
            print(_exports(state))
            return 0
        print(
            "sandbox: the previous sandbox's server is gone; run ./scripts/sandbox down first",
            file=sys.stderr,
        )
        return 1
    if not (REPO / "dist" / "releases").is_dir():
        print(
            "sandbox: no built releases; run `venv/bin/python -m cicd.release ensure --stack staging`"
            " and `--stack prod` first",
            file=sys.stderr,
        )
        return 1
    SANDBOX.mkdir(exist_ok=True)
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}"
    data = SANDBOX / "data"
    data.mkdir(exist_ok=True)
    print(
        f"sandbox: starting the emulator on {url} (log: {SANDBOX / 'server.log'}) ...",
        file=sys.stderr,
        flush=True,
    )
    with (SANDBOX / "server.log").open("ab") as log:
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "tests.sandbox",
                "serve",
                "--port",
                str(port),
                "--data",
                str(data),
            ],
            cwd=REPO,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not _alive(url):
        if server.poll() is not None or time.monotonic() > deadline:
            print(
                f"sandbox: the emulator did not start; see {SANDBOX / 'server.log'}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)
    state = {"url": url, "pid": server.pid, "project": str(SANDBOX / "project")}
    STATE.write_text(json.dumps(state))
    print(
        f"sandbox: copying the checkout to {SANDBOX / 'project'} ...", file=sys.stderr, flush=True
    )
    project = _copy_project(url)
    outputs = _lay_out(url, project)
    bin_dir = SANDBOX / "bin"
    outputs_dir = SANDBOX / "outputs"
    bin_dir.mkdir(exist_ok=True)
    outputs_dir.mkdir(exist_ok=True)
    for stack, values in outputs.items():
        (outputs_dir / f"{stack}.json").write_text(json.dumps(values, indent=1))
    shim = bin_dir / "pulumi"
    shim.write_text(SHIM.format(outputs=outputs_dir, python=sys.executable))
    shim.chmod(0o755)
    print(
        "sandbox: ready. Point your shell at it with the lines below, or run"
        ' `eval "$(./scripts/sandbox up)"`:',
        file=sys.stderr,
        flush=True,
    )
    print(_exports(state))
    return 0


def down() -> int:
    if not SANDBOX.exists():
        print("sandbox: nothing to stop", file=sys.stderr)
        return 0
    if STATE.exists():
        state = json.loads(STATE.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(state["pid"]), signal.SIGTERM)
        print(f"sandbox: stopped the emulator at {state['url']}", file=sys.stderr)
    project = SANDBOX / "project"
    changed = []
    if (project / ".git").exists():
        status = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        changed = [line[3:] for line in status.splitlines() if line.strip()]
    for name in ("bin", "outputs", "data", "state.json", "server.log"):
        target = SANDBOX / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    if changed:
        print(
            f"sandbox: kept {project}: {len(changed)} file(s) changed there since `up`"
            f" ({', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}); copy what you want"
            " to keep, then remove it yourself",
            file=sys.stderr,
        )
        return 0
    shutil.rmtree(SANDBOX)
    print(f"sandbox: removed {SANDBOX}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./scripts/sandbox",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example (paste the exports `up` prints, try the tools, then stop it):\n"
        "  ./scripts/sandbox up\n"
        "  ./scripts/sandbox down",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    start = verbs.add_parser("up", help="start the sandbox, lay out both stacks, print the exports")
    start.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    verbs.add_parser("down", help="stop the sandbox and remove .sandbox/ (a changed copy is kept)")
    serving = verbs.add_parser("serve", help="(internal) run the emulator in the foreground")
    serving.add_argument("--port", type=int, required=True, help="loopback port")
    serving.add_argument("--data", type=Path, required=True, help="the emulator's data folder")
    args = parser.parse_args(argv)
    if args.verb == "up":
        return up(args.port)
    if args.verb == "down":
        return down()
    serve(args.port, args.data.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
