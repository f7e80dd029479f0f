"""Bundle jobs and pipelines as this project's stack config (camelCase, `cicd.config` models).

Task and pipeline paths become paths in the release (the bundle root is the release's notebooks
tree); `${resources.jobs.X.id}` / `${resources.pipelines.X.id}` become this stack's job and
pipeline keys; dependencies become release library patterns (`cicd.bundles.dependencies`).
A field or task type the model has no place for is listed as unsupported with its file and key,
never dropped silently. Each translated job and pipeline is validated with the stack's own
models, and their problems are reported at the bundle file and key they come from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import ValidationError

from cicd.bundles.dependencies import wheel_pattern
from cicd.bundles.interpolation import Resolver, ResourceRef
from cicd.bundles.load import Bundle, Resource, Sourced
from cicd.bundles.paths import bundle_relative, is_notebook, notebook_file, without_suffix
from cicd.bundles.problems import Findings
from cicd.config.job import JobSettings
from cicd.config.pipeline import PipelineSettings

EDITABLE = re.compile(r"^\s*(--editable[= ]|-e\s)\s*")
# Resource kinds this project deploys from a bundle; every other kind is listed as unsupported.
CONVERTED_KINDS = ("jobs", "pipelines")
# Why some well-known fields are not converted (the others: the model has no place for them).
UNSUPPORTED_WHY = {
    "existing_cluster_id": "runs on an existing cluster: a job here runs on its job clusters"
    " (job_clusters) or serverless",
    "new_cluster": "a task's own cluster: move it to job_clusters and name it (job_cluster_key)",
    "git_source": "runs from Git: a job here runs what its release published",
    "webhook_notifications": "webhooks are not converted: use email_notifications",
}
# Keys the stack decides itself: said in the report, not refused.
NOTED = {"permissions": "the stack's databricks-cicd:access decides who may manage and run it"}


@dataclass
class Translation:
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per job or pipeline ("jobs.<key>"), the bundle-relative files it uses, and the folders
    # whose every file it uses: the release publishes those of the converted ones only.
    files_of: dict[str, set[str]] = field(default_factory=dict)
    folders_of: dict[str, set[str]] = field(default_factory=dict)

    def _converted(self) -> list[str]:
        return [f"jobs.{k}" for k in self.jobs] + [f"pipelines.{k}" for k in self.pipelines]

    @property
    def files(self) -> set[str]:
        return {f for key in self._converted() for f in self.files_of.get(key, set())}

    @property
    def folders(self) -> set[str]:
        return {f for key in self._converted() for f in self.folders_of.get(key, set())}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class Translator:
    """Translates one bundle target's jobs and pipelines; problems go to `findings`."""

    def __init__(
        self, bundle: Bundle, resolver: Resolver, findings: Findings, wheels: list[str]
    ) -> None:
        self.bundle = bundle
        self.resolver = resolver
        self.findings = findings
        self.wheels = wheels
        self.out = Translation()
        self.file = PurePosixPath("databricks.yml")
        self.current = ""  # "jobs.<key>" or "pipelines.<key>" being translated

    # -- helpers ------------------------------------------------------------------------------

    def _value(self, raw: Any, key: str) -> Any:
        return self.resolver.resolve(raw, self.file, key)

    def _unknown(self, data: dict[str, Any], known: set[str], key: str, what: str) -> None:
        for name in data:
            if name in NOTED:
                self.findings.note(self.file, f"{key}.{name}", f"not converted: {NOTED[name]}")
            elif name not in known:
                why = UNSUPPORTED_WHY.get(name, f"{what} has no {name!r} here: not converted")
                self.findings.unsupported_item(self.file, f"{key}.{name}", why)

    def _path(self, raw: Any, key: str, kind: str) -> str | None:
        """A release path for a bundle path: kind 'file', 'notebook', 'folder' or 'glob'."""
        value = self.resolver.resolve(raw, self.file, key, path=True)
        if not isinstance(value, str) or not value:
            self.findings.error(self.file, key, "must be a path")
            return None
        origin = value.origin if isinstance(value, Sourced) else self.file
        text = value.removesuffix("/**") if kind == "glob" else value
        relative, why = bundle_relative(Sourced(text, origin), origin)
        if relative is None:
            self.findings.unsupported_item(self.file, key, why)
            return None
        if kind == "glob" and not value.endswith("/**"):
            self.findings.unsupported_item(
                self.file, key, f"{value!r}: only a folder glob ('folder/**') is converted"
            )
            return None
        root = self.bundle.root
        if kind in ("folder", "glob"):
            if not (root / relative).is_dir():
                self.findings.error(self.file, key, f"{relative}: no such folder in the bundle")
                return None
            self.out.folders_of.setdefault(self.current, set()).add(relative)
            return relative + ("/**" if kind == "glob" else "")
        if kind == "notebook":
            found = notebook_file(root, relative)
            if found is None:
                self.findings.error(self.file, key, f"{relative}: no such notebook in the bundle")
                return None
            if not is_notebook(root / found):
                self.findings.error(
                    self.file,
                    key,
                    f"{found} is not a notebook (no Databricks notebook header, not .ipynb):"
                    " add the header line, or run it as a Python file task",
                )
                return None
            self.out.files_of.setdefault(self.current, set()).add(found)
            return without_suffix(found)
        if not (root / relative).is_file():
            self.findings.error(self.file, key, f"{relative}: no such file in the bundle")
            return None
        self.out.files_of.setdefault(self.current, set()).add(relative)
        return relative

    def _patterns(self, dependencies: Any, key: str) -> list[str]:
        patterns: list[str] = []
        for index, raw in enumerate(dependencies or []):
            # `--editable <folder>`: the folder is a path (it may start with the bundle root).
            editable = EDITABLE.match(raw) if isinstance(raw, str) else None
            if editable and isinstance(raw, Sourced):
                raw = Sourced(raw[editable.end() :], raw.origin)
            value = self.resolver.resolve(raw, self.file, f"{key}[{index}]", path=True)
            origin = value.origin if isinstance(value, Sourced) else self.file
            text = f"--editable {value}" if editable else str(value)
            pattern, why = wheel_pattern(text, origin, self.bundle.root, self.wheels)
            if pattern is None:
                self.findings.unsupported_item(self.file, f"{key}[{index}]", why)
            elif pattern not in patterns:
                patterns.append(pattern)
        return patterns

    def _ref(self, raw: Any, key: str, kind: str) -> str | None:
        value = self._value(raw, key)
        if isinstance(value, ResourceRef) and value.kind == kind:
            return value.key
        self.findings.unsupported_item(
            self.file,
            key,
            f"{value!r} is not a {kind[:-1]} of this bundle: give ${{resources.{kind}.<key>.id}}"
            " (only the bundle's own jobs and pipelines become this stack's)",
        )
        return None

    def _principal(self, data: dict[str, Any], key: str) -> str | None:
        """The resource's own run_as, else the bundle's (top level or target)."""
        if "run_as" in data:
            return self._run_as(data["run_as"], f"{key}.run_as")
        if self.bundle.run_as is None:
            return None
        own_file, self.file = self.file, PurePosixPath("databricks.yml")
        try:
            return self._run_as(
                self.bundle.run_as, f"run_as (or targets.{self.bundle.target}.run_as)"
            )
        finally:
            self.file = own_file

    def _run_as(self, raw: Any, key: str) -> str | None:
        value = self._value(raw, key)
        if isinstance(value, dict) and set(value) == {"service_principal_name"}:
            return _text(value["service_principal_name"])
        self.findings.unsupported_item(
            self.file,
            key,
            "runs as a person: a job or pipeline here runs as a service principal"
            " (run_as.service_principal_name)",
        )
        return None

    # -- jobs ---------------------------------------------------------------------------------

    def job(self, resource: Resource) -> dict[str, Any] | None:
        self.file = resource.file
        self.current = f"jobs.{resource.key}"
        key = resource.where
        data = resource.data
        known = {
            "name",
            "tasks",
            "job_clusters",
            "environments",
            "trigger",
            "schedule",
            "parameters",
            "email_notifications",
            "timeout_seconds",
            "max_concurrent_runs",
            "tags",
            "run_as",
        }
        self._unknown(data, known, key, "a job")
        errors = len(self.findings.errors)
        out: dict[str, Any] = {"name": _text(self._value(data.get("name", resource.key), key))}
        tasks = [
            self._task(task, f"{key}.tasks[{i}]", top=True)
            for i, task in enumerate(data.get("tasks") or [])
        ]
        out["tasks"] = tasks
        clusters = {}
        for i, cluster in enumerate(data.get("job_clusters") or []):
            where = f"{key}.job_clusters[{i}]"
            self._unknown(cluster, {"job_cluster_key", "new_cluster"}, where, "a job cluster")
            spec = self._cluster(cluster.get("new_cluster") or {}, f"{where}.new_cluster")
            clusters[_text(cluster.get("job_cluster_key"))] = spec
        if clusters:
            out["jobClusters"] = clusters
        environments = {}
        for i, environment in enumerate(data.get("environments") or []):
            where = f"{key}.environments[{i}]"
            self._unknown(environment, {"environment_key", "spec"}, where, "an environment")
            spec = environment.get("spec") or {}
            self._unknown(
                spec, {"client", "environment_version", "dependencies"}, f"{where}.spec", "a spec"
            )
            version = spec.get("environment_version", spec.get("client"))
            converted: dict[str, Any] = {}
            if version is not None:
                converted["environmentVersion"] = _text(self._value(version, where))
            # [] (not left out): only what the bundle lists, never every wheel of the release.
            converted["libraries"] = self._patterns(
                spec.get("dependencies"), f"{where}.spec.dependencies"
            )
            environments[_text(environment.get("environment_key"))] = converted
        if environments:
            out["environments"] = environments
        if "trigger" in data:
            out["trigger"] = self._trigger(self._value(data["trigger"], f"{key}.trigger"), key)
        if "schedule" in data:
            schedule = self._value(data["schedule"], f"{key}.schedule")
            self._unknown(
                schedule,
                {"quartz_cron_expression", "timezone_id", "pause_status"},
                f"{key}.schedule",
                "a schedule",
            )
            out["schedule"] = {
                "quartzCron": _text(schedule.get("quartz_cron_expression")),
                "timezone": _text(schedule.get("timezone_id", "UTC")),
                "paused": schedule.get("pause_status") == "PAUSED",
            }
        parameters = {}
        for i, parameter in enumerate(
            self._value(data.get("parameters") or [], f"{key}.parameters")
        ):
            self._unknown(parameter, {"name", "default"}, f"{key}.parameters[{i}]", "a parameter")
            parameters[_text(parameter.get("name"))] = _text(parameter.get("default", ""))
        if parameters:
            out["jobParameters"] = parameters
        if "email_notifications" in data:
            out["emailNotifications"] = self._emails(
                data["email_notifications"], f"{key}.email_notifications"
            )
        if "timeout_seconds" not in data:
            self.findings.note(
                resource.file,
                f"{key}.timeout_seconds",
                "not set: the stack's default timeout (3600 s) applies; a job here has one",
            )
        for bundle_key, ours in (
            ("timeout_seconds", "timeoutSeconds"),
            ("max_concurrent_runs", "maxConcurrentRuns"),
        ):
            if bundle_key in data:
                out[ours] = self._value(data[bundle_key], f"{key}.{bundle_key}")
        if data.get("tags"):
            tags = self._value(data["tags"], f"{key}.tags")
            out["tags"] = {str(k): _text(v) for k, v in tags.items()}
        principal = self._principal(data, key)
        if principal:
            out["runAs"] = principal
        if any(t is None for t in tasks):
            if len(self.findings.errors) == errors:
                self.findings.unsupported_item(
                    resource.file,
                    key,
                    "left out: a job runs all its tasks or none (see the task(s) listed)",
                )
            return None
        return self._validated(JobSettings, out, resource)

    def _emails(self, raw: Any, key: str) -> dict[str, Any]:
        notes = self._value(raw, key) or {}
        fields = {
            "on_start": "onStart",
            "on_success": "onSuccess",
            "on_failure": "onFailure",
            "on_duration_warning_threshold_exceeded": "onDurationWarningThresholdExceeded",
            "no_alert_for_skipped_runs": "noAlertForSkippedRuns",
        }
        self._unknown(notes, set(fields), key, "email_notifications")
        return {ours: notes[theirs] for theirs, ours in fields.items() if theirs in notes}

    def _trigger(self, trigger: dict[str, Any], key: str) -> dict[str, Any]:
        key = f"{key}.trigger"
        kinds = {
            "periodic": ("periodic", {"interval": "interval", "unit": "unit"}),
            "file_arrival": (
                "fileArrival",
                {
                    "url": "url",
                    "min_time_between_triggers_seconds": "minTimeBetweenTriggersSeconds",
                    "wait_after_last_change_seconds": "waitAfterLastChangeSeconds",
                },
            ),
            "table_update": (
                "tableUpdate",
                {
                    "table_names": "tableNames",
                    "condition": "condition",
                    "min_time_between_triggers_seconds": "minTimeBetweenTriggersSeconds",
                    "wait_after_last_change_seconds": "waitAfterLastChangeSeconds",
                },
            ),
        }
        self._unknown(trigger, {*kinds, "pause_status"}, key, "a trigger")
        out: dict[str, Any] = {"paused": trigger.get("pause_status") == "PAUSED"}
        for theirs, (ours, fields) in kinds.items():
            if theirs in trigger:
                spec = trigger[theirs] or {}
                self._unknown(spec, set(fields), f"{key}.{theirs}", theirs)
                out[ours] = {fields[k]: v for k, v in spec.items() if k in fields}
        return out

    def _cluster(self, cluster: dict[str, Any], key: str) -> dict[str, Any]:
        cluster = self._value(cluster, key)
        fields = {
            "spark_version": "sparkVersion",
            "node_type_id": "nodeType",
            "num_workers": "numWorkers",
            "data_security_mode": "dataSecurityMode",
            "spark_conf": "sparkConf",
        }
        self._unknown(cluster, {*fields, "autoscale"}, key, "a job cluster")
        out = {ours: cluster[theirs] for theirs, ours in fields.items() if theirs in cluster}
        if "sparkConf" in out:
            out["sparkConf"] = {str(k): _text(v) for k, v in out["sparkConf"].items()}
        autoscale = cluster.get("autoscale")
        if isinstance(autoscale, dict):
            self._unknown(
                autoscale, {"min_workers", "max_workers"}, f"{key}.autoscale", "autoscale"
            )
            out["autoscale"] = {
                "minWorkers": autoscale.get("min_workers"),
                "maxWorkers": autoscale.get("max_workers"),
            }
        return out

    def _task(self, task: dict[str, Any], key: str, *, top: bool) -> dict[str, Any] | None:
        kinds = {
            "notebook_task": self._notebook_task,
            "python_wheel_task": self._wheel_task,
            "spark_python_task": self._python_task,
            "sql_task": self._sql_task,
            "pipeline_task": self._pipeline_task,
            "run_job_task": self._run_job_task,
            "condition_task": self._condition_task,
        }
        if top:
            kinds["for_each_task"] = self._for_each_task
        common = {
            "task_key",
            "depends_on",
            "run_if",
            "job_cluster_key",
            "environment_key",
            "libraries",
            "timeout_seconds",
            "max_retries",
            "min_retry_interval_millis",
            "retry_on_timeout",
            "email_notifications",
            "disabled",
        }
        given = [k for k in task if k.endswith("_task")]
        unknown_kinds = [k for k in given if k not in kinds]
        for kind in unknown_kinds:
            self.findings.unsupported_item(
                self.file,
                f"{key}.{kind}",
                f"task type {kind} is not converted: tasks here run notebooks, wheels, Python"
                " and SQL files, pipelines, jobs, conditions and for-each",
            )
        self._unknown({k: v for k, v in task.items() if k not in given}, common, key, "a task")
        if unknown_kinds or not given:
            if not given:
                self.findings.error(self.file, key, "says not what it runs (no *_task key)")
            return None
        out: dict[str, Any] = {"taskKey": _text(task.get("task_key"))}
        for kind in given:
            converted = kinds[kind](task[kind], f"{key}.{kind}")
            if converted is None:
                return None
            out.update(converted)
        depends: list[str | dict[str, str]] = []
        for i, dependency in enumerate(task.get("depends_on") or []):
            where = f"{key}.depends_on[{i}]"
            self._unknown(dependency, {"task_key", "outcome"}, where, "depends_on")
            if "outcome" in dependency:
                depends.append(
                    {
                        "taskKey": _text(dependency.get("task_key")),
                        "outcome": _text(dependency["outcome"]),
                    }
                )
            else:
                depends.append(_text(dependency.get("task_key")))
        if depends:
            out["dependsOn"] = depends
        if "run_if" in task:
            out["runIf"] = _text(task["run_if"])
        if "job_cluster_key" in task:
            out["jobCluster"] = _text(task["job_cluster_key"])
        if "environment_key" in task:
            out["environment"] = _text(task["environment_key"])
        if "libraries" in task:
            out["libraries"] = self._task_libraries(task["libraries"], f"{key}.libraries")
        if "timeout_seconds" in task:
            out["timeoutSeconds"] = self._value(task["timeout_seconds"], f"{key}.timeout_seconds")
        retries = {
            ours: self._value(task[theirs], f"{key}.{theirs}")
            for theirs, ours in (
                ("max_retries", "maxRetries"),
                ("min_retry_interval_millis", "minIntervalMillis"),
                ("retry_on_timeout", "retryOnTimeout"),
            )
            if theirs in task
        }
        if retries:
            out["retries"] = retries
        if "email_notifications" in task:
            out["emailNotifications"] = self._emails(
                task["email_notifications"], f"{key}.email_notifications"
            )
        if task.get("disabled"):
            out["disabled"] = True
        return out

    def _task_libraries(self, raw: Any, key: str) -> list[str]:
        patterns: list[str] = []
        for i, library in enumerate(raw or []):
            where = f"{key}[{i}]"
            if isinstance(library, dict) and set(library) <= {"whl", "jar"} and len(library) == 1:
                patterns += self._patterns([next(iter(library.values()))], where)
            elif isinstance(library, dict) and set(library) == {"pypi"}:
                package = (library["pypi"] or {}).get("package", "")
                patterns += self._patterns([package], f"{where}.pypi.package")
            else:
                self.findings.unsupported_item(
                    self.file,
                    where,
                    "only whl/jar files of the bundle and pypi packages given as wheels are"
                    " converted",
                )
        return patterns

    def _notebook_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        self._unknown(
            spec,
            {"notebook_path", "base_parameters", "source", "warehouse_id"},
            key,
            "notebook_task",
        )
        if spec.get("source", "WORKSPACE") != "WORKSPACE":
            self.findings.unsupported_item(
                self.file, f"{key}.source", "runs from Git: a job here runs the release's copy"
            )
            return None
        path = self._path(spec.get("notebook_path"), f"{key}.notebook_path", "notebook")
        if path is None:
            return None
        notebook: dict[str, Any] = {"path": path}
        if spec.get("base_parameters"):
            parameters = self._value(spec["base_parameters"], f"{key}.base_parameters")
            notebook["parameters"] = {str(k): _text(v) for k, v in parameters.items()}
        if "warehouse_id" in spec:
            notebook["warehouseId"] = _text(self._value(spec["warehouse_id"], key))
        return {"notebook": notebook}

    def _wheel_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        fields = {
            "package_name": "packageName",
            "entry_point": "entryPoint",
            "parameters": "parameters",
            "named_parameters": "namedParameters",
        }
        self._unknown(spec, set(fields), key, "python_wheel_task")
        resolved = self._value(spec, key)
        out = {ours: resolved[theirs] for theirs, ours in fields.items() if theirs in resolved}
        if "parameters" in out:
            out["parameters"] = [_text(p) for p in out["parameters"]]
        if "namedParameters" in out:
            out["namedParameters"] = {str(k): _text(v) for k, v in out["namedParameters"].items()}
        return {"pythonWheel": out}

    def _python_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        self._unknown(spec, {"python_file", "parameters", "source"}, key, "spark_python_task")
        if spec.get("source", "WORKSPACE") != "WORKSPACE":
            self.findings.unsupported_item(
                self.file, f"{key}.source", "runs from Git: a job here runs the release's copy"
            )
            return None
        path = self._path(spec.get("python_file"), f"{key}.python_file", "file")
        if path is None:
            return None
        out: dict[str, Any] = {"path": path}
        if spec.get("parameters"):
            out["parameters"] = [_text(p) for p in self._value(spec["parameters"], key)]
        return {"sparkPythonFile": out}

    def _sql_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        self._unknown(spec, {"file", "warehouse_id", "parameters"}, key, "sql_task")
        if "file" not in spec:
            return None  # the other sql_task kinds were listed as unsupported above
        file_spec = spec["file"] or {}
        self._unknown(file_spec, {"path", "source"}, f"{key}.file", "sql_task.file")
        path = self._path(file_spec.get("path"), f"{key}.file.path", "file")
        if path is None:
            return None
        out: dict[str, Any] = {"path": path}
        if "warehouse_id" in spec:
            out["warehouseId"] = _text(self._value(spec["warehouse_id"], f"{key}.warehouse_id"))
        if spec.get("parameters"):
            parameters = self._value(spec["parameters"], f"{key}.parameters")
            out["parameters"] = {str(k): _text(v) for k, v in parameters.items()}
        return {"sqlFile": out}

    def _pipeline_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        self._unknown(spec, {"pipeline_id", "full_refresh"}, key, "pipeline_task")
        pipeline = self._ref(spec.get("pipeline_id"), f"{key}.pipeline_id", "pipelines")
        if pipeline is None:
            return None
        out: dict[str, Any] = {"pipeline": pipeline}
        if spec.get("full_refresh"):
            out["fullRefresh"] = True
        return {"pipeline": out}

    def _run_job_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        self._unknown(spec, {"job_id", "job_parameters"}, key, "run_job_task")
        job = self._ref(spec.get("job_id"), f"{key}.job_id", "jobs")
        if job is None:
            return None
        out: dict[str, Any] = {"job": job}
        if spec.get("job_parameters"):
            parameters = self._value(spec["job_parameters"], f"{key}.job_parameters")
            out["jobParameters"] = {str(k): _text(v) for k, v in parameters.items()}
        return {"runJob": out}

    def _condition_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        self._unknown(spec, {"left", "op", "right"}, key, "condition_task")
        resolved = self._value(spec, key)
        return {"condition": {k: _text(resolved.get(k, "")) for k in ("left", "op", "right")}}

    def _for_each_task(self, spec: dict[str, Any], key: str) -> dict[str, Any] | None:
        self._unknown(spec, {"inputs", "concurrency", "task"}, key, "for_each_task")
        inner = self._task(spec.get("task") or {}, f"{key}.task", top=False)
        if inner is None:
            return None
        inputs = self._value(spec.get("inputs", ""), f"{key}.inputs")
        out: dict[str, Any] = {
            "inputs": inputs if isinstance(inputs, str) else json.dumps(inputs),
            "task": inner,
        }
        if "concurrency" in spec:
            out["concurrency"] = spec["concurrency"]
        return {"forEach": out}

    # -- pipelines ----------------------------------------------------------------------------

    def pipeline(self, resource: Resource) -> dict[str, Any] | None:
        self.file = resource.file
        self.current = f"pipelines.{resource.key}"
        key = resource.where
        data = resource.data
        plain = {
            "name": "name",
            "catalog": "catalog",
            "schema": "schema",
            "target": "schema",
            "continuous": "continuous",
            "development": "development",
            "channel": "channel",
            "photon": "photon",
            "edition": "edition",
        }
        known = {
            *plain,
            "libraries",
            "root_path",
            "serverless",
            "clusters",
            "configuration",
            "notifications",
            "tags",
            "run_as",
            "environment",
        }
        self._unknown(data, known, key, "a pipeline")
        errors = len(self.findings.errors)
        out: dict[str, Any] = {"name": _text(resource.key)}
        for theirs, ours in plain.items():
            if theirs in data:
                value = self._value(data[theirs], f"{key}.{theirs}")
                out[ours] = value if isinstance(value, bool) else _text(value)
        if isinstance(out.get("edition"), str):
            out["edition"] = out["edition"].upper()
        libraries = []
        for i, library in enumerate(data.get("libraries") or []):
            where = f"{key}.libraries[{i}]"
            if not isinstance(library, dict) or len(library) != 1:
                self.findings.error(self.file, where, "must name one of notebook, file or glob")
                continue
            kind, spec = next(iter(library.items()))
            spec = spec or {}
            if kind == "notebook":
                path = self._path(spec.get("path"), f"{where}.notebook.path", "notebook")
                if path:
                    libraries.append({"notebook": path})
            elif kind == "file":
                path = self._path(spec.get("path"), f"{where}.file.path", "file")
                if path:
                    libraries.append({"file": path})
            elif kind == "glob":
                path = self._path(spec.get("include"), f"{where}.glob.include", "glob")
                if path:
                    libraries.append({"glob": path})
            else:
                self.findings.unsupported_item(
                    self.file, f"{where}.{kind}", f"pipeline library kind {kind!r} is not converted"
                )
        complete = len(libraries) == len(data.get("libraries") or [])
        out["libraries"] = libraries
        if "root_path" in data:
            root = self._path(data["root_path"], f"{key}.root_path", "folder")
            if root:
                out["rootPath"] = root
        clusters = data.get("clusters") or []
        if data.get("serverless") is False and not clusters:
            self.findings.unsupported_item(
                self.file, f"{key}.serverless", "false without clusters: name its cluster"
            )
        if len(clusters) > 1:
            self.findings.unsupported_item(
                self.file, f"{key}.clusters", "several clusters: a pipeline here has one"
            )
        elif clusters:
            cluster = self._value(clusters[0], f"{key}.clusters[0]")
            where = f"{key}.clusters[0]"
            self._unknown(
                cluster,
                {"label", "node_type_id", "num_workers", "autoscale", "spark_conf"},
                where,
                "a pipeline cluster",
            )
            converted: dict[str, Any] = {"nodeType": cluster.get("node_type_id")}
            if "num_workers" in cluster:
                converted["numWorkers"] = cluster["num_workers"]
            if isinstance(cluster.get("autoscale"), dict):
                converted["autoscale"] = {
                    "minWorkers": cluster["autoscale"].get("min_workers"),
                    "maxWorkers": cluster["autoscale"].get("max_workers"),
                }
            if cluster.get("spark_conf"):
                converted["sparkConf"] = {
                    str(k): _text(v) for k, v in cluster["spark_conf"].items()
                }
            out["cluster"] = converted
        if data.get("configuration"):
            configuration = self._value(data["configuration"], f"{key}.configuration")
            out["configuration"] = {str(k): _text(v) for k, v in configuration.items()}
        if data.get("tags"):
            tags = self._value(data["tags"], f"{key}.tags")
            out["tags"] = {str(k): _text(v) for k, v in tags.items()}
        notifications = data.get("notifications") or []
        if len(notifications) > 1:
            self.findings.unsupported_item(
                self.file, f"{key}.notifications", "several notification entries: give one"
            )
        elif notifications:
            note = self._value(notifications[0], f"{key}.notifications[0]")
            self._unknown(
                note, {"email_recipients", "alerts"}, f"{key}.notifications[0]", "notifications"
            )
            out["notifications"] = {
                "emails": note.get("email_recipients") or [],
                **({"alerts": note["alerts"]} if "alerts" in note else {}),
            }
        if "environment" in data:
            environment = data["environment"] or {}
            self._unknown(
                environment, {"dependencies"}, f"{key}.environment", "a pipeline environment"
            )
            patterns = self._patterns(
                environment.get("dependencies"), f"{key}.environment.dependencies"
            )
            if patterns:
                out["environment"] = {"libraries": patterns}
        principal = self._principal(data, key)
        if principal:
            out["runAs"] = principal
        if not complete:
            if len(self.findings.errors) == errors:
                self.findings.unsupported_item(
                    resource.file, key, "left out: a pipeline runs all its sources or none"
                )
            return None
        return self._validated(PipelineSettings, out, resource)

    # -- validation ---------------------------------------------------------------------------

    def _validated(
        self,
        model: type[JobSettings] | type[PipelineSettings],
        out: dict[str, Any],
        resource: Resource,
    ) -> dict[str, Any] | None:
        try:
            model.model_validate(out)
        except ValidationError as exc:
            for error in exc.errors():
                location = ".".join(str(part) for part in error["loc"])
                message = str(error["msg"]).removeprefix("Value error, ")
                self.findings.error(
                    resource.file,
                    resource.where,
                    f"converted as {location or '(whole)'}: {message}",
                )
            return None
        return out


def translate(
    bundle: Bundle, resolver: Resolver, findings: Findings, wheels: list[str]
) -> Translation:
    """Every job and pipeline of the bundle target; other resource kinds listed as unsupported."""
    translator = Translator(bundle, resolver, findings, wheels)
    for kind, resources in sorted(bundle.resources.items()):
        for key, resource in sorted(resources.items()):
            if kind == "jobs":
                job = translator.job(resource)
                if job is not None:
                    translator.out.jobs[key] = job
            elif kind == "pipelines":
                pipeline = translator.pipeline(resource)
                if pipeline is not None:
                    translator.out.pipelines[key] = pipeline
            else:
                findings.unsupported_item(
                    resource.file,
                    resource.where,
                    f"{kind} are not converted: this project deploys jobs and pipelines",
                )
    _drop_dangling(translator.out, findings, bundle)
    return translator.out


def _drop_dangling(out: Translation, findings: Findings, bundle: Bundle) -> None:
    """Leave out every job that runs a job or pipeline that was left out (until none does)."""
    changed = True
    while changed:
        changed = False
        for key, job in sorted(out.jobs.items()):
            for task in job["tasks"]:
                body = task.get("forEach", {}).get("task", task)
                missing = (
                    ("pipelines", body["pipeline"]["pipeline"])
                    if "pipeline" in body and body["pipeline"]["pipeline"] not in out.pipelines
                    else ("jobs", body["runJob"]["job"])
                    if "runJob" in body and body["runJob"]["job"] not in out.jobs
                    else None
                )
                if missing:
                    resource = bundle.resources["jobs"][key]
                    findings.unsupported_item(
                        resource.file,
                        resource.where,
                        f"left out: task {body['taskKey']!r} runs resources.{missing[0]}."
                        f"{missing[1]}, which was left out",
                    )
                    del out.jobs[key]
                    changed = True
                    break
            if changed:
                break
