"""`databricks-cicd:developers` validation: each bad input fails with its key path, the value seen
and the fix, before anything registers. No Pulumi runtime: `parse_stack_config` only."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cicd.config import ConfigError, StackConfig, dev_slug, parse_stack_config, stack_file_values
from tests.conftest import REPO, base_values

ALICE = "alice@example.com"
BOB = "bob@example.com"
SP = "807a2304-3287-4420-b267-711de70a6685"
KEY = "databricks-cicd:developers"


def developers(*engineers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "defaults": {
            "sparkVersion": "15.4.x-scala2.12",
            "nodeType": "i3.xlarge",
            "numWorkers": 0,
            "autoterminationMinutes": 30,
        },
        "caps": {"maxWorkers": 2, "maxAutoterminationMinutes": 120},
        "engineers": list(engineers) or [{"user": ALICE}, {"user": BOB}],
        **extra,
    }


def with_developers(dev: dict[str, Any], **top: Any) -> dict[str, Any]:
    values = copy.deepcopy(base_values())
    values["developers"] = dev
    values.update(top)
    return values


def parse(dev: dict[str, Any], **top: Any) -> StackConfig:
    return parse_stack_config(with_developers(dev, **top))


def problems(dev: dict[str, Any], **top: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(dev, **top)
    return caught.value.problems


def only_problem(dev: dict[str, Any], **top: Any) -> str:
    found = problems(dev, **top)
    assert len(found) == 1, f"expected one problem, got {found}"
    return found[0]


def test_a_valid_list_parses_with_defaults_and_overrides_applied() -> None:
    config = parse(
        developers(
            {"user": ALICE},
            {
                "user": BOB,
                "overrides": {
                    "nodeType": "m5.large",
                    "autoscale": {"minWorkers": 1, "maxWorkers": 2},
                    "sparkVersion": "14.3.x-scala2.12",
                    "autoterminationMinutes": 60,
                },
            },
        )
    )
    dev = config.developers
    assert dev is not None
    alice, bob = (dev.cluster_for(e) for e in dev.engineers)
    assert (alice.node_type, alice.num_workers, alice.autoscale, alice.autotermination_minutes) == (
        "i3.xlarge",
        0,
        None,
        30,
    ), f"alice's cluster: {alice}"
    assert (bob.node_type, bob.num_workers, bob.spark_version, bob.autotermination_minutes) == (
        "m5.large",
        None,
        "14.3.x-scala2.12",
        60,
    ), f"bob's cluster: {bob}"
    assert bob.autoscale is not None and bob.autoscale.max_workers == 2, (
        f"bob's autoscale: {bob.autoscale}"
    )


def test_autotermination_defaults_to_30_minutes() -> None:
    dev = developers({"user": ALICE})
    del dev["defaults"]["autoterminationMinutes"]
    config = parse(dev)
    assert config.developers is not None
    minutes = config.developers.cluster_for(config.developers.engineers[0]).autotermination_minutes
    assert minutes == 30, f"default autoterminationMinutes: {minutes}"


@pytest.mark.parametrize(
    "user, slug",
    [
        (ALICE, "alice-example-com"),
        ("Alice.Smith+dev@Example.CO.uk", "alice-smith-dev-example-co-uk"),
        (SP, SP),
        (SP.upper(), SP),
    ],
)
def test_slug_is_derived_from_the_user_alone(user: str, slug: str) -> None:
    assert dev_slug(user) == slug, f"dev_slug({user!r}) = {dev_slug(user)!r}"


@pytest.mark.parametrize("user", ["alice", "alice@example", "not a uuid-1234", "", "@example.com"])
def test_user_that_is_neither_an_email_nor_a_service_principal_id_is_refused(user: str) -> None:
    message = only_problem(developers({"user": ALICE}, {"user": user}))
    assert message.startswith(f"{KEY}.engineers[1].user: "), message
    assert repr(user) in message, message
    assert "neither an e-mail address nor a service principal's application id" in message, message
    assert "'alice@example.com'" in message, message  # the fix shows the expected form


def test_bare_string_entry_is_refused_with_the_mapping_form() -> None:
    message = only_problem(developers({"user": ALICE}, BOB))  # type: ignore[arg-type]
    assert message == f"{KEY}.engineers[1]: write the entry as a mapping: '- user: {BOB}'", message


def test_duplicate_user_is_refused_case_insensitively() -> None:
    message = only_problem(
        developers({"user": ALICE}, {"user": BOB}, {"user": "Alice@Example.COM"})
    )
    assert message.startswith(
        f"{KEY}.engineers[2].user: 'Alice@Example.COM' is already listed as"
        " engineers[0] ('alice@example.com'"
    ), message
    assert "case-insensitive" in message and "list each engineer once" in message, message


def test_two_users_with_the_same_slug_are_refused() -> None:
    message = only_problem(developers({"user": "a.b@example.com"}, {"user": "a-b@example.com"}))
    assert message.startswith(f"{KEY}.engineers[1].user: 'a-b@example.com' and engineers[0]"), (
        message
    )
    assert "'a-b-example-com'" in message, message


def test_workers_above_the_cap_are_refused_in_overrides_and_defaults() -> None:
    dev = developers(
        {"user": ALICE, "overrides": {"numWorkers": 3}},
        {"user": BOB, "overrides": {"autoscale": {"minWorkers": 1, "maxWorkers": 5}}},
    )
    dev["defaults"]["numWorkers"] = 4
    found = problems(dev)
    assert len(found) == 3, found
    assert found[0].startswith(
        f"{KEY}.defaults.numWorkers: numWorkers 4 for the defaults is above caps.maxWorkers 2"
    ), found[0]
    assert found[1].startswith(
        f"{KEY}.engineers[0].overrides.numWorkers: numWorkers 3 for"
        f" {ALICE} is above caps.maxWorkers 2"
    ), found[1]
    assert "use at most 2" in found[1], found[1]
    assert found[2].startswith(
        f"{KEY}.engineers[1].overrides.autoscale.maxWorkers: autoscale.maxWorkers"
        f" 5 for {BOB} is above caps.maxWorkers 2"
    ), found[2]


def test_a_raised_cap_admits_a_bigger_cluster() -> None:
    dev = developers({"user": ALICE, "overrides": {"numWorkers": 3}})
    dev["caps"]["maxWorkers"] = 3
    config = parse(dev)
    assert config.developers is not None
    assert config.developers.cluster_for(config.developers.engineers[0]).num_workers == 3


@pytest.mark.parametrize("where", ["defaults", "overrides"])
def test_autotermination_zero_is_refused(where: str) -> None:
    dev = developers(
        {"user": ALICE, "overrides": {"autoterminationMinutes": 0}}
        if where == "overrides"
        else {"user": ALICE}
    )
    if where == "defaults":
        dev["defaults"]["autoterminationMinutes"] = 0
    path = "defaults" if where == "defaults" else "engineers[0].overrides"
    message = only_problem(dev)
    assert message.startswith(
        f"{KEY}.{path}.autoterminationMinutes: autoterminationMinutes 0"
        " switches automatic termination off"
    ), message
    assert "10 or more" in message, message


def test_autotermination_below_the_databricks_minimum_is_refused() -> None:
    message = only_problem(developers({"user": ALICE, "overrides": {"autoterminationMinutes": 5}}))
    assert message.startswith(
        f"{KEY}.engineers[0].overrides.autoterminationMinutes:"
        " autoterminationMinutes 5 is below Databricks' minimum of 10"
    ), message


def test_autotermination_above_the_cap_is_refused() -> None:
    message = only_problem(
        developers({"user": ALICE}, {"user": BOB, "overrides": {"autoterminationMinutes": 121}})
    )
    assert message.startswith(
        f"{KEY}.engineers[1].overrides.autoterminationMinutes:"
        f" autoterminationMinutes 121 for {BOB} is above"
        " caps.maxAutoterminationMinutes 120"
    ), message
    assert "use 120 or less" in message, message


def test_unknown_override_key_is_refused_by_name() -> None:
    message = only_problem(developers({"user": ALICE, "overrides": {"nodeTyp": "m5.large"}}))
    assert message.startswith(
        f"{KEY}.engineers[0].overrides: unknown key 'nodeTyp' (did you mean 'nodeType'?)"
    ), message
    assert "autoscale, autoterminationMinutes, nodeType, numWorkers, sparkVersion" in message, (
        message
    )


def test_unknown_key_at_the_top_of_developers_is_refused() -> None:
    message = only_problem(developers({"user": ALICE}, cap={"maxWorkers": 1}))
    assert message.startswith(f"{KEY}: unknown key 'cap' (did you mean 'caps'?)"), message


def test_both_sizes_in_one_override_are_refused() -> None:
    message = only_problem(
        developers(
            {
                "user": ALICE,
                "overrides": {"numWorkers": 1, "autoscale": {"minWorkers": 1, "maxWorkers": 2}},
            }
        )
    )
    assert message.startswith(
        f"{KEY}.engineers[0].overrides: give numWorkers or autoscale, not both"
    ), message


def test_bad_spark_version_override_is_refused() -> None:
    message = only_problem(developers({"user": ALICE, "overrides": {"sparkVersion": "15.4"}}))
    assert message.startswith(
        f"{KEY}.engineers[0].overrides.sparkVersion: sparkVersion '15.4' is not"
        " a Databricks runtime key"
    ), message


DBFS_STACK = {
    "artifactStore": {"kind": "dbfs", "root": "/FileStore/etl-pipeline"},
}


def dbfs_top() -> dict[str, Any]:
    job = copy.deepcopy(base_values()["job"])
    job["cluster"]["sparkVersion"] = "14.3.x-scala2.12"
    return {**DBFS_STACK, "job": job}


def test_dbfs_store_refuses_a_dev_override_on_runtime_15() -> None:
    dev = developers(
        {"user": ALICE}, {"user": BOB, "overrides": {"sparkVersion": "15.4.x-scala2.12"}}
    )
    dev["defaults"]["sparkVersion"] = "14.3.x-scala2.12"
    message = only_problem(dev, **dbfs_top())
    assert message.startswith(
        f"{KEY}.engineers[1].overrides.sparkVersion: artifactStore.kind 'dbfs'"
        f" cannot serve the dev cluster of {BOB} (sparkVersion"
        " '15.4.x-scala2.12')"
    ), message
    assert "kind: volume" in message and "below 15" in message, message


def test_dbfs_store_refuses_dev_defaults_on_runtime_15_naming_who_uses_them() -> None:
    dev = developers(
        {"user": ALICE}, {"user": BOB, "overrides": {"sparkVersion": "14.3.x-scala2.12"}}
    )
    message = only_problem(dev, **dbfs_top())
    assert message.startswith(
        f"{KEY}.defaults.sparkVersion: artifactStore.kind 'dbfs' cannot serve"
        f" the dev clusters of {ALICE} (sparkVersion"
    ), message
    assert BOB not in message, message


def test_dbfs_store_accepts_dev_clusters_below_runtime_15() -> None:
    dev = developers({"user": ALICE})
    dev["defaults"]["sparkVersion"] = "14.3.x-scala2.12"
    assert parse(dev, **dbfs_top()).developers is not None


def test_admin_group_is_required_when_the_stack_has_no_access_block() -> None:
    values = with_developers(developers({"user": ALICE}))
    del values["access"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    assert caught.value.problems == [
        f"{KEY}.adminGroup: is missing: the group that manages dev clusters comes from"
        " access.adminGroup, and this stack has no access block; set developers.adminGroup,"
        " e.g. 'etl-admins'"
    ], caught.value.problems
    values["developers"]["adminGroup"] = "dev-admins"
    dev = parse_stack_config(values).developers
    assert dev is not None and dev.admin_group_in(None) == "dev-admins"


def test_developers_admin_group_overrides_access() -> None:
    config = parse(developers({"user": ALICE}, adminGroup="dev-admins"))
    assert config.developers is not None
    assert config.developers.admin_group_in(config.access) == "dev-admins"
    config = parse(developers({"user": ALICE}))
    assert config.developers is not None
    assert config.developers.admin_group_in(config.access) == "etl-admins"


def test_staging_lists_three_engineers_one_a_service_principal() -> None:
    config = parse_stack_config(stack_file_values(REPO / "Pulumi.staging.yaml"))
    assert config.developers is not None, "Pulumi.staging.yaml has no databricks-cicd:developers"
    users = [e.user for e in config.developers.engineers]
    assert len(users) == 3, users
    assert {ALICE, BOB} <= set(users), users
    assert sum(e.is_service_principal for e in config.developers.engineers) == 1, users


def test_builtin_admins_group_cannot_manage_dev_clusters() -> None:
    values = base_values()
    values["developers"] = {
        "adminGroup": "admins",
        "defaults": {"sparkVersion": "15.4.x-scala2.12", "nodeType": "i3.xlarge", "numWorkers": 0},
        "engineers": [{"user": "alice@example.com"}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    assert any(
        "developers.adminGroup" in p and "dedicated group" in p for p in caught.value.problems
    ), caught.value.problems


def test_dev_locations_are_per_engineer_and_apart_from_releases() -> None:
    from cicd.config import ArtifactStore, DevEngineer, dev_location

    alice = DevEngineer.model_validate({"user": ALICE})
    volume = dev_location(
        ArtifactStore.model_validate({"kind": "volume", "root": "/Volumes/c/s/artifacts/etl"}),
        alice,
        "etl-pipeline",
    )
    assert (volume.path, volume.volume_full_name) == (
        "/Volumes/c/s/dev_alice_example_com",
        "c.s.dev_alice_example_com",
    ), volume
    workspace = dev_location(
        ArtifactStore.model_validate({"kind": "workspace", "root": "/Shared/etl/artifacts"}),
        alice,
        "etl-pipeline",
    )
    assert (workspace.path, workspace.volume) == (f"/Users/{ALICE}/etl-pipeline-dev-builds", None)
    dbfs = dev_location(
        ArtifactStore.model_validate({"kind": "dbfs", "root": "/FileStore/etl"}), alice, "p"
    )
    assert dbfs.path == "/FileStore/etl/dev/alice-example-com", dbfs
