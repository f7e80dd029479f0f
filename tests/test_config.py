"""Stack config validation: every bad value fails with the key, the value seen and the fix.

No Pulumi runtime here: `parse_stack_config` takes the values a stack file holds.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cicd.config import ConfigError, parse_stack_config
from tests.conftest import base_values


def problems_for(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    return caught.value.problems


def changed(path: str, value: Any) -> dict[str, Any]:
    """base_values() with the dotted `path` set to `value` (or removed when value is ...)."""
    values = copy.deepcopy(base_values())
    *parents, last = path.split(".")
    target: Any = values
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return values


def only_problem(values: dict[str, Any]) -> str:
    problems = problems_for(values)
    assert len(problems) == 1, f"expected one problem, got {problems}"
    return problems[0]


def test_base_config_is_valid() -> None:
    config = parse_stack_config(base_values())
    assert config.releases.live == "1.0.0", f"live release parsed as {config.releases.live!r}"
    assert config.job.cluster.num_workers == 2


def test_object_values_arrive_as_json_text_like_pulumi_passes_them() -> None:
    values = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in base_values().items()}
    assert parse_stack_config(values).job.name == "etl-pipeline-test"


# (dotted path, bad value, substrings the message must contain: the key, the value, the fix)
BAD_VALUES = [
    (
        "workspaceRoot",
        "relative/path",
        ["databricks-cicd:workspaceRoot", "'relative/path'", "start it with '/'"],
    ),
    ("workspaceRoot", "/Production/etl/", ["workspaceRoot", "remove the trailing slash"]),
    ("workspaceRoot", "/Production//etl", ["workspaceRoot", "'//'", "single slashes"]),
    (
        "workspaceRoot",
        "/Workspace/Production/etl",
        ["workspaceRoot", "without it", "'/Production/etl'"],
    ),
    ("workspaceRoot", "/Production/../etl", ["workspaceRoot", "'..'"]),
    ("workspaceRoot", "/Production", ["workspaceRoot", "top-level folder"]),
    (
        "artifactStore.kind",
        "s3",
        ["databricks-cicd:artifactStore.kind", "'dbfs', 'volume' or 'workspace'", "'s3'"],
    ),
    (
        "artifactStore.root",
        "/Volumes/main",
        ["databricks-cicd:artifactStore", "/Volumes/<catalog>/<schema>/<volume>"],
    ),
    (
        "artifactStore.rootPath",
        "/x",
        ["databricks-cicd:artifactStore", "unknown key 'rootPath'", "did you mean 'root'"],
    ),
    (
        "releases.live",
        "9.9.9",
        ["databricks-cicd:releases", "'9.9.9' is not in kept", "add it to kept"],
    ),
    ("releases.kept", [], ["databricks-cicd:releases.kept", "at least 1 item"]),
    (
        "releases.kept",
        [{"version": "1.0.0"}, {"version": "1.0.0"}],
        ["releases", "'1.0.0' is listed twice"],
    ),
    (
        "releases.kept",
        [{"version": "1.0.0", "sorce": "x"}],
        ["releases.kept[0]", "unknown key 'sorce'", "did you mean 'source'"],
    ),
    (
        "releases.kept",
        [{"version": "1.0.0", "source": "/abs/path"}],
        ["releases.kept[0].source", "inside the project"],
    ),
    (
        "releases.kept",
        [{"version": "1.0.0", "source": "../elsewhere"}],
        ["releases.kept[0].source", "no '..'"],
    ),
    ("releases.rollbackTarget", "0.9.0", ["releases", "rollbackTarget '0.9.0' is not in kept"]),
    (
        "releases.kept",
        [{"version": 1.1}],
        ["releases.kept[0].version", "got 1.1", "quote it in YAML"],
    ),
    ("job.name", "", ["databricks-cicd:job.name", "at least 1 character"]),
    ("job.entryNotebook", "/abs/main", ["databricks-cicd:job.entryNotebook", "relative"]),
    ("job.entryNotebook", "jobs//daily", ["job.entryNotebook", "without extension"]),
    ("job.entryNotebook", "../main", ["job.entryNotebook", "each release's own entry notebook"]),
    (
        "job.cluster.sparkVersion",
        "15.4",
        ["databricks-cicd:job.cluster.sparkVersion", "'15.4'", "15.4.x-scala2.12"],
    ),
    (
        "job.cluster.nodeTyp",
        "i3",
        ["databricks-cicd:job.cluster", "unknown key 'nodeTyp'", "did you mean 'nodeType'"],
    ),
    (
        "job.cluster.numWorkers",
        -1,
        ["databricks-cicd:job.cluster.numWorkers", "greater than or equal to 0", "-1"],
    ),
    (
        "job.cluster.numWorkers",
        "2",
        ["databricks-cicd:job.cluster.numWorkers", "valid integer", "'2'"],
    ),
    (
        "job.cluster.numWorkers",
        2.5,
        ["databricks-cicd:job.cluster.numWorkers", "valid integer", "2.5"],
    ),
    (
        "job.schedule.paused",
        "yes",
        ["databricks-cicd:job.schedule.paused", "valid boolean", "'yes'"],
    ),
    (
        "job.cluster.autoscale",
        {"minWorkers": 1, "maxWorkers": 4},
        ["databricks-cicd:job.cluster", "exactly one of numWorkers"],
    ),
    ("job.cluster.dataSecurityMode", "NONE", ["job.cluster.dataSecurityMode", "'NONE'"]),
    (
        "job.schedule.quartzCron",
        "0 2 * * *",
        ["databricks-cicd:job.schedule.quartzCron", "6 or 7 fields", "'0 0 2 * * ?'"],
    ),
    ("job.schedule.quartzCron", "0 0 2 * * *", ["job.schedule.quartzCron", "'?'"]),
    (
        "job.schedule.timezone",
        "Mars/Olympus",
        ["databricks-cicd:job.schedule.timezone", "'Mars/Olympus'", "Europe/Paris"],
    ),
    ("job.schedule.paused", "sometimes", ["databricks-cicd:job.schedule.paused", "'sometimes'"]),
    (
        "job.timeoutSeconds",
        5,
        ["databricks-cicd:job.timeoutSeconds", "greater than or equal to 60", "got 5"],
    ),
    ("job.timeoutSeconds", "an hour", ["job.timeoutSeconds", "'an hour'"]),
    (
        "job.retries.maxRetries",
        50,
        ["databricks-cicd:job.retries.maxRetries", "less than or equal to 10", "50"],
    ),
    ("job.retries.minIntervalMillis", -5, ["job.retries.minIntervalMillis", "-5"]),
    (
        "job.maxConcurrentRuns",
        0,
        ["databricks-cicd:job.maxConcurrentRuns", "greater than or equal to 1"],
    ),
    (
        "job.failureEmails",
        ["not-an-address"],
        ["databricks-cicd:job.failureEmails", "'not-an-address' is not an e-mail"],
    ),
    ("job.tags", {"team": 7}, ["databricks-cicd:job.tags.team", "got 7"]),
    ("job.parameters", ["env=prod"], ["databricks-cicd:job.parameters", "valid dictionary"]),
    (
        "job.runAs",
        "robot@example.com",
        ["databricks-cicd:job.runAs", "'robot@example.com'", "application id"],
    ),
    ("job.runAs", ..., ["SINGLE_USER needs job.runAs", "service principal"]),
    (
        "access.deployIdentity",
        "ci-bot",
        ["databricks-cicd:access.deployIdentity", "'ci-bot'", "UUID"],
    ),
    ("access.adminGroup", ..., ["databricks-cicd:access.adminGroup", "is missing"]),
    (
        "access.adminGroup",
        "admins",
        ["databricks-cicd:access.adminGroup", "'admins'", "dedicated group"],
    ),
    ("access.operatorsGroup", "admins", ["databricks-cicd:access.operatorsGroup", "'etl-admins'"]),
]


@pytest.mark.parametrize(
    ("path", "bad", "expected"), BAD_VALUES, ids=[f"{p}={b!r}"[:60] for p, b, _ in BAD_VALUES]
)
def test_bad_value_is_refused_with_key_value_and_fix(
    path: str, bad: Any, expected: list[str]
) -> None:
    message = only_problem(changed(path, bad))
    for fragment in expected:
        assert fragment in message, f"{path}={bad!r}: {fragment!r} missing from {message!r}"


@pytest.mark.parametrize(
    "version", ["", "1.0/../../etc", "..", "1..0", "has space", "a/b", "-1.0", "x" * 65]
)
def test_version_that_could_escape_its_folder_is_refused(version: str) -> None:
    values = changed("releases", {"kept": [{"version": version}], "live": version})
    problems = problems_for(values)
    assert any("releases.kept[0].version" in p and "plain identifier" in p for p in problems), (
        f"version {version!r}: got {problems}"
    )


def test_unknown_top_level_key_names_the_near_miss() -> None:
    values = base_values()
    values["workspaceRot"] = "/Production/x"
    message = only_problem(values)
    assert "databricks-cicd:workspaceRot: unknown key" in message
    assert "did you mean 'databricks-cicd:workspaceRoot'" in message


def test_missing_required_key() -> None:
    message = only_problem(changed("job", ...))
    assert message.startswith("databricks-cicd:job: is missing"), message


def test_every_problem_is_reported_at_once() -> None:
    values = changed("job.timeoutSeconds", 1)
    values["artifactStore"]["kind"] = "tape"
    values["surprise"] = True
    problems = problems_for(values)
    assert len(problems) == 3, problems
    assert "3 problem(s)" in str(ConfigError(problems))


def test_dbfs_store_with_runtime_15_is_refused_with_the_fix() -> None:
    values = changed("artifactStore", {"kind": "dbfs", "root": "/FileStore/etl"})
    message = only_problem(values)
    assert "artifactStore.kind 'dbfs'" in message and "'15.4.x-scala2.12'" in message, message
    assert "kind: volume" in message and "kind: workspace" in message, message


def test_dbfs_store_is_fine_below_runtime_15() -> None:
    values = changed("artifactStore", {"kind": "dbfs", "root": "/FileStore/etl"})
    values["job"]["cluster"]["sparkVersion"] = "14.3.x-scala2.12"
    config = parse_stack_config(values)
    assert config.artifact_store.library_uri("/FileStore/etl/x.whl") == "dbfs:/FileStore/etl/x.whl"


def test_dbfs_root_with_scheme_prefix_is_refused() -> None:
    values = changed("artifactStore", {"kind": "dbfs", "root": "dbfs:/FileStore/etl"})
    values["job"]["cluster"]["sparkVersion"] = "14.3.x-scala2.12"
    message = only_problem(values)
    assert "'dbfs:' prefix" in message and "'/FileStore/etl'" in message, message


def test_restricted_root_under_shared_is_refused() -> None:
    message = only_problem(changed("workspaceRoot", "/Shared/etl"))
    assert "under /Shared" in message and "CAN_MANAGE" in message, message


def test_live_release_removed_from_kept_is_refused() -> None:
    values = changed("releases", {"kept": [{"version": "1.0.0"}], "live": "1.1.0"})
    assert "live release '1.1.0' is not in kept" in only_problem(values)


def test_named_rollback_target_removed_from_kept_is_refused() -> None:
    values = changed(
        "releases", {"kept": [{"version": "1.1.0"}], "live": "1.1.0", "rollbackTarget": "1.0.0"}
    )
    assert "rollbackTarget '1.0.0' is not in kept" in only_problem(values)


def test_last_rollback_target_cannot_be_dropped_when_required() -> None:
    values = changed(
        "releases", {"kept": [{"version": "1.1.0"}], "live": "1.1.0", "requireRollbackTarget": True}
    )
    message = only_problem(values)
    assert "no rollback target would remain" in message and "'1.1.0'" in message, message


def test_default_rollback_target_is_the_previous_version_by_version_order() -> None:
    values = changed(
        "releases",
        {
            "kept": [{"version": "1.10.0"}, {"version": "1.9.0"}, {"version": "1.2.0"}],
            "live": "1.10.0",
        },
    )
    releases = parse_stack_config(values).releases
    assert releases.effective_rollback_target == "1.9.0", releases.effective_rollback_target
    assert releases.versions == ["1.2.0", "1.9.0", "1.10.0"], releases.versions


def test_live_release_alone_is_no_rollback_target() -> None:
    values = changed(
        "releases",
        {
            "kept": [{"version": "1.1.0"}],
            "live": "1.1.0",
            "rollbackTarget": "1.1.0",
            "requireRollbackTarget": True,
        },
    )
    assert "no rollback target would remain" in only_problem(values)


def test_rollback_target_may_name_the_live_release_right_after_a_rollback() -> None:
    values = changed(
        "releases",
        {
            "kept": [{"version": "1.0.0"}, {"version": "1.1.0"}],
            "live": "1.0.0",
            "rollbackTarget": "1.0.0",
            "requireRollbackTarget": True,
        },
    )
    assert parse_stack_config(values).releases.effective_rollback_target == "1.0.0"


def test_artifact_store_library_uris_per_kind() -> None:
    volume = parse_stack_config(base_values()).artifact_store
    assert (
        volume.library_uri("/Volumes/prod/etl/artifacts/a.whl")
        == "/Volumes/prod/etl/artifacts/a.whl"
    )
    values = changed("artifactStore", {"kind": "workspace", "root": "/Shared/etl-artifacts"})
    workspace = parse_stack_config(values).artifact_store
    assert (
        workspace.library_uri("/Shared/etl-artifacts/a.whl")
        == "/Workspace/Shared/etl-artifacts/a.whl"
    )


def _releases(**releases: Any) -> dict[str, Any]:
    values = base_values()
    values["releases"] = releases
    return values


@pytest.mark.parametrize(
    ("releases", "expected"),
    [
        (
            {"kept": [{"version": "1.0.0"}], "live": "1.0.0", "candidate": "1.1.0"},
            "candidate '1.1.0' must be a kept release that is not live",
        ),
        (
            {"kept": [{"version": "1.0.0"}], "live": "1.0.0", "candidate": "1.0.0"},
            "candidate '1.0.0' must be a kept release that is not live",
        ),
        (
            {
                "kept": [{"version": "1.0.0"}, {"version": "1.1.0"}, {"version": "1.2.0"}],
                "live": "1.1.0",
                "candidate": "1.0.0",
                "rollbackTarget": "1.0.0",
            },
            "rollbackTarget '1.0.0' is the candidate, which has not run in production",
        ),
        (
            {"kept": [{"version": "1.0.0", "allowUnverified": ""}], "live": "1.0.0"},
            "databricks-cicd:releases.kept[0].allowUnverified",
        ),
    ],
    ids=["candidate-not-kept", "candidate-is-live", "candidate-as-target", "empty-reason"],
)
def test_candidate_and_unverified_releases_are_checked(
    releases: dict[str, Any], expected: str
) -> None:
    assert expected in only_problem(_releases(**releases))


def test_the_candidate_is_never_the_default_rollback_target() -> None:
    config = parse_stack_config(
        _releases(
            kept=[{"version": "1.0.0"}, {"version": "1.1.0"}, {"version": "1.2.0"}],
            live="1.2.0",
            candidate="1.1.0",
        )
    )
    assert config.releases.effective_rollback_target == "1.0.0"
    assert config.releases.candidate == "1.1.0"


PIPELINE = {
    "name": "orders",
    "catalog": "main",
    "schema": "sales",
    "libraries": [{"glob": "transformations/**"}],
}


def test_a_pipeline_installs_release_wheels_by_pattern() -> None:
    pipeline = dict(PIPELINE, environment={"libraries": ["etl_pipeline-*.whl"]})
    config = parse_stack_config({**base_values(), "pipelines": {"orders": pipeline}})
    environment = config.pipelines["orders"].environment
    assert environment is not None and environment.libraries == ["etl_pipeline-*.whl"], environment
    # Left out, the pipeline installs nothing (as before environment existed).
    config = parse_stack_config({**base_values(), "pipelines": {"orders": PIPELINE}})
    assert config.pipelines["orders"].environment is None


def test_a_pipeline_environment_without_libraries_is_refused() -> None:
    empty = dict(PIPELINE, environment={"libraries": []})
    problem = only_problem({**base_values(), "pipelines": {"orders": empty}})
    assert "pipelines.orders.environment.libraries" in problem, problem
