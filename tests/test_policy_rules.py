"""Each guardrail of the policy pack (`policy/`): a planted violation (a resource the program could
plausibly register) is reported with a message naming resource, field and value; a near-miss
that is allowed is reported by no policy at all.

The production stack the cases start from holds what issue 24 lets a stack hold: the main job on
a job cluster, a serverless job with every task kind (notebook without compute, wheel and
for-each over a Python file on an environment, SQL file, pipeline, run-job, condition) whose
pipeline and job ids are unknown as in a preview, and a Lakeflow pipeline with its permissions;
it passes every policy, so each near-miss proves that exactly its one change is allowed.

Resources go through `cicd.evaluation.guardrails.check_evaluation`, which hands them to every policy the way
the engine does (protobuf Struct, pulumi-policy's deserializer and unknown-checking proxy,
`ResourceValidationArgs` / `StackValidationArgs`, each policy's section of the pack config).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cicd.evaluation import Evaluation, Registration
from cicd.evaluation.guardrails import Violation, check_evaluation
from policy.databricks_guardrails.pack import POLICIES, MissingSetting, pack_config
from tests.conftest import DEPLOYER, RUNNER

CLUSTER = "databricks:index/cluster:Cluster"
JOB = "databricks:index/job:Job"
PERMISSIONS = "databricks:index/permissions:Permissions"
PIPELINE = "databricks:index/pipeline:Pipeline"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's "computed at deploy" string
ROOT = "/Production/etl-pipeline"
RELEASE = f"{ROOT}/releases/1.1.0"  # as jobs name notebooks
FILES = f"/Workspace{RELEASE}"  # as tasks and pipelines name files
ARTIFACTS = "/Volumes/prod/etl_pipeline/artifacts"
WHEEL = f"{ARTIFACTS}/releases/1.1.0/etl-1.1.0-py3-none-any.whl"

SETTINGS: dict[str, Any] = {
    "maxWorkers": 2,
    "maxAutoterminationMinutes": 120,
    "notebookRoot": f"{ROOT}/releases/",
    "libraryRoot": f"{ARTIFACTS}/releases/",
    "production": True,
}


def job() -> dict[str, Any]:
    """The stack's job as the program registers it (wire names)."""
    return {
        "name": "etl-pipeline-prod",
        "jobClusters": [
            {
                "jobClusterKey": "main",
                "newCluster": {
                    "sparkVersion": "15.4.x-scala2.12",
                    "nodeTypeId": "i3.xlarge",
                    "numWorkers": 2,
                    "dataSecurityMode": "SINGLE_USER",
                    "singleUserName": RUNNER,
                },
            }
        ],
        "tasks": [
            {
                "taskKey": "main",
                "jobClusterKey": "main",
                "notebookTask": {
                    "notebookPath": f"{ROOT}/releases/1.1.0/main",
                    "source": "WORKSPACE",
                    "baseParameters": {"env": "prod"},
                },
                "libraries": [{"whl": WHEEL}],
                "timeoutSeconds": 7200,
            }
        ],
        "timeoutSeconds": 7200,
        "emailNotifications": {"onFailures": ["oncall@example.com"]},
        "runAs": {"servicePrincipalName": RUNNER},
    }


def serverless_job() -> dict[str, Any]:
    """A serverless job with every task kind, tasks sorted by key as the program registers them."""
    return {
        "name": "etl-pipeline-prod-serverless",
        "environments": [
            {
                "environmentKey": "default",
                "spec": {"environmentVersion": "2", "dependencies": [WHEEL]},
            }
        ],
        "tasks": [
            {
                "taskKey": "check",
                "conditionTask": {
                    "left": "{{job.parameters.full}}",
                    "op": "EQUAL_TO",
                    "right": "1",
                },
            },
            {
                # Serverless notebook task: no compute named, in a job without job clusters.
                "taskKey": "ingest",
                "notebookTask": {"notebookPath": f"{RELEASE}/ingest", "source": "WORKSPACE"},
            },
            {"taskKey": "load", "pipelineTask": {"pipelineId": UNKNOWN}},
            {"taskKey": "main", "runJobTask": {"jobId": UNKNOWN}},
            {
                "taskKey": "per_file",
                "forEachTask": {
                    "inputs": '["a", "b"]',
                    "task": {
                        "taskKey": "per_file_iteration",
                        "environmentKey": "default",
                        "sparkPythonTask": {
                            "pythonFile": f"{FILES}/jobs/score.py",
                            "source": "WORKSPACE",
                            "parameters": ["--day", "{{job.start_time.iso_date}}"],
                        },
                    },
                },
            },
            {
                "taskKey": "publish",
                "sqlTask": {
                    "warehouseId": "abc123def456",
                    "file": {"path": f"{FILES}/sql/daily.sql", "source": "WORKSPACE"},
                },
            },
            {
                "taskKey": "score",
                "environmentKey": "default",
                "pythonWheelTask": {"packageName": "etl", "entryPoint": "score"},
            },
        ],
        "timeoutSeconds": 3600,
        "emailNotifications": {"onFailures": ["oncall@example.com"]},
        "runAs": {"servicePrincipalName": RUNNER},
    }


def pipeline() -> dict[str, Any]:
    """A serverless Lakeflow pipeline as the program registers it."""
    return {
        "name": "orders",
        "catalog": "prod",
        "schema": "sales",
        "serverless": True,
        "libraries": [
            {"notebook": {"path": f"{RELEASE}/ingest"}},
            {"glob": {"include": f"{FILES}/transformations/**"}},
            {"file": {"path": f"{FILES}/transformations/orders.py"}},
        ],
        "rootPath": f"{FILES}/transformations",
        "configuration": {"source_table": "prod.sales.raw_orders"},
        "runAs": {"servicePrincipalName": RUNNER},
    }


def pipeline_permissions() -> dict[str, Any]:
    return {
        "pipelineId": UNKNOWN,
        "accessControls": [
            {"groupName": "etl-admins", "permissionLevel": "CAN_MANAGE"},
            {"servicePrincipalName": DEPLOYER, "permissionLevel": "IS_OWNER"},
            {"groupName": "etl-operators", "permissionLevel": "CAN_RUN"},
        ],
    }


def cluster() -> dict[str, Any]:
    """An engineer's dev cluster (all-purpose) as the program registers it."""
    return {
        "clusterName": "etl-pipeline-dev-alice-example-com",
        "sparkVersion": "15.4.x-scala2.12",
        "nodeTypeId": "i3.xlarge",
        "numWorkers": 1,
        "autoterminationMinutes": 30,
        "dataSecurityMode": "SINGLE_USER",
        "singleUserName": "alice@example.com",
        "policyId": "E0631F5C0D000F6E",
        "libraries": [{"whl": "/Volumes/staging/etl/artifacts/dev/alice/0a1b/etl.whl"}],
    }


def folder_permissions() -> dict[str, Any]:
    return {
        "directoryPath": ROOT,
        "accessControls": [
            {"groupName": "etl-admins", "permissionLevel": "CAN_MANAGE"},
            {"servicePrincipalName": DEPLOYER, "permissionLevel": "CAN_MANAGE"},
            {"servicePrincipalName": RUNNER, "permissionLevel": "CAN_RUN"},
        ],
    }


def job_permissions() -> dict[str, Any]:
    return {
        "jobId": "123456789",
        "accessControls": [
            {"groupName": "etl-admins", "permissionLevel": "CAN_MANAGE"},
            {"servicePrincipalName": DEPLOYER, "permissionLevel": "IS_OWNER"},
            {"groupName": "etl-operators", "permissionLevel": "CAN_MANAGE_RUN"},
        ],
    }


@dataclass
class Stack:
    """Resources by name, (type, inputs); settings of the pack."""

    resources: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=lambda: dict(SETTINGS))

    def violations(self) -> list[Violation]:
        evaluation = Evaluation()
        for name, (type_, inputs) in self.resources.items():
            registration = Registration(
                type_, name, None, inputs, (), False, False, True, urn=urn(type_, name)
            )
            evaluation.resources[registration.key] = registration
        return check_evaluation(evaluation, pack_config(self.settings))


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:prod::databricks-cicd::{type_}::{name}"


def prod_stack() -> Stack:
    return Stack(
        {
            "pipeline-job": (JOB, job()),
            "pipeline-permissions": (PERMISSIONS, job_permissions()),
            "pipeline-job-serverless-job": (JOB, serverless_job()),
            "pipeline-lakeflow-orders-pipeline": (PIPELINE, pipeline()),
            "pipeline-lakeflow-orders-permissions": (PERMISSIONS, pipeline_permissions()),
            "workspace-root-permissions": (PERMISSIONS, folder_permissions()),
        }
    )


def dev_stack() -> Stack:
    stack = prod_stack()
    stack.settings["production"] = False
    stack.resources["dev-alice-cluster"] = (CLUSTER, cluster())
    return stack


def inputs(stack: Stack, name: str) -> dict[str, Any]:
    return stack.resources[name][1]


def task(stack: Stack, name: str = "pipeline-job", index: int = 0) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = inputs(stack, name)["tasks"]
    return tasks[index]


def inner(stack: Stack) -> dict[str, Any]:
    """The serverless job's for-each inner task."""
    body: dict[str, Any] = task(stack, "pipeline-job-serverless-job", 4)["forEachTask"]["task"]
    return body


Change = Callable[[Stack], None]


@dataclass(frozen=True)
class Case:
    policy: str
    start: Callable[[], Stack]
    change: Change
    # What the message must name: resource, field, value (and whatever else the case needs).
    expected: tuple[str, ...] = ()
    # What the messages must not say (e.g. a resource that is not at fault).
    absent: tuple[str, ...] = ()


def _set(name: str, key: str, value: Any) -> Change:
    def change(stack: Stack) -> None:
        inputs(stack, name)[key] = value

    return change


def _drop(name: str, key: str) -> Change:
    return lambda stack: inputs(stack, name).pop(key) and None


def _remove(name: str) -> Change:
    return lambda stack: stack.resources.pop(name) and None


def _task(key: str, value: Any, drop: str | None = None) -> Change:
    def change(stack: Stack) -> None:
        task(stack)[key] = value
        if drop:
            task(stack).pop(drop)

    return change


def _serverless_task(index: int, key: str, value: Any = None, drop: str | None = None) -> Change:
    def change(stack: Stack) -> None:
        body = task(stack, SJ, index)
        if value is not None:
            body[key] = value
        if drop:
            body.pop(drop)

    return change


def _inner(key: str, value: Any, drop: str | None = None) -> Change:
    def change(stack: Stack) -> None:
        inner(stack)[key] = value
        if drop:
            inner(stack).pop(drop)

    return change


def _env_dependencies(dependencies: list[str]) -> Change:
    def change(stack: Stack) -> None:
        inputs(stack, SJ)["environments"][0]["spec"]["dependencies"] = dependencies

    return change


def _pipeline_library(library: dict[str, Any], index: int | None = None) -> Change:
    def change(stack: Stack) -> None:
        libraries = inputs(stack, P)["libraries"]
        if index is None:
            libraries.append(library)
        else:
            libraries[index] = library

    return change


def _grant(name: str, grant: dict[str, str]) -> Change:
    return lambda stack: inputs(stack, name)["accessControls"].append(grant)


def _both(*changes: Change) -> Change:
    def change(stack: Stack) -> None:
        for each in changes:
            each(stack)

    return change


def _retargeted(values: dict[str, Any], release: str) -> dict[str, Any]:
    """`values` with every path into release 1.1.0 pointing into `release` instead."""
    text = json.dumps(values).replace("/releases/1.1.0/", f"/releases/{release}/")
    retargeted: dict[str, Any] = json.loads(text)
    return retargeted


def _rollback(stack: Stack) -> None:
    # What the program registers after `live: 1.0.0`: every job and pipeline on the other release.
    for name, (type_, values) in list(stack.resources.items()):
        if type_ in (JOB, PIPELINE):
            stack.resources[name] = (type_, _retargeted(values, "1.0.0"))


def _second_job(name: str, release: str = "1.1.0") -> Change:
    """A plausible code change: a copy of the main job (for a backfill) as `backfill-job`."""

    def change(stack: Stack) -> None:
        copied = _retargeted(inputs(stack, J), release)
        copied["name"] = name
        stack.resources["backfill-job"] = (JOB, copied)

    return change


def _second_pipeline(stack: Stack) -> None:
    stack.resources["pipeline-lakeflow-copy-pipeline"] = (PIPELINE, pipeline())


DBFS_ROOT = "dbfs:/FileStore/etl/releases/"


def _dbfs_store(stack: Stack) -> None:
    # A component change that publishes to the DBFS root (the config would refuse it on 15+).
    stack.settings["libraryRoot"] = DBFS_ROOT
    for name, (type_, values) in list(stack.resources.items()):
        text = json.dumps(values).replace(f"{ARTIFACTS}/releases/", DBFS_ROOT)
        stack.resources[name] = (type_, json.loads(text))


def _runtime(version: str) -> Change:
    def change(stack: Stack) -> None:
        inputs(stack, J)["jobClusters"][0]["newCluster"]["sparkVersion"] = version

    return change


def _second_cluster(stack: Stack) -> None:
    """The main job gains job cluster `heavy` (runtime 15.4) and a task on it, while `main` runs
    14.3: each task meets the runtime of its own job cluster key."""
    job_clusters = inputs(stack, J)["jobClusters"]
    heavy = copy.deepcopy(job_clusters[0])
    heavy["jobClusterKey"] = "heavy"
    job_clusters.append(heavy)
    aggregate = copy.deepcopy(task(stack))
    aggregate.update(taskKey="aggregate", jobClusterKey="heavy")
    aggregate["notebookTask"]["notebookPath"] = f"{RELEASE}/aggregate"
    inputs(stack, J)["tasks"].insert(0, aggregate)
    job_clusters[0]["newCluster"]["sparkVersion"] = "14.3.x-scala2.12"


C = "dev-alice-cluster"
J = "pipeline-job"
SJ = "pipeline-job-serverless-job"
P = "pipeline-lakeflow-orders-pipeline"
PP = "pipeline-lakeflow-orders-permissions"
F = "workspace-root-permissions"
JP = "pipeline-permissions"
DBFS_WHEEL = f"{DBFS_ROOT}1.1.0/etl-1.1.0-py3-none-any.whl"
HOME_SCRIPT = "/Workspace/Users/alice@example.com/score.py"
TOKEN = "dapi" + "0123456789abcdef" * 2

VIOLATIONS = [
    Case(
        "all-purpose-cluster-single-user",
        dev_stack,
        _set(C, "dataSecurityMode", "USER_ISOLATION"),
        (C, "dataSecurityMode is 'USER_ISOLATION'", "single-user access mode"),
    ),
    Case(
        "all-purpose-cluster-single-user",
        dev_stack,
        _drop(C, "singleUserName"),
        (C, "singleUserName is unset"),
    ),
    Case("all-purpose-cluster-policy", dev_stack, _drop(C, "policyId"), (C, "policyId is unset")),
    Case(
        "all-purpose-cluster-autotermination",
        dev_stack,
        _set(C, "autoterminationMinutes", 0),
        (C, "autoterminationMinutes is 0", "1 to 120 idle minutes"),
    ),
    Case(
        "all-purpose-cluster-autotermination",
        dev_stack,
        _set(C, "autoterminationMinutes", 121),
        (C, "autoterminationMinutes is 121"),
    ),
    Case(
        "all-purpose-cluster-size",
        dev_stack,
        _both(_drop(C, "numWorkers"), _set(C, "autoscale", {"minWorkers": 1, "maxWorkers": 3})),
        (C, "autoscale.maxWorkers is 3", "at most 2 workers"),
    ),
    Case(
        "job-clusters-only",
        prod_stack,
        _task("existingClusterId", "0923-164208-meows279", drop="jobClusterKey"),
        (J, "tasks[0].existingClusterId is '0923-164208-meows279'", "all-purpose cluster"),
    ),
    # An all-purpose cluster created in the same update: its id is unknown in a preview, and the
    # task is refused there too (reading the id would make the engine skip the policy).
    Case(
        "job-clusters-only",
        prod_stack,
        _task("existingClusterId", UNKNOWN, drop="jobClusterKey"),
        (J, "tasks[0].existingClusterId is known after deploy"),
    ),
    # An existing cluster is refused where serverless is allowed, and in a for-each's inner task.
    Case(
        "job-clusters-only",
        prod_stack,
        _inner("existingClusterId", "0923-164208-meows279", drop="environmentKey"),
        (SJ, "tasks[4].forEachTask.task.existingClusterId is '0923-164208-meows279'"),
    ),
    Case(
        "job-clusters-only",
        prod_stack,
        _serverless_task(6, "environmentKey", drop="environmentKey"),
        (SJ, "tasks[6].jobClusterKey is unset", "a pythonWheelTask runs on a job cluster"),
    ),
    # A notebook task without compute in a job with job clusters: a forgotten key, not serverless.
    Case(
        "job-clusters-only",
        prod_stack,
        lambda stack: task(stack).pop("jobClusterKey") and None,
        (J, "tasks[0].jobClusterKey is unset", "in a job with job clusters"),
    ),
    Case(
        "job-runs-as-service-principal",
        prod_stack,
        _set(J, "runAs", {"userName": "alice@example.com"}),
        (J, "runAs.userName is 'alice@example.com'", "service principal"),
    ),
    Case(
        "job-runs-as-service-principal",
        prod_stack,
        _drop(J, "runAs"),
        (J, "runAs.servicePrincipalName is unset"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _task("notebookTask", {"notebookPath": f"{ROOT}-scratch/releases/1.1.0/main"}),
        (J, f"tasks[0].notebookTask.notebookPath is '{ROOT}-scratch/releases/1.1.0/main'"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _task("notebookTask", {"notebookPath": f"{RELEASE}/../../scratch/main"}),
        (J, f"tasks[0].notebookTask.notebookPath is '{RELEASE}/../../scratch/main'"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _task("libraries", [{"pypi": {"package": "requests"}}]),
        (J, "tasks[0].libraries[0].pypi is {package: 'requests'}"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _task("libraries", [{"whl": "/Users/alice@example.com/etl.whl"}]),
        (J, "tasks[0].libraries[0].whl is '/Users/alice@example.com/etl.whl'"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _inner("sparkPythonTask", {"pythonFile": HOME_SCRIPT, "source": "WORKSPACE"}),
        (SJ, f"tasks[4].forEachTask.task.sparkPythonTask.pythonFile is '{HOME_SCRIPT}'"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _serverless_task(
            5, "sqlTask", {"warehouseId": "abc", "file": {"path": "sql/daily.sql", "source": "GIT"}}
        ),
        (
            SJ,
            "tasks[5].sqlTask.file.path is 'sql/daily.sql'",
            "tasks[5].sqlTask.file.source is 'GIT'",
            "not a Git checkout",
        ),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _task("notebookTask", {"notebookPath": "notebooks/main", "source": "GIT"}),
        (J, "tasks[0].notebookTask.source is 'GIT'"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _set(SJ, "gitSource", {"url": "https://github.com/acme/etl", "branch": "main"}),
        (SJ, "gitSource.url is 'https://github.com/acme/etl'", "not a Git checkout"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _serverless_task(5, "sqlTask", {"warehouseId": "abc", "query": {"queryId": "q-0042"}}),
        (SJ, "tasks[5].sqlTask.query.queryId is 'q-0042'", "not a saved query"),
    ),
    Case(
        "job-runs-released-code",
        prod_stack,
        _env_dependencies([WHEEL, "requests==2.32.3"]),
        (SJ, "environments[0].spec.dependencies[1] is 'requests==2.32.3'", "package index"),
    ),
    Case("job-timeout", prod_stack, _set(J, "timeoutSeconds", 0), (J, "timeoutSeconds is 0")),
    Case(
        "job-failure-notification",
        prod_stack,
        _set(J, "emailNotifications", {"onFailures": []}),
        (J, "emailNotifications.onFailures is []"),
    ),
    Case(
        "pipeline-runs-as-service-principal",
        prod_stack,
        _set(P, "runAs", {"userName": "alice@example.com"}),
        (P, "runAs.userName is 'alice@example.com'", "a pipeline runs as a service principal"),
    ),
    Case(
        "pipeline-runs-as-service-principal",
        prod_stack,
        _drop(P, "runAs"),
        (P, "runAs.servicePrincipalName is unset", "runs as its owner"),
    ),
    # A glob over every release runs them all.
    Case(
        "pipeline-runs-released-code",
        prod_stack,
        _pipeline_library({"glob": {"include": f"/Workspace{ROOT}/releases/**"}}, 1),
        (P, f"libraries[1].glob.include is '/Workspace{ROOT}/releases/**'", "one release folder"),
    ),
    Case(
        "pipeline-runs-released-code",
        prod_stack,
        _pipeline_library({"notebook": {"path": "/Users/alice@example.com/ingest"}}, 0),
        (P, "libraries[0].notebook.path is '/Users/alice@example.com/ingest'"),
    ),
    Case(
        "pipeline-runs-released-code",
        prod_stack,
        _set(P, "rootPath", "/Workspace/Users/alice@example.com/etl"),
        (P, "rootPath is '/Workspace/Users/alice@example.com/etl'"),
    ),
    Case(
        "pipeline-runs-released-code",
        prod_stack,
        _pipeline_library({"maven": {"coordinates": "com.acme:udfs:1.0"}}),
        (P, "libraries[3].maven is {coordinates: 'com.acme:udfs:1.0'}", "package index"),
    ),
    Case(
        "pipeline-runs-released-code",
        prod_stack,
        _set(P, "environment", {"dependencies": ["pandas==2.2.2"]}),
        (P, "environment.dependencies[0] is 'pandas==2.2.2'"),
    ),
    Case(
        "no-dbfs-library-on-runtime-15",
        prod_stack,
        _dbfs_store,
        (J, f"tasks[0].libraries[0].whl is '{DBFS_WHEEL}'", "15.4"),
    ),
    # Every job cluster key: the task on `heavy` (15.4) is refused, the one on `main` (14.3) not.
    Case(
        "no-dbfs-library-on-runtime-15",
        prod_stack,
        _both(_dbfs_store, _second_cluster),
        (J, "tasks[0].libraries[0].whl", "runtime '15.4.x-scala2.12'"),
        (f"{J}': tasks[1]",),
    ),
    Case(
        "no-dbfs-library-on-runtime-15",
        prod_stack,
        _both(
            _inner("newCluster", {"sparkVersion": "16.4.x-scala2.12", "numWorkers": 1}),
            _inner("libraries", [{"whl": "dbfs:/FileStore/jars/udfs.whl"}]),
        ),
        (SJ, "tasks[4].forEachTask.task.libraries[0].whl is 'dbfs:/FileStore/jars/udfs.whl'"),
    ),
    Case(
        "no-dbfs-library-on-runtime-15",
        prod_stack,
        _env_dependencies(["dbfs:/FileStore/etl/etl.whl"]),
        (SJ, "environments[0].spec.dependencies[0] is 'dbfs:/FileStore/etl/etl.whl'", "serverless"),
    ),
    Case(
        "no-dbfs-library-on-runtime-15",
        prod_stack,
        _pipeline_library({"whl": "dbfs:/FileStore/etl/udfs.whl"}),
        (P, "libraries[3].whl is 'dbfs:/FileStore/etl/udfs.whl'", "a pipeline's runtime"),
    ),
    Case(
        "no-dbfs-library-on-runtime-15",
        dev_stack,
        _set(C, "libraries", [{"jar": "dbfs:/FileStore/jars/udfs.jar"}]),
        (C, "libraries[0].jar is 'dbfs:/FileStore/jars/udfs.jar'"),
    ),
    Case(
        "all-users-view-only",
        prod_stack,
        _grant(F, {"groupName": "users", "permissionLevel": "CAN_MANAGE"}),
        (
            F,
            f"accessControls[3].permissionLevel (groupName 'users', directoryPath '{ROOT}')",
            "is 'CAN_MANAGE'",
        ),
    ),
    Case(
        "all-users-view-only",
        dev_stack,
        _grant(JP, {"groupName": "users", "permissionLevel": "CAN_MANAGE_RUN"}),
        (JP, "jobId '123456789'", "is 'CAN_MANAGE_RUN'"),
    ),
    Case(
        "all-users-view-only",
        prod_stack,
        _grant(PP, {"groupName": "users", "permissionLevel": "CAN_RUN"}),
        (PP, "pipelineId (known after deploy)", "is 'CAN_RUN'"),
    ),
    Case(
        "no-person-manages-production",
        prod_stack,
        _grant(JP, {"userName": "alice@example.com", "permissionLevel": "CAN_MANAGE"}),
        (JP, "userName 'alice@example.com'", "is 'CAN_MANAGE'"),
    ),
    Case(
        "no-person-manages-production",
        prod_stack,
        lambda stack: inputs(stack, PP)["accessControls"].__setitem__(
            1, {"userName": "alice@example.com", "permissionLevel": "IS_OWNER"}
        ),
        (PP, "accessControls[1].permissionLevel (userName 'alice@example.com'", "'IS_OWNER'"),
    ),
    Case(
        "no-literal-secrets",
        prod_stack,
        _task(
            "notebookTask",
            {
                "notebookPath": f"{ROOT}/releases/1.1.0/main",
                "baseParameters": {"db_password": "hunter2"},
            },
        ),
        (
            J,
            "tasks[0].notebookTask.baseParameters.db_password is a literal value (not shown)",
        ),
    ),
    Case(
        "no-literal-secrets",
        dev_stack,
        _set(C, "sparkEnvVars", {"DATABRICKS_HOST_AUTH": TOKEN}),
        (
            C,
            "sparkEnvVars.DATABRICKS_HOST_AUTH is a literal value (not shown)",
            "shape of a credential",
        ),
    ),
    Case(
        "no-literal-secrets",
        prod_stack,
        _set(P, "configuration", {"api_token": "s3cr3t-value"}),
        (P, "configuration.api_token is a literal value (not shown)", "names a secret"),
    ),
    Case(
        "no-literal-secrets",
        prod_stack,
        lambda stack: inner(stack)["sparkPythonTask"]["parameters"].append(TOKEN),
        (
            SJ,
            "tasks[4].forEachTask.task.sparkPythonTask.parameters[2] is a literal value (not shown)",
        ),
    ),
    Case(
        "no-literal-secrets",
        prod_stack,
        lambda stack: task(stack, SJ, 5)["sqlTask"].update(parameters={"db_password": "hunter2"}),
        (SJ, "tasks[5].sqlTask.parameters.db_password is a literal value (not shown)"),
    ),
    # A copy of the job for a backfill, left on the previous release: caught, naming both.
    Case(
        "jobs-and-pipelines-run-one-release",
        prod_stack,
        _second_job("etl-pipeline-prod-backfill", release="1.0.0"),
        (
            f"{JOB} 'backfill-job': tasks[0].notebookTask.notebookPath is"
            f" '{ROOT}/releases/1.0.0/main', in release '1.0.0'",
            f"but '{J}', '{SJ}', '{P}' run release '1.1.0'",
        ),
        (f"{JOB} '{J}'",),
    ),
    Case(
        "jobs-and-pipelines-run-one-release",
        prod_stack,
        _set(P, "rootPath", f"/Workspace{ROOT}/releases/1.0.0/transformations"),
        (
            f"{PIPELINE} '{P}': rootPath is '/Workspace{ROOT}/releases/1.0.0/transformations',"
            f" in release '1.0.0', but '{J}', '{SJ}' run release '1.1.0', as does its own"
            " libraries[0].notebook.path",
        ),
    ),
    # Two jobs, one on each release: nothing says which is right, so both are reported.
    Case(
        "jobs-and-pipelines-run-one-release",
        prod_stack,
        _both(_remove(SJ), _remove(P), _second_job("etl-pipeline-prod-backfill", "1.0.0")),
        (
            f"{JOB} 'backfill-job'",
            f"{JOB} '{J}'",
            "'backfill-job' runs release '1.0.0'",
            f"'{J}' runs release '1.1.0'",
        ),
    ),
    # A copy of the job that keeps its name.
    Case(
        "job-and-pipeline-names-unique",
        prod_stack,
        _second_job("etl-pipeline-prod"),
        (
            f"{JOB} 'backfill-job': name is 'etl-pipeline-prod', as is job '{J}'",
            f"{JOB} '{J}': name is 'etl-pipeline-prod', as is job 'backfill-job'",
        ),
    ),
    Case(
        "job-and-pipeline-names-unique",
        prod_stack,
        _second_pipeline,
        ("'pipeline-lakeflow-copy-pipeline'", "name is 'orders'", "pipeline names are unique"),
    ),
    Case(
        "no-all-purpose-cluster-in-production",
        prod_stack,
        lambda stack: stack.resources.update({C: (CLUSTER, cluster())}),
        (C, f"type is '{CLUSTER}'", "production stack"),
    ),
]

NEAR_MISSES = [
    Case("all-purpose-cluster-single-user", dev_stack, _set(C, "singleUserName", RUNNER)),
    # A policy id computed at deploy (a ClusterPolicy created in the same update) is a policy.
    Case("all-purpose-cluster-policy", dev_stack, _set(C, "policyId", UNKNOWN)),
    Case("all-purpose-cluster-autotermination", dev_stack, _set(C, "autoterminationMinutes", 120)),
    Case("all-purpose-cluster-autotermination", dev_stack, _set(C, "autoterminationMinutes", 1)),
    Case(
        "all-purpose-cluster-size",
        dev_stack,
        _both(_drop(C, "numWorkers"), _set(C, "autoscale", {"minWorkers": 1, "maxWorkers": 2})),
    ),
    Case(
        "job-clusters-only",
        prod_stack,
        _task("newCluster", {"sparkVersion": "15.4.x-scala2.12", "numWorkers": 1}, "jobClusterKey"),
    ),
    # A notebook on a SQL warehouse needs no cluster, even in a job with job clusters.
    Case(
        "job-clusters-only",
        prod_stack,
        _both(
            lambda stack: task(stack).pop("jobClusterKey") and None,
            lambda stack: task(stack)["notebookTask"].update(warehouseId="abc123def456"),
        ),
    ),
    Case(
        "job-runs-as-service-principal",
        prod_stack,
        _set(J, "runAs", {"servicePrincipalName": DEPLOYER}),
    ),
    # A rollback: every job and pipeline on the rollback target, another kept release.
    Case("job-runs-released-code", prod_stack, _rollback),
    # A path computed at deploy (another resource's output) is unknown in a preview: left to the
    # deploy, where the engine sends it known, rather than skipping every rule that reads paths.
    Case(
        "job-runs-released-code",
        prod_stack,
        _both(
            _task("notebookTask", {"notebookPath": UNKNOWN, "source": "WORKSPACE"}),
            _set(P, "rootPath", UNKNOWN),
        ),
    ),
    # The same notebook named as a workspace file path (/Workspace/...).
    Case(
        "job-runs-released-code",
        prod_stack,
        _task("notebookTask", {"notebookPath": f"{FILES}/main", "source": "WORKSPACE"}),
    ),
    Case("job-timeout", prod_stack, _set(J, "timeoutSeconds", 60)),
    Case(
        "job-failure-notification",
        prod_stack,
        _both(
            _drop(J, "emailNotifications"),
            _set(J, "webhookNotifications", {"onFailures": [{"id": "0481e838-0a59"}]}),
        ),
    ),
    Case(
        "pipeline-runs-as-service-principal",
        prod_stack,
        _set(P, "runAs", {"servicePrincipalName": DEPLOYER}),
    ),
    # The release folder itself as root, and the release's wheel in a serverless environment.
    Case(
        "pipeline-runs-released-code",
        prod_stack,
        _both(_set(P, "rootPath", FILES), _set(P, "environment", {"dependencies": [WHEEL]})),
    ),
    Case(
        "no-dbfs-library-on-runtime-15",
        prod_stack,
        _both(_remove(SJ), _dbfs_store, _runtime("14.3.x-scala2.12")),
    ),
    Case(
        "no-dbfs-library-on-runtime-15",
        dev_stack,
        _set(C, "libraries", [{"whl": "dbfs:/Volumes/staging/etl/artifacts/dev/etl.whl"}]),
    ),
    Case(
        "all-users-view-only",
        prod_stack,
        _grant(F, {"groupName": "users", "permissionLevel": "CAN_READ"}),
    ),
    Case(
        "all-users-view-only",
        prod_stack,
        _grant(PP, {"groupName": "users", "permissionLevel": "CAN_VIEW"}),
    ),
    Case(
        "no-person-manages-production",
        prod_stack,
        _grant(JP, {"userName": "alice@example.com", "permissionLevel": "CAN_MANAGE_RUN"}),
    ),
    Case(
        "no-person-manages-production",
        prod_stack,
        _grant(PP, {"userName": "alice@example.com", "permissionLevel": "CAN_RUN"}),
    ),
    Case(
        "no-person-manages-production",
        dev_stack,
        _grant(JP, {"userName": "alice@example.com", "permissionLevel": "CAN_MANAGE"}),
    ),
    Case(
        "no-literal-secrets",
        dev_stack,
        _set(
            C,
            "sparkConf",
            {
                "spark.hadoop.fs.azure.account.oauth2.client.secret": "{{secrets/etl/sp-secret}}",
                "spark.tokenizer.model": "bert-base",
            },
        ),
    ),
    Case(
        "no-literal-secrets",
        prod_stack,
        _set(P, "configuration", {"api_token": "{{secrets/etl/api-token}}"}),
    ),
    # A second job (a backfill copied from the main one) with its own name, on the same release.
    Case(
        "jobs-and-pipelines-run-one-release",
        prod_stack,
        _second_job("etl-pipeline-prod-backfill"),
    ),
    Case("jobs-and-pipelines-run-one-release", prod_stack, _rollback),
    # Jobs and pipelines are named apart: a pipeline may share a job's name.
    Case("job-and-pipeline-names-unique", prod_stack, _set(P, "name", "etl-pipeline-prod")),
    Case(
        "no-all-purpose-cluster-in-production",
        dev_stack,
        lambda stack: None,
    ),
]


def _id(case: Case) -> str:
    return case.policy


@pytest.mark.parametrize("case", VIOLATIONS, ids=_id)
def test_planted_violation_is_reported_naming_resource_field_and_value(case: Case) -> None:
    stack = case.start()
    case.change(stack)
    messages = [v.message for v in stack.violations() if v.policy == case.policy]
    assert messages, f"{case.policy} reported nothing; all: {stack.violations()}"
    text = "\n".join(messages)
    for expected in case.expected:
        assert expected in text, f"{expected!r} not in:\n{text}"
    for absent in case.absent:
        assert absent not in text, f"{absent!r} in:\n{text}"


@pytest.mark.parametrize("case", NEAR_MISSES, ids=_id)
def test_allowed_near_miss_is_not_reported(case: Case) -> None:
    stack = case.start()
    case.change(stack)
    assert stack.violations() == []


def test_every_policy_has_a_caught_violation_and_an_allowed_near_miss() -> None:
    names = {p.name for p in POLICIES}
    assert len(names) == len(POLICIES) == 18, sorted(names)
    assert {c.policy for c in VIOLATIONS} == names
    assert {c.policy for c in NEAR_MISSES} == names


def test_every_policy_is_mandatory() -> None:
    assert {p.name: p.enforcement_level.value for p in POLICIES if p.enforcement_level} == {
        p.name: "mandatory" for p in POLICIES
    }


def test_a_secret_is_never_repeated_whole_in_the_message() -> None:
    stack = prod_stack()
    token = "dapi" + "a1" * 16
    task(stack)["notebookTask"]["baseParameters"] = {"auth": token}
    messages = [v.message for v in stack.violations()]
    assert len(messages) == 1 and "baseParameters.auth" in messages[0], messages
    # Not the value, nor any part of it (a prefix narrows a guess), nor its length.
    assert not any(token[i : i + 4] in messages[0] for i in range(len(token) - 3)), messages
    assert str(len(token)) not in messages[0], messages


def test_every_guardrail_message_redacts_what_it_quotes() -> None:
    """Any policy quoting a value (here: a notebook outside the release folder) hides a
    credential in it, and the value under a key that names a secret."""
    stack = prod_stack()
    token = "dapi" + "b2" * 16
    task(stack)["notebookTask"]["notebookPath"] = f"/Users/someone/{token}/main"
    messages = [v.message for v in stack.violations()]
    assert messages and all(token[4:12] not in m for m in messages), messages
    assert any("[redacted: Databricks token]" in m for m in messages), messages


def test_pack_config_gives_each_policy_exactly_what_its_schema_declares() -> None:
    document = pack_config(SETTINGS)
    for policy in POLICIES:
        declared = set(policy.config_schema.properties) if policy.config_schema else set()
        assert set(document.get(policy.name, {})) == declared, policy.name
        if policy.config_schema:
            assert set(policy.config_schema.required or []) == declared, policy.name


def test_pack_config_names_what_is_missing_or_unknown() -> None:
    partial = {k: v for k, v in SETTINGS.items() if k != "notebookRoot"}
    with pytest.raises(MissingSetting, match="notebookRoot"):
        pack_config(partial)
    with pytest.raises(ValueError, match="maxWorker"):
        pack_config({**SETTINGS, "maxWorker": 3})


def test_a_policy_run_without_its_config_says_how_to_pass_it() -> None:
    stack = dev_stack()
    evaluation = Evaluation()
    for name, (type_, values) in stack.resources.items():
        registration = Registration(type_, name, None, values, (), False, False, True)
        evaluation.resources[registration.key] = registration
    with pytest.raises(MissingSetting, match="--policy-pack-config"):
        check_evaluation(evaluation, {})


def test_several_jobs_and_a_pipeline_pass_with_ids_unknown_as_in_a_preview() -> None:
    # A policy that read a pipeline or job id (unknown until deploy) would raise
    # UnknownValueError here, and the engine would skip it in every preview.
    stack = prod_stack()
    assert task(stack, SJ, 2)["pipelineTask"]["pipelineId"] == UNKNOWN
    assert task(stack, SJ, 3)["runJobTask"]["jobId"] == UNKNOWN
    assert inputs(stack, PP)["pipelineId"] == UNKNOWN
    assert stack.violations() == []


# The secret-word list of `no-literal-secrets`, word by word. Written out here (not read from
# the module), so that a word dropped from the guardrail fails its own case.
SECRET_KEYS = [
    "db_password",
    "dbPassword",
    "SMTP_PASSWD",
    "mail.pwd",
    "client_secret",
    "spark.hadoop.fs.azure.account.oauth2.client.secret",
    "apiToken",
    "GITHUB_TOKEN",
    "warehouse_credential",
    "gcpCredentials",
    "API_KEY",
    "stripeApiKey",
    "private-key",
    "sftp.privateKey",
    # The words the one redaction module added (policy/databricks_guardrails/redact.py).
    "PULUMI_CONFIG_PASSPHRASE",
    "apikey",
    "privatekey",
    "AWS_ACCESS_KEY",
    "storageAccountKey",
]
NOT_SECRET_KEYS = [
    "tokenizer",
    "passwords_table",  # a word that only starts like one
    "secretary_email",
    "credentialing_db",
    "api_version",
    "key_column",
    "private_dataset",
    "pwdx_history",
    "access_level",
    "account_keys_table",
    "tokens_per_minute",
    "secrets_scope",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_each_secret_word_is_caught_in_every_place_a_job_holds_values(key: str) -> None:
    stack = prod_stack()
    task(stack)["notebookTask"]["baseParameters"] = {key: "s3cr3t-value"}
    task(stack)["newCluster"] = {"sparkEnvVars": {key: "s3cr3t-value"}}
    messages = [v.message for v in stack.violations() if v.policy == "no-literal-secrets"]
    assert len(messages) == 2, f"{key!r}: {messages}"
    text = "\n".join(messages)
    assert f"notebookTask.baseParameters.{key} is a literal" in text, text
    assert f"newCluster.sparkEnvVars.{key} is a literal" in text, text
    assert f"the key {key!r} names a secret" in text, text
    assert all("s3cr3t-value" not in m for m in messages), messages
    # The same key holding a secret reference is what the guardrail asks for: allowed.
    task(stack)["notebookTask"]["baseParameters"] = {key: "{{secrets/etl/value}}"}
    task(stack)["newCluster"] = {"sparkEnvVars": {key: "{{secrets/etl/value}}"}}
    assert stack.violations() == [], key


@pytest.mark.parametrize("key", NOT_SECRET_KEYS)
def test_a_key_that_only_contains_a_secret_word_is_not_a_secret(key: str) -> None:
    stack = prod_stack()
    task(stack)["notebookTask"]["baseParameters"] = {key: "plain value"}
    assert stack.violations() == [], key


def test_the_secret_word_list_is_the_one_tested_word_by_word() -> None:
    # One list for the guardrails and every report's redaction.
    from policy.databricks_guardrails.redact import SECRET_WORD_PAIRS, SECRET_WORDS

    assert {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "credentials",
        "apikey",
        "privatekey",
    } == SECRET_WORDS, (
        "a word was added or removed: give it a case in SECRET_KEYS (and NOT_SECRET_KEYS)"
    )
    assert {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("account", "key"),
    } == SECRET_WORD_PAIRS


@pytest.mark.parametrize("principal", ["userName"])
@pytest.mark.parametrize("level", ["IS_OWNER", "CAN_MANAGE"])
@pytest.mark.parametrize("resource", [JP, F, PP])
def test_a_person_owning_or_managing_a_production_object_is_refused(
    principal: str, level: str, resource: str
) -> None:
    stack = prod_stack()
    grants = inputs(stack, resource)["accessControls"]
    # Ownership moved from the deploy identity to a person (as the UI's "Transfer ownership").
    grants[:] = [g for g in grants if g["permissionLevel"] != "IS_OWNER"]
    grants.append({principal: "alice@example.com", "permissionLevel": level})
    messages = [v.message for v in stack.violations() if v.policy == "no-person-manages-production"]
    assert len(messages) == 1, messages
    assert "userName 'alice@example.com'" in messages[0] and f"is '{level}'" in messages[0], (
        messages
    )
    # The same grant outside production is not this guardrail's business.
    stack.settings["production"] = False
    assert [v for v in stack.violations() if v.policy == "no-person-manages-production"] == []
