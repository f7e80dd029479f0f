"""Dev-loop benchmark: `python -m cicd.dev push|status|pull` against the minilake emulator, beside
its floor measured in the same run.

Run by hand from the repo root (it is not a test):

    python benchmarks/dev_loop.py [--sizes 100,300,1000] [--folders 10]

For every size N it writes a temporary project whose working tree holds N Python notebooks in
`--folders` folders (plus the example pipeline's library), starts a minilake server in a process
of its own (with the tests' handlers: Libraries API, languages, an export rewritten as the real
service does), creates the engineer's cluster and folder, and measures, as requests (counted by
the server) and seconds:

- floor push: the bare SDK loop a first push cannot beat: one mkdirs per folder and one import
  per notebook, one after another, into a folder of its own;
- floor list: listing the personal folder (one request per folder): what any command that looks
  at the workspace at all needs;
- first push, then push, status and pull with nothing changed, then status and pull after one
  notebook was edited in the workspace.

Targets (issue 23): a first push in at most N + folders + 10 requests; push, status or pull with
nothing changed in at most folders + 10. The exit code is 0 only if every request target holds
(seconds are printed, not judged: the machine is shared). One progress line per size.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402


def engineer(size: int) -> tuple[str, str, str]:
    """(user, slug, personal folder) of the engineer of one size: each size has its own."""
    user = f"bench{size}@example.com"
    return user, f"bench{size}-example-com", f"/Users/{user}/etl-pipeline"


def serve(data_dir: Path) -> None:
    """The emulator process: minilake with the tests' handlers, and GET /bench/requests (the
    number of requests answered so far, this one included)."""
    from tests import emulator_devloop, emulator_export
    from tests.emulator import Emulator

    server = Emulator(data_dir)
    emulator_devloop.install(server)
    emulator_export.normalise_below(server, "/Users")

    async def answered() -> dict[str, int]:
        return {"total": server.requests.total}

    server.add_handler("GET", "/bench/requests", answered)
    server.start()
    (data_dir / "url").write_text(server.url)
    while True:
        time.sleep(3600)


def start_emulator(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while not (data_dir / "url").is_file():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("the emulator did not start")
        time.sleep(0.1)
    return process, (data_dir / "url").read_text()


class Server:
    def __init__(self, url: str) -> None:
        self.url = url

    def answered(self) -> int:
        with urllib.request.urlopen(f"{self.url}/bench/requests") as response:
            return int(json.load(response)["total"])

    def measure(self, action: Callable[[], Any]) -> tuple[Any, int, float]:
        """(result, requests, seconds) of `action` (the second readout is not counted)."""
        before = self.answered()
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
        return result, self.answered() - before - 1, seconds


def write_project(root: Path, url: str, size: int, folders: int, user: str) -> None:
    shutil.copytree(
        REPO / "pipeline",
        root / "pipeline",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info"),
    )
    notebooks = root / "pipeline" / "notebooks"
    shutil.rmtree(notebooks)
    for n in range(size):
        path = notebooks / f"area{n % folders:02d}" / f"nb{n:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        cells = [f"x = {n}\nprint(x)\n", f"# MAGIC %md\n# MAGIC Notebook {n}\n", "y = x * 2\n"]
        path.write_text("# Databricks notebook source\n" + "\n# COMMAND ----------\n\n".join(cells))
    from tests.conftest import base_values

    values: dict[str, Any] = base_values()
    values["artifactStore"] = {"kind": "volume", "root": "/Volumes/staging/etl/artifacts"}
    values["developers"] = {
        "defaults": {"sparkVersion": "15.4.x-scala2.12", "nodeType": "i3.xlarge", "numWorkers": 0},
        "engineers": [{"user": user}],
    }
    config = {f"databricks-cicd:{k}": v for k, v in values.items()}
    config["databricks:host"] = url
    (root / "Pulumi.staging.yaml").write_text(yaml.safe_dump({"config": config}))


def floor_push(client: Any, root: Path, size: int, folders: int) -> None:
    from databricks.sdk.service.workspace import ImportFormat, Language

    target = f"/Users/floor@example.com/run-{size}"
    for k in range(folders):
        client.workspace.mkdirs(f"{target}/area{k:02d}")
    notebooks = root / "pipeline" / "notebooks"
    for path in sorted(notebooks.rglob("*.py")):
        client.workspace.import_(
            f"{target}/{path.relative_to(notebooks).with_suffix('')}",
            content=base64.b64encode(path.read_bytes()).decode(),
            format=ImportFormat.SOURCE,
            language=Language.PYTHON,
            overwrite=True,
        )


def run_size(server: Server, size: int, folders: int, work: Path) -> tuple[bool, str]:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.workspace import ImportFormat, Language

    from cicd.dev import main as dev_main

    root = work / f"project-{size}"
    user, slug, personal = engineer(size)
    write_project(root, server.url, size, folders, user)
    client = WorkspaceClient(host=server.url, token="benchmark-token")
    client.clusters.create(
        cluster_name=f"etl-pipeline-dev-{slug}",
        spark_version="15.4.x-scala2.12",
        node_type_id="i3.xlarge",
        num_workers=0,
        custom_tags={"Owner": user, "pipeline": "etl-pipeline"},
    )
    client.workspace.mkdirs(personal)
    all_folders = folders + 1  # the personal folder and one per area

    def dev(verb: str) -> Callable[[], int]:
        def run() -> int:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                return dev_main([verb, "--stack", "staging", "--user", user], project_dir=root)

        return run

    figures: dict[str, tuple[int, float]] = {}
    _, requests, seconds = server.measure(lambda: floor_push(client, root, size, folders))
    figures["floor push"] = (requests, seconds)
    for label, verb in (
        ("first push", "push"),
        ("push, nothing changed", "push"),
        ("status, nothing changed", "status"),
        ("pull, nothing changed", "pull"),
    ):
        code, requests, seconds = server.measure(dev(verb))
        if code != 0:
            return False, f"N={size}: {label} exited {code}"
        figures[label] = (requests, seconds)
    _, requests, seconds = server.measure(
        lambda: sum(1 for _ in client.workspace.list(personal, recursive=True))
    )
    figures["floor list"] = (requests, seconds)
    edited = root / "pipeline" / "notebooks" / "area00" / "nb0000.py"
    text = edited.read_text().replace("y = x * 2", "y = x * 3")
    client.workspace.import_(
        f"{personal}/area00/nb0000",
        content=base64.b64encode(text.encode()).decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )
    for label, verb in (("status, 1 edited there", "status"), ("pull, 1 edited there", "pull")):
        code, requests, seconds = server.measure(dev(verb))
        if code != 0:
            return False, f"N={size}: {label} exited {code}"
        figures[label] = (requests, seconds)
    first_target, again_target = size + all_folders + 10, all_folders + 10
    ok = figures["first push"][0] <= first_target and all(
        figures[label][0] <= again_target
        for label in ("push, nothing changed", "status, nothing changed", "pull, nothing changed")
    )
    floor_requests, floor_seconds = figures["floor push"]
    parts = [f"N={size} folders={all_folders}"]
    for label, (requests, seconds) in figures.items():
        parts.append(f"{label}: {requests} req {seconds:.2f} s")
    parts.append(
        f"first push / floor: {figures['first push'][1] / floor_seconds:.2f}x seconds,"
        f" {figures['first push'][0] / floor_requests:.2f}x requests"
        f" (targets: first push <= {first_target} req, nothing changed <= {again_target} req:"
        f" {'met' if ok else 'MISSED'})"
    )
    return ok, " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--folders", type=int, default=10)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve))
        return 0
    os.environ["DATABRICKS_TOKEN"] = "benchmark-token"
    for variable in ("DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        os.environ.pop(variable, None)
    ok = True
    with tempfile.TemporaryDirectory(prefix="dev-loop-bench-") as temporary:
        work = Path(temporary)
        data_dir = work / "minilake"
        data_dir.mkdir()
        process, url = start_emulator(data_dir)
        try:
            server = Server(url)
            for size in (int(s) for s in args.sizes.split(",")):
                met, line = run_size(server, size, args.folders, work)
                ok = ok and met
                print(line, flush=True)
        finally:
            process.kill()
            process.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
