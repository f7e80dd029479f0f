"""A stack file written for the one-job schema keeps meaning exactly what it meant.

`tests/data/stacks-v1/` holds both shipped stack files as they were before a stack could hold
several jobs and pipelines, and `tests/data/inputs-v1.json` every resource (URN and inputs) the
program of that commit registered for them. Today's program must register the same resources
with the same inputs: no replacement, no update of an existing stack's job. The one exception is
the dev environments' least-privilege hardening (`INTENDED`: in-place updates and one Permissions
resource per engineer's folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cicd.config import pulumi_config_map
from cicd.evaluation import evaluate
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("built_releases")
DATA = Path(__file__).resolve().parent / "data"


# Least privilege (issue 20) changes each dev environment on purpose, in place: its policy forbids
# more (definition), its cluster states the standard engine the policy fixes (runtimeEngine), and
# the read-only principal may read the cluster, the folder and the dev volume (accessControls,
# grants, and a Permissions resource of the folder's own). Nothing else changes.
DEV = "databricks-cicd:dev_environment:DevEnvironment$"
INTENDED = {
    "databricks:index/clusterPolicy:ClusterPolicy": {"definition"},
    "databricks:index/cluster:Cluster": {"runtimeEngine"},
    "databricks:index/permissions:Permissions": {"accessControls"},
    "databricks:index/grants:Grants": {"grants"},
}


def _intended(urn: str, before: dict[str, object], after: dict[str, object]) -> bool:
    if DEV not in urn:
        return False
    kind = urn.split("::")[2].rsplit("$", 1)[-1]
    keys = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    return keys <= INTENDED.get(kind, set())


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_a_one_job_stack_file_registers_what_it_always_did(stack: str) -> None:
    recorded = json.loads((DATA / "inputs-v1.json").read_text())[stack]
    evaluation = evaluate(
        pulumi_config_map(DATA / "stacks-v1" / f"Pulumi.{stack}.yaml"), stack, REPO
    )
    now = {
        r.urn: json.loads(json.dumps(r.inputs, sort_keys=True).replace(str(REPO), "<project>"))
        for r in evaluation.resources.values()
    }
    added = sorted(set(now) - set(recorded))
    assert not set(recorded) - set(now), f"stack {stack}: lost {sorted(set(recorded) - set(now))}"
    assert all(DEV in urn and urn.endswith("-folder-permissions") for urn in added), (
        f"stack {stack}: URNs added {added[:3]}"
    )
    changed = sorted(
        urn
        for urn in recorded
        if now[urn] != recorded[urn] and not _intended(urn, recorded[urn], now[urn])
    )
    assert not changed, (
        f"stack {stack}: {len(changed)} resource(s) with other inputs, e.g. {changed[0]}:"
        f" {recorded[changed[0]]} became {now[changed[0]]}"
    )
    jobs = [urn for urn in now if urn.endswith("$databricks:index/job:Job::pipeline-job")]
    assert len(jobs) == 1 and now[jobs[0]]["tasks"][0]["taskKey"] == "main", jobs
