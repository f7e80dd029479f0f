"""Lay a stack out in the emulator the way a deploy would, from the program's own registrations.

`publish()` runs the offline evaluator for a stack config and creates what it registers with the
SDK: folders, notebooks (workspace import, format and language as registered), workspace files
(workspace-files import), library uploads (Files API for a volume, DBFS, or workspace files), the
pipelines (Pipelines API, tests/emulator_pipelines.py) and the jobs (jobs/create with the
registered settings, renamed to the REST API's names here, by a mapping of this module's own so
that the checker's is not reused; a pipeline task or run-job task gets the id the pipeline or job
got), and the permissions (set, authoritative).
`publish_dev_environments()` does the same for the engineers' cluster policies and clusters.
"""

from __future__ import annotations

import base64
import io
import posixpath
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from databricks.sdk import WorkspaceClient
from databricks.sdk.service import compute, iam, jobs
from databricks.sdk.service.workspace import ImportFormat, Language

from cicd.evaluation import Evaluation
from cicd.evaluation.program import fake_id
from tests.conftest import REPO
from tests.evaluations import evaluate_once


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def job_settings(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Job's registered inputs as jobs.create keyword arguments."""
    clusters = []
    for cluster in inputs.get("jobClusters", []):
        spec = cluster["newCluster"]
        scale = spec.get("autoscale")
        clusters.append(
            jobs.JobCluster(
                job_cluster_key=cluster["jobClusterKey"],
                new_cluster=compute.ClusterSpec(
                    spark_version=spec["sparkVersion"],
                    node_type_id=spec["nodeTypeId"],
                    num_workers=_int(spec.get("numWorkers")),
                    autoscale=compute.AutoScale(
                        min_workers=_int(scale["minWorkers"]), max_workers=_int(scale["maxWorkers"])
                    )
                    if scale
                    else None,
                    data_security_mode=compute.DataSecurityMode(spec["dataSecurityMode"])
                    if spec.get("dataSecurityMode")
                    else None,
                    single_user_name=spec.get("singleUserName"),
                    spark_conf=spec.get("sparkConf"),
                    custom_tags=spec.get("customTags"),
                ),
            )
        )
    tasks = []
    for task in inputs["tasks"]:
        notebook = task["notebookTask"]
        tasks.append(
            jobs.Task(
                task_key=task["taskKey"],
                job_cluster_key=task.get("jobClusterKey"),
                notebook_task=jobs.NotebookTask(
                    notebook_path=notebook["notebookPath"],
                    source=jobs.Source(notebook["source"]) if notebook.get("source") else None,
                    base_parameters=notebook.get("baseParameters"),
                ),
                libraries=[compute.Library(**lib) for lib in task.get("libraries", [])],
                max_retries=_int(task.get("maxRetries")),
                min_retry_interval_millis=_int(task.get("minRetryIntervalMillis")),
                retry_on_timeout=task.get("retryOnTimeout"),
                timeout_seconds=_int(task.get("timeoutSeconds")),
            )
        )
    schedule = inputs.get("schedule")
    emails = inputs.get("emailNotifications")
    run_as = inputs.get("runAs")
    return {
        "name": inputs["name"],
        "job_clusters": clusters,
        "tasks": tasks,
        "schedule": jobs.CronSchedule(
            quartz_cron_expression=schedule["quartzCronExpression"],
            timezone_id=schedule["timezoneId"],
            pause_status=jobs.PauseStatus(schedule["pauseStatus"]),
        )
        if schedule
        else None,
        "timeout_seconds": _int(inputs.get("timeoutSeconds")),
        "max_concurrent_runs": _int(inputs.get("maxConcurrentRuns")),
        "email_notifications": jobs.JobEmailNotifications(on_failure=emails["onFailures"])
        if emails
        else None,
        "tags": inputs.get("tags"),
        "run_as": jobs.JobRunAs(service_principal_name=run_as["servicePrincipalName"])
        if run_as
        else None,
    }


# The provider's plural names of list fields whose REST name is singular (Jobs API 2.2).
_REST_NAMES = {
    "dependsOns": "depends_on",
    "onFailures": "on_failure",
    "onStarts": "on_start",
    "onSuccesses": "on_success",
    "onDurationWarningThresholdExceededs": "on_duration_warning_threshold_exceeded",
}
# Maps whose keys are the user's data, never renamed.
_DATA_MAPS = {
    "tags",
    "customTags",
    "sparkConf",
    "baseParameters",
    "configuration",
    "namedParameters",
    "jobParameters",
    "parameters",
}


def _rest(value: Any, parent: str = "") -> Any:
    """Registered inputs (provider camelCase) in the REST API's snake_case."""
    if isinstance(value, Mapping):
        if parent in _DATA_MAPS:
            return dict(value)
        out = {}
        for key, item in value.items():
            name = _REST_NAMES.get(key) or "".join(
                "_" + c.lower() if c.isupper() else c for c in key
            )
            out[name] = _rest(item, key)
        return out
    if isinstance(value, list):
        return [_rest(item, parent) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _with_ids(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, Mapping):
        return {
            k: ids.get(str(v), v) if k in ("pipeline_id", "job_id") else _with_ids(v, ids)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_ids(item, ids) for item in value]
    return value


def _acl(inputs: Mapping[str, Any]) -> list[iam.AccessControlRequest]:
    return [
        iam.AccessControlRequest(
            group_name=control.get("groupName"),
            service_principal_name=control.get("servicePrincipalName"),
            user_name=control.get("userName"),
            permission_level=iam.PermissionLevel(control["permissionLevel"]),
        )
        for control in inputs["accessControls"]
    ]


def write_workspace_file(client: WorkspaceClient, path: str, data: bytes) -> None:
    client.workspace.mkdirs(posixpath.dirname(path))
    client.api_client.do(
        "POST",
        f"/api/2.0/workspace-files/import-file/{quote(path.lstrip('/'))}",
        query={"overwrite": "true"},
        headers={"Content-Type": "application/octet-stream"},
        data=data,
    )


def publish(
    client: WorkspaceClient,
    config: Mapping[str, str],
    stack: str,
    *,
    with_ids: bool = False,
    project_dir: Path = REPO,
    pool: Executor | None = None,
    evaluator: Callable[[Mapping[str, str], str, Path], Evaluation] = evaluate_once,
) -> Any:
    """Create everything the program registers for `config` (the program and releases in
    `project_dir`); returns it and the main job's id (and, `with_ids`, the ids the workspace gave
    each job and pipeline by the program's ids). `pool` uploads the release objects concurrently;
    `evaluator` evaluates the program (the sandbox's goes through the drift check's cache)."""
    config = {k: v for k, v in config.items() if k != "databricks-cicd:developers"}
    evaluation = evaluator(config, stack, project_dir)
    job_id = 0
    uploads = []
    folders = set()
    for registration in evaluation.resources.values():
        inputs = registration.inputs
        kind = registration.type.rsplit(":", 1)[-1]
        if kind == "Directory":
            client.workspace.mkdirs(inputs["path"])
        elif kind in ("Notebook", "WorkspaceFile", "File", "DbfsFile"):
            if kind in ("Notebook", "WorkspaceFile"):
                folders.add(posixpath.dirname(inputs["path"]))
            uploads.append((kind, inputs))
    for folder in sorted(folders):
        client.workspace.mkdirs(folder)

    def upload(item: tuple[str, Mapping[str, Any]]) -> None:
        kind, inputs = item
        data = (project_dir / inputs["source"]).read_bytes()
        path = inputs["path"]
        if kind == "Notebook":
            client.workspace.import_(
                path,
                content=base64.b64encode(data).decode(),
                format=ImportFormat(inputs["format"]),
                language=Language(inputs["language"]),
                overwrite=True,
            )
        elif kind == "WorkspaceFile":
            write_workspace_file(client, path, data)
        elif kind == "File":
            client.files.upload(path, io.BytesIO(data), overwrite=True)
        else:
            client.dbfs.upload(path, io.BytesIO(data), overwrite=True)

    for _ in pool.map(upload, uploads) if pool is not None else map(upload, uploads):
        pass
    # The ids the program's mocks gave (fake_id) -> the ids the workspace gives.
    ids: dict[str, str] = {}
    created_ids: dict[str, tuple[str, str]] = {}  # registration name -> (object type, id)
    for registration in evaluation.resources.values():
        if registration.type == "databricks:index/pipeline:Pipeline":
            answer = client.api_client.do(
                "POST", "/api/2.0/pipelines", body=_rest(registration.inputs)
            )
            pipeline_id = str(answer["pipeline_id"])  # type: ignore[index]
            ids[fake_id(registration.name)] = pipeline_id
            created_ids[registration.name] = ("pipelines", pipeline_id)
        elif registration.type == "databricks:index/job:Job":
            settings = _with_ids(_rest(registration.inputs), ids)
            if "run_job_task" in str(settings):
                settings = _with_ids(settings, {k: int(v) for k, v in ids.items() if v.isdigit()})
            answer = client.api_client.do("POST", "/api/2.2/jobs/create", body=settings)
            created = int(answer["job_id"])  # type: ignore[index]
            ids[fake_id(registration.name)] = str(created)
            created_ids[registration.name] = ("jobs", str(created))
            if registration.name == "pipeline-job" or not job_id:
                job_id = created
    for permissions in evaluation.of_type("databricks:index/permissions:Permissions"):
        inputs = permissions.inputs
        if inputs.get("directoryPath"):
            folder = client.workspace.get_status(inputs["directoryPath"])
            client.permissions.set(
                "directories", str(folder.object_id), access_control_list=_acl(inputs)
            )
            continue
        component = permissions.name.removesuffix("-permissions")
        object_type, object_id = (
            created_ids.get(f"{component}-job") or created_ids[f"{component}-pipeline"]
        )
        client.permissions.set(object_type, object_id, access_control_list=_acl(inputs))
    return (evaluation, job_id, ids) if with_ids else (evaluation, job_id)


def publish_dev_environments(
    client: WorkspaceClient, config: Mapping[str, str], stack: str, project_dir: Path = REPO
) -> dict[str, str]:
    """Create each engineer's cluster policy and cluster (with their grants) as the program
    registers them; returns user -> policy id. Folders and Unity Catalog objects are left out:
    the drift check does not read them."""
    evaluation = evaluate_once(config, stack, project_dir)
    policies: dict[str, str] = {}  # registration name -> policy id
    clusters: dict[str, str] = {}  # registration name -> cluster id
    owners: dict[str, str] = {}
    for registration in evaluation.of_type("databricks:index/clusterPolicy:ClusterPolicy"):
        inputs = registration.inputs
        created = client.cluster_policies.create(
            name=inputs["name"],
            definition=inputs["definition"],
            max_clusters_per_user=_int(inputs.get("maxClustersPerUser")),
        )
        assert created.policy_id is not None
        policies[registration.name] = created.policy_id
    for registration in evaluation.of_type("databricks:index/cluster:Cluster"):
        inputs = registration.inputs
        scale = inputs.get("autoscale")
        policy = policies[registration.name.removesuffix("-cluster") + "-policy"]
        created_cluster = client.clusters.create(
            cluster_name=inputs["clusterName"],
            spark_version=inputs["sparkVersion"],
            node_type_id=inputs["nodeTypeId"],
            driver_node_type_id=inputs.get("driverNodeTypeId"),
            num_workers=_int(inputs.get("numWorkers")),
            autoscale=compute.AutoScale(
                min_workers=_int(scale["minWorkers"]), max_workers=_int(scale["maxWorkers"])
            )
            if scale
            else None,
            autotermination_minutes=_int(inputs.get("autoterminationMinutes")),
            policy_id=policy,
            data_security_mode=compute.DataSecurityMode(inputs["dataSecurityMode"]),
            single_user_name=inputs["singleUserName"],
            custom_tags=inputs.get("customTags"),
        )
        assert created_cluster.cluster_id is not None
        clusters[registration.name] = created_cluster.cluster_id
        owners[inputs["singleUserName"]] = policy
    for permissions in evaluation.of_type("databricks:index/permissions:Permissions"):
        inputs = permissions.inputs
        name = permissions.name
        if "clusterPolicyId" in inputs:
            policy_id = policies[name.removesuffix("-permissions")]
            client.permissions.set("cluster-policies", policy_id, access_control_list=_acl(inputs))
        elif "clusterId" in inputs:
            cluster_id = clusters[name.removesuffix("-permissions") + "-cluster"]
            client.permissions.set("clusters", cluster_id, access_control_list=_acl(inputs))
    return owners
