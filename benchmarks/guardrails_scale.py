"""Guardrails benchmark: the policy pack over stacks of many jobs and pipelines.

Run by hand from the repo root (it is not a test):

    python benchmarks/guardrails_scale.py [--sizes 1x1,10x10,50x20] [--repeat N]

For every size JxT it builds a production stack's registrations as the program gives them (wire
names): J jobs of T notebook tasks each on a job cluster, every task installing the release's
wheel, one pipeline per job, and a Permissions resource per job and pipeline; then it times
`cicd.evaluation.guardrails.check_evaluation` (every policy of the pack, each registration
through a protobuf Struct and pulumi-policy's proxy as the engine does), best of the repeats.
It prints wall time, ms per resource and per task, checks that the stack passes every policy and that a
copy of the first job left on another release is reported (by the one-release stack policy).
Exit code 0 only if both checks pass at every size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cicd.evaluation import Evaluation, Registration  # noqa: E402
from cicd.evaluation.guardrails import check_evaluation  # noqa: E402
from policy.databricks_guardrails.pack import pack_config  # noqa: E402

JOB = "databricks:index/job:Job"
PIPELINE = "databricks:index/pipeline:Pipeline"
PERMISSIONS = "databricks:index/permissions:Permissions"
ROOT = "/Production/etl-pipeline"
ARTIFACTS = "/Volumes/prod/etl_pipeline/artifacts"
RUNNER = "3c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
SETTINGS = {
    "maxWorkers": 2,
    "maxAutoterminationMinutes": 120,
    "notebookRoot": f"{ROOT}/releases/",
    "libraryRoot": f"{ARTIFACTS}/releases/",
    "production": True,
}


def job(index: int, tasks: int, version: str) -> dict[str, Any]:
    release = f"{ROOT}/releases/{version}"
    return {
        "name": f"etl-job-{index}",
        "jobClusters": [{"jobClusterKey": "main", "newCluster": {"sparkVersion": "15.4.x"}}],
        "tasks": [
            {
                "taskKey": f"t{t:03d}",
                "jobClusterKey": "main",
                "notebookTask": {"notebookPath": f"{release}/n{t}", "source": "WORKSPACE"},
                "libraries": [{"whl": f"{ARTIFACTS}/releases/{version}/etl-{version}.whl"}],
                **({"dependsOns": [{"taskKey": f"t{t - 1:03d}"}]} if t else {}),
            }
            for t in range(tasks)
        ],
        "timeoutSeconds": 3600,
        "emailNotifications": {"onFailures": ["oncall@example.com"]},
        "runAs": {"servicePrincipalName": RUNNER},
    }


def pipeline(index: int, version: str) -> dict[str, Any]:
    files = f"/Workspace{ROOT}/releases/{version}"
    return {
        "name": f"etl-pipeline-{index}",
        "catalog": "prod",
        "schema": "sales",
        "libraries": [{"glob": {"include": f"{files}/pipelines/p{index}/**"}}],
        "rootPath": f"{files}/pipelines/p{index}",
        "runAs": {"servicePrincipalName": RUNNER},
    }


def permissions(key: str) -> dict[str, Any]:
    return {
        key: "123",
        "accessControls": [
            {"groupName": "etl-admins", "permissionLevel": "CAN_MANAGE"},
            {"servicePrincipalName": RUNNER, "permissionLevel": "IS_OWNER"},
        ],
    }


def evaluation(jobs: int, tasks: int, copy_on: str | None = None) -> Evaluation:
    found = Evaluation()
    resources: list[tuple[str, str, dict[str, Any]]] = []
    for j in range(jobs):
        resources += [
            (JOB, f"job-{j}", job(j, tasks, "1.1.0")),
            (PIPELINE, f"pipeline-{j}", pipeline(j, "1.1.0")),
            (PERMISSIONS, f"job-{j}-permissions", permissions("jobId")),
            (PERMISSIONS, f"pipeline-{j}-permissions", permissions("pipelineId")),
        ]
    if copy_on is not None:
        copied = job(0, tasks, copy_on)
        copied["name"] = "etl-backfill"
        resources.append((JOB, "backfill-job", copied))
    for type_, name, inputs in resources:
        registration = Registration(
            type_, name, None, inputs, (), False, False, True, urn=f"urn::{type_}::{name}"
        )
        found.resources[registration.key] = registration
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1x1,10x10,50x20")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = json.loads(json.dumps(pack_config(SETTINGS)))
    ok = True
    print(
        f"{'jobs x tasks':>12} {'resources':>9} {'policies s':>10} {'ms/resource':>11}"
        f" {'ms/task':>8}  checks"
    )
    for size in args.sizes.split(","):
        jobs, tasks = (int(n) for n in size.split("x"))
        stack = evaluation(jobs, tasks)
        best = float("inf")
        violations = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            violations = check_evaluation(stack, config)
            best = min(best, time.perf_counter() - start)
        copied = check_evaluation(evaluation(jobs, tasks, copy_on="1.0.0"), config)
        caught = [v for v in copied if v.policy == "jobs-and-pipelines-run-one-release"]
        checks = (
            "pass"
            if not violations and caught and caught[0].resource == "backfill-job"
            else (f"FAIL: {len(violations)} violation(s) on the clean stack; copy caught: {caught}")
        )
        ok = ok and checks == "pass"
        count = len(stack.resources)
        print(
            f"{size:>12} {count:>9} {best:>10.3f} {1000 * best / count:>11.2f}"
            f" {1000 * best / (jobs * tasks):>8.2f}  {checks}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
