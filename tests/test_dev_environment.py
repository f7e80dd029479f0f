"""`DevEnvironment`: the real program under Pulumi's mocks, in a sandbox with hand-made dev builds.

Each listed engineer gets exactly a cluster, its permissions, their notebooks and their library,
with the right inputs and parents; nobody else is granted their cluster; reordering the list
registers identical resources; adding or removing one engineer changes only theirs.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest

from cicd.config import dev_slug
from cicd.evaluation import Change, Evaluation, compare
from tests.conftest import PY_NOTEBOOK, SQL_NOTEBOOK, SandboxProject
from tests.test_provider_schema import schema_problems

COMPONENT = "databricks-cicd:dev_environment:DevEnvironment"
CLUSTER = "databricks:index/cluster:Cluster"
PERMISSIONS = "databricks:index/permissions:Permissions"
NOTEBOOK = "databricks:index/notebook:Notebook"
WORKSPACE_FILE = "databricks:index/workspaceFile:WorkspaceFile"
VOLUME_FILE = "databricks:index/file:File"
DBFS_FILE = "databricks:index/dbfsFile:DbfsFile"

ALICE = "alice@example.com"
BOB = "bob@example.com"
SP = "807a2304-3287-4420-b267-711de70a6685"
CAROL = "carol@example.com"
WHEEL = "etl_pipeline-0.0.0.dev1-py3-none-any.whl"
ARTIFACTS = "/Volumes/prod/etl/artifacts"  # base_values()' artifact store


def add_dev_build(sandbox: SandboxProject, user: str, wheel: bytes | None = None) -> Path:
    """What `python -m cicd.dev_build` writes: dist/dev/<slug>/{notebooks,libraries}/."""
    folder = sandbox.root / "dist" / "dev" / dev_slug(user)
    files = {
        "notebooks/main.py": PY_NOTEBOOK.format(f"dev {user}"),
        "notebooks/transforms/clean_orders.sql": SQL_NOTEBOOK.format(user),
        "notebooks/config/defaults.json": '{"env": "dev"}',
    }
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    (folder / "libraries").mkdir(parents=True, exist_ok=True)
    (folder / "libraries" / WHEEL).write_bytes(
        wheel if wheel is not None else f"wheel of {user}".encode()
    )
    return folder


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
    for user in (ALICE, BOB, SP, CAROL):
        add_dev_build(sandbox, user)
    return sandbox


@pytest.fixture
def three(project: SandboxProject, values: dict[str, Any]) -> Evaluation:
    return project.evaluate(with_developers(values, developers(ALICE, BOB, SP)))


def children(evaluation: Evaluation, component: str) -> list[Any]:
    return [r for r in evaluation.resources.values() if r.parent == component]


def sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def test_each_engineer_gets_exactly_a_cluster_permissions_notebooks_and_a_library(
    three: Evaluation,
) -> None:
    components = {r.name: r for r in three.of_type(COMPONENT)}
    assert set(components) == {f"dev-{dev_slug(u)}" for u in (ALICE, BOB, SP)}, sorted(components)
    for user in (ALICE, BOB, SP):
        name = f"dev-{dev_slug(user)}"
        assert components[name].parent is None, f"{name}: parent {components[name].parent!r}"
        kids = children(three, name)
        kinds = Counter(r.type for r in kids)
        assert kinds == {
            CLUSTER: 1,
            PERMISSIONS: 1,
            NOTEBOOK: 2,
            WORKSPACE_FILE: 1,
            VOLUME_FILE: 1,
        }, f"{name}: children {dict(kinds)}"
        assert {r.name for r in kids} == {
            f"{name}-cluster",
            f"{name}-permissions",
            f"{name}-notebook-main",
            f"{name}-notebook-transforms/clean_orders",
            f"{name}-file-config/defaults.json",
            f"{name}-library-{WHEEL}",
        }, f"{name}: children {sorted(r.name for r in kids)}"


def test_cluster_is_single_user_small_named_and_tagged_after_its_owner(three: Evaluation) -> None:
    for user in (ALICE, SP):
        slug = dev_slug(user)
        cluster = three.named(f"dev-{slug}-cluster")
        inputs = cluster.inputs
        expected = {
            "clusterName": f"etl-pipeline-dev-{slug}",
            "dataSecurityMode": "SINGLE_USER",
            "singleUserName": user,
            "autoterminationMinutes": 30,
            "isPinned": True,
            "sparkVersion": "15.4.x-scala2.12",
            "nodeTypeId": "i3.xlarge",
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
        assert "autoscale" not in inputs, f"{cluster.name}: autoscale {inputs['autoscale']!r}"


def test_permissions_grant_the_owner_and_the_admin_group_only(three: Evaluation) -> None:
    for user, principal_key in (
        (ALICE, "userName"),
        (BOB, "userName"),
        (SP, "servicePrincipalName"),
    ):
        name = f"dev-{dev_slug(user)}"
        permissions = three.named(f"{name}-permissions")
        grants = permissions.inputs["accessControls"]
        assert sorted(grants, key=str) == sorted(
            [
                {"groupName": "etl-admins", "permissionLevel": "CAN_MANAGE"},
                {principal_key: user, "permissionLevel": "CAN_RESTART"},
            ],
            key=str,
        ), f"{permissions.name}: accessControls {grants}"
        assert f"{name}-cluster" in permissions.dependencies, (
            f"{permissions.name}: dependencies {permissions.dependencies}"
        )
    # Nobody else is granted anything on a dev cluster: one Permissions per cluster, and no
    # other resource's grants name a dev cluster.
    cluster_ids = {
        r.inputs["clusterId"] for r in three.of_type(PERMISSIONS) if "clusterId" in r.inputs
    }
    on_clusters = [r.name for r in three.of_type(PERMISSIONS) if "clusterId" in r.inputs]
    assert sorted(on_clusters) == sorted(
        f"dev-{dev_slug(u)}-permissions" for u in (ALICE, BOB, SP)
    ), on_clusters
    assert len(cluster_ids) == 3, f"clusterIds granted: {cluster_ids}"


def test_permissions_point_at_their_own_cluster(three: Evaluation) -> None:
    ids = three.outputs["devClusters"]
    assert set(ids) == {ALICE, BOB, SP}, f"devClusters: {ids}"
    for user in (ALICE, BOB, SP):
        granted = three.named(f"dev-{dev_slug(user)}-permissions").inputs["clusterId"]
        assert granted == ids[user], (
            f"dev-{dev_slug(user)}-permissions: clusterId {granted!r}, cluster {ids[user]!r}"
        )
    assert len(set(ids.values())) == 3, ids


def test_personal_folder_holds_the_dev_build_notebooks_by_release_rules(three: Evaluation) -> None:
    for user in (ALICE, SP):
        slug = dev_slug(user)
        main = three.named(f"dev-{slug}-notebook-main")
        assert main.inputs["path"] == f"/Users/{user}/etl-pipeline/main", (
            f"{main.name}: {main.inputs['path']!r}"
        )
        assert main.inputs["language"] == "PYTHON", f"{main.name}: {main.inputs['language']!r}"
        assert main.inputs["source"] == f"dist/dev/{slug}/notebooks/main.py", (
            f"{main.name}: {main.inputs['source']!r}"
        )
        sql = three.named(f"dev-{slug}-notebook-transforms/clean_orders")
        assert (sql.inputs["path"], sql.inputs["language"]) == (
            f"/Users/{user}/etl-pipeline/transforms/clean_orders",
            "SQL",
        ), f"{sql.name}: {sql.inputs}"
        data = three.named(f"dev-{slug}-file-config/defaults.json")
        assert data.type == WORKSPACE_FILE, f"{data.name}: {data.type}"
        assert data.inputs["path"] == f"/Users/{user}/etl-pipeline/config/defaults.json", (
            data.inputs
        )
        for upload in (main, sql, data):
            assert upload.delete_before_replace, f"{upload.name}: delete_before_replace not set"


def test_library_goes_to_a_per_user_content_addressed_path_and_onto_the_cluster(
    project: SandboxProject, three: Evaluation
) -> None:
    for user in (ALICE, BOB):
        slug = dev_slug(user)
        data = (project.root / "dist" / "dev" / slug / "libraries" / WHEEL).read_bytes()
        upload = three.named(f"dev-{slug}-library-{WHEEL}")
        path = f"{ARTIFACTS}/dev/{slug}/{sha16(data)}/{WHEEL}"
        assert upload.inputs["path"] == path, f"{upload.name}: path {upload.inputs['path']!r}"
        assert upload.inputs["source"] == f"dist/dev/{slug}/libraries/{WHEEL}", upload.inputs[
            "source"
        ]
        assert upload.delete_before_replace, f"{upload.name}: delete_before_replace not set"
        cluster = three.named(f"dev-{slug}-cluster")
        assert cluster.inputs["libraries"] == [{"whl": path}], (
            f"{cluster.name}: libraries {cluster.inputs['libraries']}"
        )
        assert upload.name in cluster.dependencies, (
            f"{cluster.name}: dependencies {cluster.dependencies}"
        )


def test_a_new_build_gets_a_new_path_and_touches_only_its_owner(
    project: SandboxProject, values: dict[str, Any], three: Evaluation
) -> None:
    second = b"alice's second build"
    add_dev_build(project, ALICE, wheel=second)
    after = project.evaluate(with_developers(values, developers(ALICE, BOB, SP)))
    changes = compare(three, after)
    slug = dev_slug(ALICE)
    assert changes == [
        Change("change", CLUSTER, f"dev-{slug}-cluster", ("libraries",)),
        Change("change", VOLUME_FILE, f"dev-{slug}-library-{WHEEL}", ("path",)),
    ], changes
    new_path = after.named(f"dev-{slug}-library-{WHEEL}").inputs["path"]
    assert new_path == f"{ARTIFACTS}/dev/{slug}/{sha16(second)}/{WHEEL}", new_path
    old_path = three.named(f"dev-{slug}-library-{WHEEL}").inputs["path"]
    assert new_path != old_path, f"a new build reuses {old_path}"


def test_overrides_apply_to_that_engineer_only(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    bob = {
        "nodeType": "m5.large",
        "autoscale": {"minWorkers": 1, "maxWorkers": 2},
        "sparkVersion": "14.3.x-scala2.12",
        "autoterminationMinutes": 60,
    }
    evaluation = project.evaluate(
        with_developers(values, developers(ALICE, BOB, **{dev_slug(BOB): bob}))
    )
    cluster = evaluation.named(f"dev-{dev_slug(BOB)}-cluster").inputs
    assert (cluster["nodeTypeId"], cluster["sparkVersion"], cluster["autoterminationMinutes"]) == (
        "m5.large",
        "14.3.x-scala2.12",
        60,
    ), f"dev-bob-example-com-cluster: {cluster}"
    assert cluster["autoscale"] == {"minWorkers": 1, "maxWorkers": 2}, cluster["autoscale"]
    assert "numWorkers" not in cluster and "sparkConf" not in cluster, (
        f"single-node settings left: {cluster}"
    )
    assert cluster["customTags"] == {"Owner": BOB, "pipeline": "etl-pipeline"}, cluster[
        "customTags"
    ]
    alice = evaluation.named(f"dev-{dev_slug(ALICE)}-cluster").inputs
    assert (alice["nodeTypeId"], alice["numWorkers"], alice["autoterminationMinutes"]) == (
        "i3.xlarge",
        0,
        30,
    ), alice


def test_reordering_engineers_registers_identical_resources(
    project: SandboxProject, values: dict[str, Any], three: Evaluation
) -> None:
    reordered = project.evaluate(with_developers(values, developers(SP, BOB, ALICE)))
    assert compare(three, reordered) == []
    assert reordered.outputs["devClusters"] == three.outputs["devClusters"], reordered.outputs[
        "devClusters"
    ]


def test_adding_one_engineer_adds_only_their_resources(
    project: SandboxProject, values: dict[str, Any], three: Evaluation
) -> None:
    after = project.evaluate(with_developers(values, developers(ALICE, CAROL, BOB, SP)))
    changes = compare(three, after)
    others = [
        c for c in changes if c.kind != "add" or not c.name.startswith("dev-carol-example-com")
    ]
    assert others == [], f"changes beyond carol's additions: {others}"
    added = {c.name for c in changes}
    assert added == {"dev-carol-example-com"} | {
        r.name for r in children(after, "dev-carol-example-com")
    }, added
    assert len(added) == 7, sorted(added)


def test_removing_one_engineer_removes_only_their_resources(
    project: SandboxProject, values: dict[str, Any], three: Evaluation
) -> None:
    after = project.evaluate(with_developers(values, developers(ALICE, SP)))
    changes = compare(three, after)
    others = [
        c for c in changes if c.kind != "remove" or not c.name.startswith("dev-bob-example-com")
    ]
    assert others == [], f"changes beyond bob's removals: {others}"
    assert {c.name for c in changes} == {"dev-bob-example-com"} | {
        r.name for r in children(three, "dev-bob-example-com")
    }, sorted(c.name for c in changes)


def test_missing_dev_build_fails_before_anything_registers(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    dave = "dave@example.com"
    recorded = Evaluation()
    with pytest.raises(pulumi.RunError) as caught:
        project.evaluate(with_developers(values, developers(ALICE, dave)), into=recorded)
    message = str(caught.value)
    assert (
        "dist/dev/dave-example-com/libraries: no dev build (wheel) for dave@example.com" in message
    ), message
    assert f"`python -m cicd.dev_build --stack test --user {dave}`" in message, message
    assert recorded.resources == {}, (
        f"registered before the error: {sorted(n for _, n in recorded.resources)}"
    )


def test_admin_group_comes_from_developers_when_the_stack_has_no_access(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    changed = with_developers(values, {**developers(ALICE), "adminGroup": "dev-admins"})
    del changed["access"]
    evaluation = project.evaluate(changed)
    grants = evaluation.named("dev-alice-example-com-permissions").inputs["accessControls"]
    assert {"groupName": "dev-admins", "permissionLevel": "CAN_MANAGE"} in grants, grants
    assert len(grants) == 2, grants


def test_dbfs_store_uploads_to_dbfs_and_installs_from_a_dbfs_uri(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    changed = with_developers(values, developers(ALICE))
    changed["developers"]["defaults"]["sparkVersion"] = "14.3.x-scala2.12"
    changed["artifactStore"] = {"kind": "dbfs", "root": "/FileStore/etl-pipeline"}
    changed["job"]["cluster"]["sparkVersion"] = "14.3.x-scala2.12"
    evaluation = project.evaluate(changed)
    upload = evaluation.named(f"dev-alice-example-com-library-{WHEEL}")
    assert upload.type == DBFS_FILE, f"{upload.name}: {upload.type}"
    path = f"/FileStore/etl-pipeline/dev/alice-example-com/{sha16(f'wheel of {ALICE}'.encode())}/{WHEEL}"
    assert upload.inputs["path"] == path, upload.inputs["path"]
    libraries = evaluation.named("dev-alice-example-com-cluster").inputs["libraries"]
    assert libraries == [{"whl": f"dbfs:{path}"}], libraries


def test_stack_without_developers_has_no_dev_resources(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    evaluation = project.evaluate(values)
    dev = [r.name for r in evaluation.resources.values() if r.name.startswith("dev-")]
    assert dev == [], dev
    assert "devClusters" not in evaluation.outputs, evaluation.outputs


def test_every_dev_input_is_a_provider_property(three: Evaluation) -> None:
    assert three.of_type(CLUSTER), "no clusters registered"
    assert schema_problems(three) == []
