"""Several jobs and pipelines in the stack config: what teams write is accepted, and every mistake
fails with the key, the value seen and the fix, all at once. No Pulumi runtime here."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cicd.config import ConfigError, parse_stack_config
from tests.conftest import RUNNER, base_values


def with_jobs(**sections: Any) -> dict[str, Any]:
    values = copy.deepcopy(base_values())
    values.update(sections)
    return values


def problems_for(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    return caught.value.problems


DAG = {
    "name": "orders-dag",
    "runAs": RUNNER,
    "jobClusters": {
        "big": {"sparkVersion": "15.4.x-scala2.12", "nodeType": "i3.xlarge", "numWorkers": 4}
    },
    "warehouseId": "wh-1",
    "jobParameters": {"run_date": ""},
    "trigger": {"periodic": {"interval": 4, "unit": "HOURS"}},
    "tasks": [
        {"taskKey": "ingest", "notebook": {"path": "jobs/ingest"}},
        {"taskKey": "clean", "sparkPythonFile": {"path": "jobs/clean.py"}, "dependsOn": ["ingest"]},
        {
            "taskKey": "check",
            "condition": {"left": "{{job.parameters.run_date}}", "op": "EQUAL_TO", "right": ""},
        },
        {
            "taskKey": "score",
            "pythonWheel": {"packageName": "etl_pipeline", "entryPoint": "score"},
            "dependsOn": [{"taskKey": "check", "outcome": "false"}, "clean"],
            "libraries": ["etl_pipeline-*.whl"],
            "retries": {"maxRetries": 3},
            "timeoutSeconds": 600,
        },
        {
            "taskKey": "report",
            "sqlFile": {"path": "sql/report.sql"},
            "dependsOn": ["score"],
            "runIf": "ALL_DONE",
        },
        {
            "taskKey": "per_region",
            "forEach": {
                "inputs": '["eu", "us"]',
                "concurrency": 2,
                "task": {
                    "taskKey": "region",
                    "notebook": {"path": "jobs/region", "parameters": {"region": "{{input}}"}},
                },
            },
            "dependsOn": ["report"],
        },
    ],
}
SERVERLESS = {
    "name": "orders-serverless",
    "runAs": RUNNER,
    "environments": {"default": {"libraries": ["etl_pipeline-*.whl"]}},
    "trigger": {"fileArrival": {"url": "/Volumes/prod/raw/landing/"}, "paused": True},
    "tasks": [
        {"taskKey": "notebook", "notebook": {"path": "jobs/ingest"}},
        {"taskKey": "wheel", "pythonWheel": {"packageName": "etl_pipeline", "entryPoint": "main"}},
        {"taskKey": "refresh", "pipeline": {"pipeline": "orders", "fullRefresh": True}},
        {"taskKey": "downstream", "runJob": {"job": "dag"}},
    ],
}
PIPELINE = {
    "name": "orders-pipeline",
    "catalog": "prod",
    "schema": "sales",
    "libraries": [{"glob": "transformations/**"}, {"notebook": "pipelines/orders"}],
    "continuous": True,
}


def test_jobs_and_pipelines_as_teams_write_them_are_accepted() -> None:
    config = parse_stack_config(
        with_jobs(jobs={"dag": DAG, "serverless": SERVERLESS}, pipelines={"orders": PIPELINE})
    )
    assert list(config.all_jobs()) == ["main", "dag", "serverless"], list(config.all_jobs())
    dag = config.jobs["dag"]
    assert dag.tasks is not None
    score = next(t for t in dag.tasks if t.task_key == "score")
    assert [(d.task_key, d.outcome) for d in score.dependencies()] == [
        ("check", "false"),
        ("clean", None),
    ]
    assert dag.compute_of(score) == ("big", None), dag.compute_of(score)
    serverless = config.jobs["serverless"]
    assert serverless.tasks is not None
    wheel = next(t for t in serverless.tasks if t.task_key == "wheel")
    notebook = next(t for t in serverless.tasks if t.task_key == "notebook")
    # No job cluster: a wheel task takes the only environment, a notebook task its own.
    assert serverless.compute_of(wheel) == (None, "default")
    assert serverless.compute_of(notebook) == (None, None)
    assert config.pipelines["orders"].serverless and config.pipelines["orders"].schema_ == "sales"
    assert config.gated_jobs() == ["main", "dag", "serverless"]


def test_a_stack_without_the_main_job_runs_its_other_jobs() -> None:
    values = with_jobs(jobs={"dag": DAG})
    del values["job"]
    config = parse_stack_config(values)
    assert list(config.all_jobs()) == ["dag"]


BAD = [
    # (where, change, substrings of the one problem expected)
    (
        "unknown task type",
        {
            "jobs": {
                "dag": {**DAG, "tasks": [{"taskKey": "x", "sparkJarTask": {"mainClassName": "A"}}]}
            }
        },
        ["databricks-cicd:jobs.dag.tasks[0]", "unknown key 'sparkJarTask'"],
    ),
    (
        "two kinds in one task",
        {
            "jobs": {
                "dag": {
                    **DAG,
                    "tasks": [
                        {"taskKey": "x", "notebook": {"path": "a"}, "sqlFile": {"path": "b.sql"}}
                    ],
                }
            }
        },
        ["databricks-cicd:jobs.dag.tasks[0]", "exactly one of", "found notebook, sqlFile"],
    ),
    (
        "a dependency on no task",
        {
            "jobs": {
                "dag": {
                    **DAG,
                    "tasks": [{"taskKey": "a", "notebook": {"path": "a"}, "dependsOn": ["nope"]}],
                }
            }
        },
        ["databricks-cicd:jobs.dag.tasks[0].dependsOn", "'nope'", "not another task"],
    ),
    (
        "a cycle",
        {
            "jobs": {
                "dag": {
                    **DAG,
                    "tasks": [
                        {"taskKey": "a", "notebook": {"path": "a"}, "dependsOn": ["b"]},
                        {"taskKey": "b", "notebook": {"path": "b"}, "dependsOn": ["a"]},
                    ],
                }
            }
        },
        ["databricks-cicd:jobs.dag.tasks", "cycle: a -> b -> a"],
    ),
    (
        "an unknown job cluster",
        {
            "jobs": {
                "dag": {
                    **DAG,
                    "tasks": [{"taskKey": "a", "notebook": {"path": "a"}, "jobCluster": "small"}],
                }
            }
        },
        ["databricks-cicd:jobs.dag.tasks[0]", "jobCluster 'small'", "big"],
    ),
    (
        "a pipeline task on no pipeline",
        {"jobs": {"serverless": SERVERLESS, "dag": DAG}},
        [
            "databricks-cicd:jobs.serverless.tasks[2].pipeline.pipeline",
            "'orders'",
            "pipelines: none",
        ],
    ),
    (
        "libraries on a serverless task",
        {
            "jobs": {
                "s": {
                    **SERVERLESS,
                    "tasks": [
                        {
                            "taskKey": "w",
                            "pythonWheel": {"packageName": "p", "entryPoint": "e"},
                            "libraries": ["*.whl"],
                        }
                    ],
                }
            }
        },
        ["databricks-cicd:jobs.s.tasks[0]", "runs serverless", "environments.<key>.libraries"],
    ),
    (
        "a SQL file with no warehouse",
        {
            "jobs": {
                "dag": {
                    **DAG,
                    "warehouseId": None,
                    "tasks": [{"taskKey": "q", "sqlFile": {"path": "q.sql"}}],
                }
            }
        },
        ["databricks-cicd:jobs.dag", "no warehouse", "warehouseId"],
    ),
    (
        "the main job's key taken",
        {"jobs": {"main": DAG}},
        ["databricks-cicd:jobs.main", "is the main job"],
    ),
    (
        "two jobs of one name",
        {"jobs": {"dag": {**DAG, "name": "etl-pipeline-test"}}},
        ["databricks-cicd:jobs.dag.name", "also the name of job"],
    ),
    (
        "a pipeline library outside the release",
        {
            "pipelines": {
                "orders": {**PIPELINE, "libraries": [{"file": "/Workspace/Users/me/x.py"}]}
            }
        },
        ["databricks-cicd:pipelines.orders.libraries[0]", "inside the release"],
    ),
    (
        "a gated job that does not exist",
        {"gate": {"jobs": ["nightly"]}},
        ["databricks-cicd:gate.jobs", "'nightly' is not a job of this stack"],
    ),
    (
        "schedule and trigger",
        {"jobs": {"dag": {**DAG, "schedule": {"quartzCron": "0 0 2 * * ?"}}}},
        ["databricks-cicd:jobs.dag.trigger", "keep one of them"],
    ),
]


@pytest.mark.parametrize(("case", "change", "expected"), BAD, ids=[b[0] for b in BAD])
def test_each_mistake_names_the_key_the_value_and_the_fix(
    case: str, change: dict[str, Any], expected: list[str]
) -> None:
    values = with_jobs(**change)
    values = {k: v for k, v in values.items() if v is not None}
    problems = problems_for(values)
    assert len(problems) == 1, f"{case}: {problems}"
    for text in expected:
        assert text in problems[0], f"{case}: {text!r} not in {problems[0]!r}"


def test_every_problem_of_a_job_is_reported_at_once() -> None:
    broken_dag = {
        **DAG,
        "tasks": [
            {"taskKey": "a", "notebook": {"path": "a"}, "dependsOn": ["nope"]},
            {"taskKey": "a", "notebook": {"path": "b"}, "jobCluster": "small"},
        ],
    }
    problems = problems_for(with_jobs(jobs={"dag": broken_dag}))
    joined = "\n".join(problems)
    assert len(problems) == 3, problems
    assert "taskKey 'a' is used twice" in joined and "'nope'" in joined, joined
    assert "jobCluster 'small'" in joined, joined


def test_every_problem_across_jobs_is_reported_at_once() -> None:
    # Checks across sections run once each job is valid on its own (pydantic validates a
    # section before the whole): these three are all found in one run.
    problems = problems_for(
        with_jobs(
            jobs={"s": SERVERLESS, "dag": {**DAG, "name": "etl-pipeline-test"}},
            gate={"jobs": ["x"]},
        )
    )
    joined = "\n".join(problems)
    assert "databricks-cicd:gate.jobs" in joined, joined
    assert "databricks-cicd:jobs.s.tasks[2].pipeline.pipeline" in joined, joined
    assert "databricks-cicd:jobs.dag.name" in joined, joined
    assert len(problems) == 3, problems
