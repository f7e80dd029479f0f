"""Shared test fixtures: a sandbox project with hand-made releases, and the real stacks' config.

Component and guarantee tests run the real `__main__.py` under Pulumi's mocks (see
`cicd.evaluation.program`) in a temporary copy of the project, with releases written by the test, so every
input is under the test's control. Whole-stack tests use the repo's own `Pulumi.<stack>.yaml`.
"""

from __future__ import annotations

import copy
import fcntl
import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cicd.evaluation import Evaluation, evaluate  # noqa: E402
from cicd.releases.content import scan_release  # noqa: E402
from cicd.releases.lock import LOCK_FILE, write_lock  # noqa: E402
from tests.emulator import SESSION_DATA_DIR, Emulator  # noqa: E402
from tests.evaluations import evaluate_once  # noqa: E402

# dist/ is the checkout's build output (gitignored); the lock file sits beside the releases.
BUILD_LOCK = REPO / "dist" / ".tests-ensure.lock"

NAMESPACE = "databricks-cicd"
RUNNER = "5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60"
DEPLOYER = "7a1d9c2e-4b3f-4e6a-8c5d-0f1e2d3c4b5a"

PY_NOTEBOOK = "# Databricks notebook source\nprint({!r})\n"
SQL_NOTEBOOK = "-- Databricks notebook source\nSELECT {!r}\n"


def base_values() -> dict[str, Any]:
    """A valid stack config (namespace stripped), decoded; tests change one thing at a time."""
    return {
        "pipelineName": "etl-pipeline",
        "workspaceRoot": "/Production/etl-pipeline",
        "artifactStore": {"kind": "volume", "root": "/Volumes/prod/etl/artifacts"},
        "releases": {"kept": [{"version": "1.0.0"}], "live": "1.0.0"},
        "job": {
            "name": "etl-pipeline-test",
            "cluster": {
                "sparkVersion": "15.4.x-scala2.12",
                "nodeType": "i3.xlarge",
                "numWorkers": 2,
            },
            "schedule": {"quartzCron": "0 0 2 * * ?", "timezone": "UTC", "paused": False},
            "timeoutSeconds": 3600,
            "retries": {"maxRetries": 2, "minIntervalMillis": 60000, "retryOnTimeout": True},
            "maxConcurrentRuns": 1,
            "failureEmails": ["oncall@example.com"],
            "tags": {"team": "data-eng"},
            "parameters": {"env": "test"},
            "runAs": RUNNER,
        },
        "access": {
            "adminGroup": "etl-admins",
            "deployIdentity": DEPLOYER,
            "operatorsGroup": "etl-operators",
            "restrictWorkspaceRoot": True,
        },
    }


def to_pulumi_config(values: Mapping[str, Any]) -> dict[str, str]:
    """The `{"ns:key": "string or JSON"}` form the Pulumi CLI hands a program."""
    return {
        f"{NAMESPACE}:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in values.items()
    }


class SandboxProject:
    """A temporary copy of the program with releases the test writes itself."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copy(REPO / "__main__.py", root / "__main__.py")

    def add_release(
        self,
        version: str,
        notebooks: Mapping[str, str] | None = None,
        libraries: Mapping[str, bytes] | None = None,
        lock: bool = True,
        entry: str = "main",
    ) -> Path:
        folder = self.root / "dist" / "releases" / version
        if notebooks is None:
            notebooks = {
                "main.py": PY_NOTEBOOK.format(version),
                "transforms/clean_orders.sql": SQL_NOTEBOOK.format(version),
                "transforms/explore.py": PY_NOTEBOOK.format("explore " + version),
                "config/defaults.json": json.dumps({"version": version}),
                # What the repo's stack files run besides the entry notebook (their job's DAG,
                # the serverless job, the pipeline): a sandbox release can stand in for theirs.
                "tasks/check_source.py": PY_NOTEBOOK.format("check " + version),
                "tasks/publish_report.py": PY_NOTEBOOK.format("report " + version),
                "quality/orders_quality.py": PY_NOTEBOOK.format("quality " + version),
                "pipelines/orders/orders_bronze.py": f"# pipeline source {version}\n",
            }
        if libraries is None:
            libraries = {f"etl_pipeline-{version}-py3-none-any.whl": f"wheel {version}".encode()}
        for relative, text in notebooks.items():
            path = folder / "notebooks" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (folder / "libraries").mkdir(parents=True, exist_ok=True)
        for name, data in libraries.items():
            (folder / "libraries" / name).write_bytes(data)
        if lock:
            self.lock(version, entry=entry)
        return folder

    def lock(self, *versions: str, entry: str = "main") -> None:
        """Record the versions' digests, each with `entry` as its entry notebook."""
        from cicd.releases.lock import ReleaseMetadata, read_lock_document

        current, sources, metadata = read_lock_document(self.root / LOCK_FILE)
        for version in versions:
            current[version] = scan_release(self.root / "dist" / "releases" / version).digests
            metadata[version] = ReleaseMetadata(entry_notebook=entry)
        write_lock(self.root / LOCK_FILE, current, sources, metadata)

    def evaluate(
        self, values: Mapping[str, Any], stack: str = "test", into: Evaluation | None = None
    ) -> Evaluation:
        if into is not None:  # what was registered before a failure: a run of its own
            return evaluate(to_pulumi_config(values), stack, self.root, into)
        return evaluate_once(to_pulumi_config(values), stack, self.root)


@pytest.fixture
def sandbox(tmp_path: Path) -> SandboxProject:
    return SandboxProject(tmp_path)


@pytest.fixture
def values() -> dict[str, Any]:
    return copy.deepcopy(base_values())


def with_releases(
    values: dict[str, Any], kept: list[str], live: str, **extra: Any
) -> dict[str, Any]:
    """Copy of `values` keeping `kept` (in the given order) with `live` live."""
    changed = copy.deepcopy(values)
    changed["releases"] = {"kept": [{"version": v} for v in kept], "live": live, **extra}
    return changed


@pytest.fixture(scope="session")
def built_releases() -> Iterator[None]:
    """Every release the repo's stacks keep, built or restored into dist/ as CI does.

    One test process at a time (pytest-xdist workers, or two test runs in one checkout): a second
    `ensure` while the first is writing dist/ would find a half-written release. It waits for the
    lock, then finds every release in place and only verifies it."""
    from cicd.release import main as release_main

    BUILD_LOCK.parent.mkdir(exist_ok=True)
    with BUILD_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        for stack in ("staging", "prod"):
            assert release_main(["ensure", "--stack", stack], project_dir=REPO) == 0, (
                f"`python -m cicd.release ensure --stack {stack}` failed; see the output above"
            )
        # The releases the one-job stack files of tests/data/stacks-v1 keep (compatibility tests).
        for version in ("1.0.0", "1.1.0"):
            if not (REPO / "dist" / "releases" / version).is_dir():
                assert release_main(["restore", version], project_dir=REPO) == 0, (
                    f"`python -m cicd.release restore {version}` failed; see the output above"
                )
    yield


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """The minilake Databricks emulator, one per session; tests use their own paths in it."""
    server = Emulator(SESSION_DATA_DIR).start()
    yield server
    server.stop()
    shutil.rmtree(SESSION_DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def run_scripts(emulator: Emulator) -> Any:
    """Job runs with scripted end states on the emulator (tests/emulator_runs.py)."""
    from tests.emulator_runs import RunScripts

    return RunScripts().install(emulator)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tasks first, so that they overlap every other test instead of running alone
    at the end: the mypy tests (one xdist group, see tests/test_typecheck.py; on a fresh clone the
    first of them fills mypy's cache for 20-60 s), then the tests marked `slow` (the README's tour
    is about 25 s of commands one after another)."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("xdist_group"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: collection order within each rank
