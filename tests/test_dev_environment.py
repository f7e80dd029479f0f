"""`DevEnvironment`: the real program under Pulumi's mocks.

The shared stack owns each engineer's environment and never the work in it: a cluster policy,
the cluster under it, their permissions, the personal folder and the dev location; no notebook,
workspace file, library upload or attached library. Reordering the list registers identical
resources; adding or removing one engineer changes only theirs.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest

from cicd.config import dev_slug
from cicd.evaluation import Evaluation, compare, evaluate
from tests.conftest import SandboxProject, to_pulumi_config
from tests.test_provider_schema import schema_problems

COMPONENT = "databricks-cicd:dev_environment:DevEnvironment"
CLUSTER = "databricks:index/cluster:Cluster"
POLICY = "databricks:index/clusterPolicy:ClusterPolicy"
PERMISSIONS = "databricks:index/permissions:Permissions"
DIRECTORY = "databricks:index/directory:Directory"
VOLUME = "databricks:index/volume:Volume"
GRANTS = "databricks:index/grants:Grants"
GRANT = "databricks:index/grant:Grant"
# What an engineer's work would be; the stack registers none of it for an engineer.
WORK = {
    "databricks:index/notebook:Notebook",
    "databricks:index/workspaceFile:WorkspaceFile",
    "databricks:index/file:File",
    "databricks:index/dbfsFile:DbfsFile",
    "databricks:index/library:Library",
}

ALICE = "alice@example.com"
BOB = "bob@example.com"
SP = "807a2304-3287-4420-b267-711de70a6685"
CAROL = "carol@example.com"
# base_values()' artifact store is /Volumes/prod/etl/artifacts.
CATALOG, SCHEMA = "prod", "etl"


def developers(*users: str, **overrides: dict[str, Any]) -> dict[str, Any]:
    """A developers block listing `users` in the given order; overrides keyed by slug."""
    return {
        "defaults": {
            "sparkVersion": "15.4.x-scala2.12",
            "nodeType": "i3.xlarge",
            "numWorkers": 0,
            "autoterminationMinutes": 30,
        },
        "caps": {"maxWorkers": 2, "maxAutoterminationMinutes": 120},
        "engineers": [
            {
                "user": u,
                **({"overrides": overrides[dev_slug(u)]} if dev_slug(u) in overrides else {}),
            }
            for u in users
        ],
    }


def with_developers(values: dict[str, Any], dev: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(values)
    changed["developers"] = dev
    return changed


@pytest.fixture
def project(sandbox: SandboxProject) -> SandboxProject:
    sandbox.add_release("1.0.0")
    return sandbox


@pytest.fixture
def three(project: SandboxProject, values: dict[str, Any]) -> Evaluation:
    return project.evaluate(with_developers(values, developers(ALICE, BOB, SP)))


def children(evaluation: Evaluation, component: str) -> list[Any]:
    return [r for r in evaluation.resources.values() if r.parent == component]


def policy_of(evaluation: Evaluation, user: str) -> dict[str, Any]:
    definition = evaluation.named(f"dev-{dev_slug(user)}-policy").inputs["definition"]
    parsed: dict[str, Any] = json.loads(definition)
    return parsed


def violations(policy: dict[str, Any], cluster: dict[str, Any]) -> list[str]:
    """Where a cluster's inputs (wire names) break a policy's fixed values and ranges."""
    wire = {
        "data_security_mode": cluster.get("dataSecurityMode"),
        "single_user_name": cluster.get("singleUserName"),
        "spark_version": cluster.get("sparkVersion"),
        "node_type_id": cluster.get("nodeTypeId"),
        "driver_node_type_id": cluster.get("driverNodeTypeId"),
        "custom_tags.Owner": (cluster.get("customTags") or {}).get("Owner"),
        "num_workers": cluster.get("numWorkers"),
        "autoscale.min_workers": (cluster.get("autoscale") or {}).get("minWorkers"),
        "autoscale.max_workers": (cluster.get("autoscale") or {}).get("maxWorkers"),
        "autotermination_minutes": cluster.get("autoterminationMinutes"),
        "cluster_type": "all-purpose",  # a databricks.Cluster is an all-purpose cluster
        "runtime_engine": cluster.get("runtimeEngine"),
    }
    found = []
    for path, rule in policy.items():
        if rule["type"] == "forbidden":
            if _attribute(cluster, path) is not None:
                found.append(f"{path}: set, policy forbids it")
            continue
        value = wire[path]
        if rule["type"] == "fixed" and value != rule["value"]:
            found.append(f"{path}: {value!r}, policy fixes {rule['value']!r}")
        if rule["type"] == "range":
            if value is None:
                if not rule.get("isOptional"):
                    found.append(f"{path}: missing, policy requires it")
            elif not rule["minValue"] <= value <= rule["maxValue"]:
                found.append(f"{path}: {value} outside {rule['minValue']}..{rule['maxValue']}")
    return found


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _attribute(cluster: dict[str, Any], path: str) -> Any:
    """A policy path (snake_case, `*` for any list element) read from wire (camelCase) inputs:
    the values found, or None when the cluster does not set it."""
    values: list[Any] = [cluster]
    for part in path.split("."):
        found: list[Any] = []
        for value in values:
            if part == "*" and isinstance(value, list):
                found += value
            elif isinstance(value, dict) and _camel(part) in value:
                found.append(value[_camel(part)])
        values = found
    return values or None


def test_each_engineer_gets_the_environment_and_none_of_the_work(three: Evaluation) -> None:
    components = {r.name: r for r in three.of_type(COMPONENT)}
    assert set(components) == {f"dev-{dev_slug(u)}" for u in (ALICE, BOB, SP)}, sorted(components)
    for user in (ALICE, BOB, SP):
        name = f"dev-{dev_slug(user)}"
        assert components[name].parent is None, f"{name}: parent {components[name].parent!r}"
        kids = children(three, name)
        kinds = Counter(r.type for r in kids)
        assert kinds == {
            DIRECTORY: 1,
            POLICY: 1,
            PERMISSIONS: 2,
            CLUSTER: 1,
            VOLUME: 1,
            GRANTS: 1,
            GRANT: 2,
        }, f"{name}: children {dict(kinds)}"
        assert {r.name for r in kids} == {
            f"{name}-folder",
            f"{name}-policy",
            f"{name}-policy-permissions",
            f"{name}-cluster",
            f"{name}-permissions",
            f"{name}-dev-volume",
            f"{name}-dev-volume-grants",
            f"{name}-use-catalog",
            f"{name}-use-schema",
        }, f"{name}: children {sorted(r.name for r in kids)}"
    dev = {r.name for r in three.resources.values() if r.name.startswith("dev-")}
    work = [r.name for r in three.resources.values() if r.type in WORK and r.name in dev]
    assert work == [], f"dev work registered by the stack: {work}"
    # Nothing is uploaded under a dev path, whatever its type.
    for registration in three.resources.values():
        path = str(registration.inputs.get("path", ""))
        assert "/dev/" not in path and "/Users/" not in path or registration.type == DIRECTORY, (
            f"{registration.name}: {registration.type} at {path}"
        )


def test_personal_folder_is_the_folder_only_and_kept_when_removed(three: Evaluation) -> None:
    for user in (ALICE, SP):
        folder = three.named(f"dev-{dev_slug(user)}-folder")
        assert folder.inputs == {"path": f"/Users/{user}/etl-pipeline"}, folder.inputs
        assert folder.retain_on_delete, f"{folder.name}: not retain_on_delete"


def test_cluster_runs_under_its_own_policy_with_no_library(three: Evaluation) -> None:
    for user in (ALICE, SP):
        slug = dev_slug(user)
        cluster = three.named(f"dev-{slug}-cluster")
        policy = three.named(f"dev-{slug}-policy")
        inputs = cluster.inputs
        expected = {
            "clusterName": f"etl-pipeline-dev-{slug}",
            "dataSecurityMode": "SINGLE_USER",
            "singleUserName": user,
            "autoterminationMinutes": 30,
            "isPinned": True,
            "sparkVersion": "15.4.x-scala2.12",
            "nodeTypeId": "i3.xlarge",
            "driverNodeTypeId": "i3.xlarge",
            "numWorkers": 0,
            "customTags": {
                "Owner": user,
                "ResourceClass": "SingleNode",
                "pipeline": "etl-pipeline",
            },
            "sparkConf": {
                "spark.databricks.cluster.profile": "singleNode",
                "spark.master": "local[*, 4]",
            },
        }
        for key, value in expected.items():
            assert inputs.get(key) == value, f"{cluster.name}: {key} {inputs.get(key)!r}"
        assert "libraries" not in inputs, f"{cluster.name}: libraries {inputs['libraries']}"
        assert policy.name in cluster.dependencies, f"{cluster.name}: {cluster.dependencies}"
        assert inputs["policyId"], f"{cluster.name}: no policyId"
        assert policy.inputs["name"] == f"etl-pipeline-dev-{slug}", policy.inputs["name"]
        assert policy.inputs["maxClustersPerUser"] == 1, policy.inputs
        assert violations(policy_of(three, user), inputs) == []


def test_policy_pins_what_review_decided_and_bounds_the_rest_by_the_caps(
    three: Evaluation,
) -> None:
    policy = policy_of(three, BOB)
    fixed = {path: rule["value"] for path, rule in policy.items() if rule["type"] == "fixed"}
    assert fixed == {
        "cluster_type": "all-purpose",
        "data_security_mode": "SINGLE_USER",
        "single_user_name": BOB,
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge",
        "driver_node_type_id": "i3.xlarge",
        "custom_tags.Owner": BOB,
        "runtime_engine": "STANDARD",
    }, fixed
    # No cloud known from the sandbox's config: only the paths every cloud supports.
    forbidden = sorted(path for path, rule in policy.items() if rule["type"] == "forbidden")
    assert forbidden == [
        "driver_instance_pool_id",
        "init_scripts.*.file.destination",
        "init_scripts.*.volumes.destination",
        "init_scripts.*.workspace.destination",
        "instance_pool_id",
        "ssh_public_keys.*",
    ], forbidden
    ranges = {
        path: (rule["minValue"], rule["maxValue"])
        for path, rule in policy.items()
        if rule["type"] == "range"
    }
    assert ranges == {
        "num_workers": (0, 2),
        "autoscale.min_workers": (0, 2),
        "autoscale.max_workers": (0, 2),
        "autotermination_minutes": (10, 120),
    }, ranges
    assert not policy["autotermination_minutes"].get("isOptional"), "autotermination may be unset"
    assert policy["autotermination_minutes"]["defaultValue"] == 30, policy


def test_policy_follows_overrides_and_caps(project: SandboxProject, values: dict[str, Any]) -> None:
    bob = {
        "nodeType": "m5.large",
        "autoscale": {"minWorkers": 1, "maxWorkers": 3},
        "sparkVersion": "14.3.x-scala2.12",
        "autoterminationMinutes": 60,
    }
    dev = developers(ALICE, BOB, **{dev_slug(BOB): bob})
    dev["caps"] = {"maxWorkers": 3, "maxAutoterminationMinutes": 90}
    evaluation = project.evaluate(with_developers(values, dev))
    policy = policy_of(evaluation, BOB)
    assert (policy["spark_version"]["value"], policy["node_type_id"]["value"]) == (
        "14.3.x-scala2.12",
        "m5.large",
    ), policy
    assert policy["autoscale.max_workers"]["maxValue"] == 3, policy["autoscale.max_workers"]
    assert policy["autotermination_minutes"]["maxValue"] == 90, policy["autotermination_minutes"]
    cluster = evaluation.named(f"dev-{dev_slug(BOB)}-cluster").inputs
    assert cluster["autoscale"] == {"minWorkers": 1, "maxWorkers": 3}, cluster
    assert "numWorkers" not in cluster and "sparkConf" not in cluster, cluster
    assert violations(policy, cluster) == []
    # The checker itself would catch a cluster past the caps.
    assert violations(policy, {**cluster, "autoterminationMinutes": 0}) == [
        "autotermination_minutes: 0 outside 10..90"
    ]
    alice = policy_of(evaluation, ALICE)
    assert alice["single_user_name"]["value"] == ALICE, alice
    assert alice["node_type_id"]["value"] == "i3.xlarge", alice


def test_engineer_manages_their_cluster_uses_their_policy_and_nobody_else_is_granted(
    three: Evaluation,
) -> None:
    for user, key in ((ALICE, "userName"), (BOB, "userName"), (SP, "servicePrincipalName")):
        name = f"dev-{dev_slug(user)}"
        cluster_grants = three.named(f"{name}-permissions")
        assert sorted(cluster_grants.inputs["accessControls"], key=str) == sorted(
            [
                {"groupName": "etl-admins", "permissionLevel": "CAN_MANAGE"},
                {key: user, "permissionLevel": "CAN_MANAGE"},
            ],
            key=str,
        ), f"{cluster_grants.name}: {cluster_grants.inputs['accessControls']}"
        assert cluster_grants.inputs["clusterId"] == three.outputs["devClusters"][user]
        policy_grants = three.named(f"{name}-policy-permissions")
        assert policy_grants.inputs["accessControls"] == [
            {key: user, "permissionLevel": "CAN_USE"}
        ], f"{policy_grants.name}: {policy_grants.inputs['accessControls']}"
        assert f"{name}-policy" in policy_grants.dependencies, policy_grants.dependencies
    on_clusters = sorted(r.name for r in three.of_type(PERMISSIONS) if "clusterId" in r.inputs)
    assert on_clusters == sorted(f"dev-{dev_slug(u)}-permissions" for u in (ALICE, BOB, SP))
    on_policies = [r for r in three.of_type(PERMISSIONS) if "clusterPolicyId" in r.inputs]
    assert len({r.inputs["clusterPolicyId"] for r in on_policies}) == 3, on_policies


def test_dev_volume_beside_the_releases_writable_by_its_engineer_only(three: Evaluation) -> None:
    for user in (ALICE, SP):
        name = f"dev-{dev_slug(user)}"
        volume_name = "dev_" + dev_slug(user).replace("-", "_")
        volume = three.named(f"{name}-dev-volume")
        assert volume.inputs == {
            "catalogName": CATALOG,
            "schemaName": SCHEMA,
            "name": volume_name,
            "volumeType": "MANAGED",
            "comment": f"Dev builds of {user}; written by `python -m cicd.dev push`",
        }, volume.inputs
        assert volume.retain_on_delete, f"{volume.name}: not retain_on_delete"
        grants = three.named(f"{name}-dev-volume-grants")
        assert grants.inputs == {
            "volume": f"{CATALOG}.{SCHEMA}.{volume_name}",
            "grants": [{"principal": user, "privileges": ["READ_VOLUME", "WRITE_VOLUME"]}],
        }, grants.inputs
        assert volume.name in grants.dependencies, grants.dependencies
        assert three.named(f"{name}-use-catalog").inputs == {
            "principal": user,
            "catalog": CATALOG,
            "privileges": ["USE_CATALOG"],
        }
        assert three.named(f"{name}-use-schema").inputs == {
            "principal": user,
            "schema": f"{CATALOG}.{SCHEMA}",
            "privileges": ["USE_SCHEMA"],
        }
    # No engineer is granted anything on the releases' volume (or any other securable).
    securables = {
        value
        for r in three.of_type(GRANTS) + three.of_type(GRANT)
        for key, value in r.inputs.items()
        if key in ("volume", "catalog", "schema")
    }
    assert securables == {
        CATALOG,
        f"{CATALOG}.{SCHEMA}",
        *(f"{CATALOG}.{SCHEMA}.dev_{dev_slug(u).replace('-', '_')}" for u in (ALICE, BOB, SP)),
    }, securables


@pytest.mark.parametrize(
    "store", [{"kind": "workspace", "root": "/Shared/artifacts"}, {"kind": "dbfs", "root": "/x"}]
)
def test_other_stores_register_no_volume_or_grant(
    project: SandboxProject, values: dict[str, Any], store: dict[str, str]
) -> None:
    changed = with_developers(values, developers(ALICE))
    changed["artifactStore"] = store
    if store["kind"] == "dbfs":
        changed["developers"]["defaults"]["sparkVersion"] = "14.3.x-scala2.12"
        changed["job"]["cluster"]["sparkVersion"] = "14.3.x-scala2.12"
    evaluation = project.evaluate(changed)
    kinds = Counter(r.type for r in children(evaluation, "dev-alice-example-com"))
    assert kinds == {DIRECTORY: 1, POLICY: 1, PERMISSIONS: 2, CLUSTER: 1}, dict(kinds)


def test_reordering_engineers_registers_identical_resources(
    project: SandboxProject, values: dict[str, Any], three: Evaluation
) -> None:
    reordered = project.evaluate(with_developers(values, developers(SP, BOB, ALICE)))
    assert compare(three, reordered) == []
    assert reordered.outputs["devClusters"] == three.outputs["devClusters"]


def test_adding_one_engineer_adds_only_their_resources(
    project: SandboxProject, values: dict[str, Any], three: Evaluation
) -> None:
    after = project.evaluate(with_developers(values, developers(ALICE, CAROL, BOB, SP)))
    changes = compare(three, after)
    others = [c for c in changes if c.kind != "add" or not c.name.startswith("dev-carol")]
    assert others == [], f"changes beyond carol's additions: {others}"
    added = {c.name for c in changes}
    assert added == {"dev-carol-example-com"} | {
        r.name for r in children(after, "dev-carol-example-com")
    }, added
    assert len(added) == 10, sorted(added)


def test_removing_one_engineer_removes_only_theirs_and_keeps_their_folder_and_volume(
    project: SandboxProject, values: dict[str, Any], three: Evaluation
) -> None:
    after = project.evaluate(with_developers(values, developers(ALICE, SP)))
    changes = compare(three, after)
    assert {c.kind for c in changes} == {"remove"}, changes
    assert {c.name for c in changes} == {"dev-bob-example-com"} | {
        r.name for r in children(three, "dev-bob-example-com")
    }, sorted(c.name for c in changes)
    kept = sorted(r.name for r in children(three, "dev-bob-example-com") if r.retain_on_delete)
    assert kept == ["dev-bob-example-com-dev-volume", "dev-bob-example-com-folder"], kept


def test_admin_group_comes_from_developers_when_the_stack_has_no_access(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    changed = with_developers(values, {**developers(ALICE), "adminGroup": "dev-admins"})
    del changed["access"]
    evaluation = project.evaluate(changed)
    grants = evaluation.named("dev-alice-example-com-permissions").inputs["accessControls"]
    assert {"groupName": "dev-admins", "permissionLevel": "CAN_MANAGE"} in grants, grants
    assert len(grants) == 2, grants


def test_stack_without_developers_has_no_dev_resources(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    evaluation = project.evaluate(values)
    dev = [r.name for r in evaluation.resources.values() if r.name.startswith("dev-")]
    assert dev == [], dev
    assert "devClusters" not in evaluation.outputs, evaluation.outputs


def test_every_dev_input_is_a_provider_property(three: Evaluation) -> None:
    assert three.of_type(POLICY) and three.of_type(GRANT), "no policy or grant registered"
    assert schema_problems(three) == []


@pytest.mark.parametrize(
    ("host", "cloud_only"),
    [
        (
            "https://dbc-1.cloud.databricks.com",
            {
                "aws_attributes.instance_profile_arn",
                "docker_image.url",
                "init_scripts.*.s3.destination",
            },
        ),
        (
            "https://adb-1.2.azuredatabricks.net/",
            {"docker_image.url"},
        ),
        (
            "https://1.2.gcp.databricks.com",
            {"gcp_attributes.google_service_account", "init_scripts.*.gcs.destination"},
        ),
        ("http://127.0.0.1:8080", set()),
    ],
)
def test_policy_forbids_what_costs_money_or_runs_code_on_the_workspaces_cloud(
    project: SandboxProject, values: dict[str, Any], host: str, cloud_only: set[str]
) -> None:
    """The cloud comes from databricks:host; a path another cloud does not support would make
    the policy unusable there, so each cloud gets its own and an unknown host none of them."""
    config = to_pulumi_config(with_developers(values, developers(ALICE)))
    evaluation = evaluate({**config, "databricks:host": host}, "test", project.root)
    policy = policy_of(evaluation, ALICE)
    forbidden = {path for path, rule in policy.items() if rule["type"] == "forbidden"}
    common = {
        "driver_instance_pool_id",
        "init_scripts.*.file.destination",
        "init_scripts.*.volumes.destination",
        "init_scripts.*.workspace.destination",
        "instance_pool_id",
        "ssh_public_keys.*",
    }
    assert forbidden == common | cloud_only, sorted(forbidden)
    assert all(policy[path].get("hidden") for path in forbidden), policy
    assert policy["runtime_engine"] == {"type": "fixed", "value": "STANDARD", "hidden": True}
    cluster = evaluation.named(f"dev-{dev_slug(ALICE)}-cluster").inputs
    assert violations(policy, cluster) == [], cluster
    # An engineer's edit that adds any of them breaks the policy (what the workspace refuses).
    lifted = {
        **cluster,
        "initScripts": [{"workspace": {"destination": "/Users/alice@example.com/boot.sh"}}],
        "sshPublicKeys": ["ssh-ed25519 AAAA"],
        "runtimeEngine": "PHOTON",
    }
    assert violations(policy, lifted) == [
        "init_scripts.*.workspace.destination: set, policy forbids it",
        "runtime_engine: 'PHOTON', policy fixes 'STANDARD'",
        "ssh_public_keys.*: set, policy forbids it",
    ]


READER = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def test_the_read_only_principal_may_read_each_environment_and_nothing_more(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    """What a refresh by the stack's read-only principal reads, granted read-only: the cluster
    (CAN_ATTACH_TO, the lowest compute level: a single-user cluster runs nothing for it), the
    folder (CAN_READ) and the dev volume (READ VOLUME); never the policy (its only level,
    CAN_USE, creates clusters) and nothing that writes."""
    with_reader = with_developers(values, developers(ALICE, SP))
    with_reader["access"] = {**values["access"], "readOnlyIdentity": READER}
    evaluation = project.evaluate(with_reader)
    for user in (ALICE, SP):
        name = f"dev-{dev_slug(user)}"
        cluster = evaluation.named(f"{name}-permissions").inputs["accessControls"]
        assert {"servicePrincipalName": READER, "permissionLevel": "CAN_ATTACH_TO"} in cluster
        folder = evaluation.named(f"{name}-folder-permissions").inputs
        assert folder["accessControls"] == [
            {"servicePrincipalName": READER, "permissionLevel": "CAN_READ"}
        ], folder
        assert folder["directoryPath"] == f"/Users/{user}/etl-pipeline", folder
        assert f"{name}-folder" in evaluation.named(f"{name}-folder-permissions").dependencies
        volume = evaluation.named(f"{name}-dev-volume-grants").inputs["grants"]
        assert {"principal": READER, "privileges": ["READ_VOLUME"]} in volume, volume
        policy = evaluation.named(f"{name}-policy-permissions").inputs["accessControls"]
        assert all(READER not in control.values() for control in policy), policy
    granted = {
        control["permissionLevel"]
        for r in evaluation.of_type(PERMISSIONS)
        for control in r.inputs["accessControls"]
        if control.get("servicePrincipalName") == READER
    }
    assert granted <= {"CAN_ATTACH_TO", "CAN_READ", "CAN_VIEW"}, granted
    # Without a read-only principal, no folder permissions at all: the engineer's folder is theirs.
    assert not any(
        r.name.endswith("-folder-permissions")
        for r in project.evaluate(with_developers(values, developers(ALICE))).of_type(PERMISSIONS)
    )
