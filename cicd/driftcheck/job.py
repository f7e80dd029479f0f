"""The job in the workspace against the job the program registers for the stack.

Every setting the program sets is compared (the Job's inputs, mapped from the provider's
camelCase names to the Jobs API's names); settings the program leaves to the service are not.
Maps that the program owns whole (tags, cluster tags, Spark conf, notebook parameters) are
compared key by key, extra keys included; lists of tasks and job clusters are matched by key; other
lists (libraries, e-mails) as sets. A setting the program sets empty (`libraries: []`, false, 0)
that the service leaves out is the same (`normalise.left_out_when_empty`). Who the job runs as is
compared whole, as the service reports it (`read_settings`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import Job

from cicd.driftcheck.findings import Finding
from cicd.driftcheck.normalise import left_out_when_empty

# Provider property names whose Jobs API name is not their snake_case form.
RENAMED = {
    "onFailures": "on_failure",
    "onSuccesses": "on_success",
    "onStarts": "on_start",
    "onDurationWarningThresholdExceededs": "on_duration_warning_threshold_exceeded",
    "dependsOns": "depends_on",
}
# Maps whose keys are data the program sets whole: a key added by hand is drift.
WHOLE_MAPS = {
    "tags",
    "custom_tags",
    "spark_conf",
    "base_parameters",
    "spark_env_vars",
    "named_parameters",
    "job_parameters",
    "configuration",
}
# Settings that change what a run does or sees (its environment, Spark conf, parameters): one
# added by hand where the program sets none is drift too, and reported (redacted, `findings`).
ADDED_BY_HAND = {"spark_env_vars", "spark_conf", "base_parameters", "parameters"}
# Lists of keyed entries: matched by their key.
KEYED_LISTS = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "environments": "environment_key",
}
# What the service means when it leaves a field out on read (Jobs API reference): a notebook task
# without git_source reads its notebook from the workspace.
SERVICE_DEFAULTS = {"notebook_task.source": "WORKSPACE"}


class JobNotFound(Exception):
    """No job, or more than one, answers to the name; the message says what to do."""


def _snake(name: str) -> str:
    return RENAMED.get(name) or re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def api_settings(inputs: Any) -> Any:
    """The Job's registered inputs in Jobs API shape (snake_case; map keys left alone)."""
    return _convert(inputs, parent="")


def _convert(value: Any, parent: str) -> Any:
    if isinstance(value, Mapping):
        if parent in WHOLE_MAPS:
            return {str(k): _convert(v, "") for k, v in value.items()}
        return {_snake(str(k)): _convert(v, _snake(str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_convert(v, parent) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def find_job(client: WorkspaceClient, name: str) -> int:
    matches = [
        job.job_id
        for job in client.jobs.list(name=name)
        if job.settings is not None and job.settings.name == name and job.job_id is not None
    ]
    if len(matches) != 1:
        found = "no job" if not matches else f"{len(matches)} jobs ({', '.join(map(str, matches))})"
        raise JobNotFound(
            f"{found} named {name!r} in this workspace: the job was renamed, deleted or"
            " duplicated by hand, or the identity lacks CAN_VIEW on it. Pass --job-id (the"
            " stack's jobId output: `pulumi stack output jobId`)"
        )
    return int(matches[0])


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(expected) == float(actual)
    if isinstance(expected, str) and isinstance(actual, int) and expected.isdigit():
        return int(expected) == actual  # a job id: a string in the program, a number in the API
    return bool(expected == actual)


def _canonical(items: list[Any]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def compare(expected: Any, actual: Any, path: str, group: str, out: list[Finding]) -> None:
    if actual is None and left_out_when_empty(expected):
        return  # the service does not return an empty setting: it holds the same value
    last = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if last == "run_as" and isinstance(expected, dict):
        # One principal: a user in place of the service principal is one change, not two.
        if actual != expected:
            out.append(Finding(group, "differs", path, expected, actual))
        return
    if isinstance(expected, dict) and last in WHOLE_MAPS:
        actual_map = actual if isinstance(actual, dict) else {}
        for key in sorted(set(expected) | set(actual_map)):
            if not _same(expected.get(key), actual_map.get(key)):
                out.append(
                    Finding(
                        group, "differs", f"{path}.{key}", expected.get(key), actual_map.get(key)
                    )
                )
        return
    if isinstance(expected, dict):
        actual_map = actual if isinstance(actual, dict) else {}
        for key in expected:
            compare(expected[key], actual_map.get(key), f"{path}.{key}".lstrip("."), group, out)
        for key in sorted(set(actual_map) & ADDED_BY_HAND - set(expected)):
            unset: dict[str, Any] | None = (
                {} if key in WHOLE_MAPS and isinstance(actual_map[key], dict) else None
            )
            compare(unset, actual_map[key], f"{path}.{key}".lstrip("."), group, out)
        return
    if isinstance(expected, list) and last in KEYED_LISTS:
        key = KEYED_LISTS[last]
        wanted = {str(item.get(key)): item for item in expected}
        have = {str(item.get(key)): item for item in (actual or []) if isinstance(item, dict)}
        for name in sorted(set(wanted) | set(have)):
            if name not in have:
                out.append(Finding(group, "differs", f"{path}[{name}]", wanted[name], None))
            elif name not in wanted:
                out.append(Finding(group, "differs", f"{path}[{name}]", None, have[name]))
            else:
                compare(wanted[name], have[name], f"{path}[{name}]", group, out)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or _canonical(expected) != _canonical(actual):
            out.append(Finding(group, "differs", path, expected, actual))
        return
    if actual is None:
        generic = re.sub(r"\[[^]]*\]", "", path)
        for suffix, default in SERVICE_DEFAULTS.items():
            if generic.endswith(suffix):
                actual = default
    if not _same(expected, actual):
        out.append(Finding(group, "differs", path, expected, actual))


def fill_ids(value: Any, ids: Mapping[str, str]) -> Any:
    """`value` with the stack's id placeholders ("{pipeline:<key>}") replaced by the ids found."""
    if isinstance(value, Mapping):
        return {k: fill_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_ids(v, ids) for v in value]
    if isinstance(value, str) and value in ids:
        return ids[value]
    return value


RUN_AS_KEYS = ("service_principal_name", "user_name", "group_name")


def effective_run_as(
    settings_run_as: Mapping[str, Any] | None, run_as_user_name: str | None
) -> dict[str, str] | None:
    """Who a job runs as, as a settings `run_as` map, from what jobs/get returns.

    The Jobs API's `run_as_user_name` is who the job runs as in every case (the explicit `run_as`,
    else the owner); `settings.run_as` is returned, when at all, only for an explicit one (older
    references call it write-only; the SDK documents both). So the principal is `run_as_user_name`,
    and its kind is the one `settings.run_as` names for it, else a user when it is an e-mail address
    and a service principal (an application id) otherwise.
    """
    explicit = {k: str(v) for k, v in (settings_run_as or {}).items() if k in RUN_AS_KEYS and v}
    if not run_as_user_name:
        return explicit or None
    for key, principal in explicit.items():
        if principal == run_as_user_name:
            return {key: principal}
    key = "user_name" if "@" in run_as_user_name else "service_principal_name"
    return {key: run_as_user_name}


def read_settings(job: Job) -> dict[str, Any]:
    """One job's settings as jobs/get returns them (Jobs API names), `run_as` made whole."""
    actual = job.settings.as_dict() if job.settings else {}
    run_as = effective_run_as(actual.get("run_as"), job.run_as_user_name)
    if run_as is not None:
        actual["run_as"] = run_as
    return actual


def compare_job(
    expected: Mapping[str, Any], actual: Mapping[str, Any], job_id: int, key: str | None = None
) -> list[Finding]:
    """Findings for one job: its settings in Jobs API shape against the program's."""
    group = f"job {key + ' ' if key and key != 'main' else ''}{expected.get('name')} (id {job_id})"
    findings: list[Finding] = []
    compare(dict(expected), dict(actual), "", group, findings)
    return findings


def check_job(
    client: WorkspaceClient,
    job_inputs: Mapping[str, Any],
    job_id: int,
    ids: Mapping[str, str] | None = None,
    key: str | None = None,
) -> list[Finding]:
    """Compare the job's settings with what the program registers; `ids` fills in the ids of
    the stack's pipelines and jobs that its tasks name."""
    expected = api_settings(fill_ids(dict(job_inputs), ids or {}))
    return compare_job(expected, read_settings(client.jobs.get(job_id)), job_id, key)
