"""A stack file written for the one-job schema keeps meaning exactly what it meant.

`tests/data/stacks-v1/` holds both shipped stack files as they were before a stack could hold
several jobs and pipelines, and `tests/data/inputs-v1.json` every resource (URN and inputs) the
program of that commit registered for them. Today's program must register the same resources
with the same inputs: no replacement, no update of an existing stack's job.
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
    assert sorted(now) == sorted(recorded), (
        f"stack {stack}: URNs added {sorted(set(now) - set(recorded))[:3]},"
        f" lost {sorted(set(recorded) - set(now))[:3]}"
    )
    changed = sorted(urn for urn in recorded if now[urn] != recorded[urn])
    assert not changed, (
        f"stack {stack}: {len(changed)} resource(s) with other inputs, e.g. {changed[0]}:"
        f" {recorded[changed[0]]} became {now[changed[0]]}"
    )
    jobs = [urn for urn in now if urn.endswith("$databricks:index/job:Job::pipeline-job")]
    assert len(jobs) == 1 and now[jobs[0]]["tasks"][0]["taskKey"] == "main", jobs
