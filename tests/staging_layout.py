"""Staging as a deploy leaves it, in the emulator, for the provenance checks of `cicd.promote`
and `cicd.gate`: the project's `Pulumi.staging.yaml` becomes the one-job staging file
(tests/data/stacks-v1, which tests/drift_layout.py can publish whole), restricted like today's
and pointed at the emulator under paths of the test's own (release folder, artifact store, job
name), keeping one release; everything the program registers for it published; and a client
whose runs the emulator attributes to the staging deploy identity, as CI's `cicd.run_job` runs
are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from databricks.sdk import WorkspaceClient

from cicd.config import pulumi_config_map
from cicd.jobs.provenance import run_record
from cicd.releases.lock import LOCK_FILE, content_digest, read_lock
from tests import emulator_workspace
from tests.drift_layout import publish
from tests.emulator import Emulator
from tests.emulator_runs import RunScripts

ONE_JOB_FILES = Path(__file__).resolve().parent / "data" / "stacks-v1"


@dataclass(frozen=True)
class Staging:
    job_id: int
    root: str  # the release folder's parent: <root>/releases/<version>/
    deployer: WorkspaceClient  # runs it starts are the deploy identity's
    record: dict[str, str]  # what CI's run of the release passes (cicd.run_job)


def publish_staging(
    project_dir: Path, emulator: Emulator, run_scripts: RunScripts, name: str, version: str
) -> Staging:
    emulator_workspace.install(emulator)  # SQL notebooks, as the real service imports them
    path = project_dir / "Pulumi.staging.yaml"
    document = yaml.safe_load((ONE_JOB_FILES / "Pulumi.staging.yaml").read_text())
    values = document["config"]
    values["databricks:host"] = emulator.url
    values["databricks-cicd:workspaceRoot"] = f"/Staging/{name}"
    values["databricks-cicd:artifactStore"]["root"] += f"/{name}"
    values["databricks-cicd:job"]["name"] = name
    values["databricks-cicd:access"]["restrictWorkspaceRoot"] = True
    values["databricks-cicd:releases"] = {"kept": [{"version": version}], "live": version}
    path.write_text(yaml.safe_dump(document))
    _, job_id = publish(
        emulator.client(), pulumi_config_map(path), "staging", project_dir=project_dir
    )
    token = f"staging-deploy-{name}"
    run_scripts.identities[token] = values["databricks-cicd:access"]["deployIdentity"]
    deployer = WorkspaceClient(host=emulator.url, token=token)
    digest = content_digest(read_lock(project_dir / LOCK_FILE)[version])
    return Staging(job_id, f"/Staging/{name}", deployer, run_record(version, digest))
