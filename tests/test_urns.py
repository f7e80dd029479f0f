"""Existing stacks keep their resources: every URN the program registered before the `BlueGreen`
component existed (recorded in `tests/data/urns-<stack>.txt`, for the stack files of that time in
`tests/data/stacks-v1/`) is either registered again or named
by an alias, so `pulumi up` moves those resources under the component instead of replacing them.

Aliases are resolved the way the engine resolves them: a resource's own alias specs (recorded by
the evaluator), and for a child, each of its parent's alias URNs with the child's type and name
appended (the engine's inherited child alias; parent names are unchanged here, so child names are
too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cicd.config import pulumi_config_map
from cicd.evaluation import Evaluation, evaluate
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("built_releases")
DATA = Path(__file__).resolve().parent / "data"


def _all_alias_urns(evaluation: Evaluation) -> dict[str, set[str]]:
    by_urn = {r.urn: r for r in evaluation.resources.values()}
    resolved: dict[str, set[str]] = {}

    def aliases_of(urn: str) -> set[str]:
        if urn in resolved:
            return resolved[urn]
        registration = by_urn[urn]
        urns = set(registration.aliases)
        if registration.parent_urn:
            for parent_alias in aliases_of(registration.parent_urn):
                prefix, chain, _ = parent_alias.rsplit("::", 2)
                urns.add(f"{prefix}::{chain}${registration.type}::{registration.name}")
        resolved[urn] = urns
        return urns

    return {urn: aliases_of(urn) for urn in by_urn}


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_resource_deployed_before_keeps_its_urn_or_an_alias(stack: str) -> None:
    before = set((DATA / f"urns-{stack}.txt").read_text().split())
    evaluation = evaluate(
        pulumi_config_map(DATA / "stacks-v1" / f"Pulumi.{stack}.yaml"), stack, REPO
    )
    aliases = _all_alias_urns(evaluation)
    reachable = set(aliases) | set().union(*aliases.values())
    lost = sorted(before - reachable)
    assert not lost, f"{len(lost)} resource(s) of stack {stack} would be replaced: {lost[:5]}"
    # The proof is not vacuous: the releases and the job did move under the component.
    moved = sorted(before - set(aliases))
    assert any("::release-" in urn for urn in moved), moved
    assert any(urn.endswith("::pipeline-job") for urn in moved), moved


def test_alias_resolution_would_catch_a_renamed_resource() -> None:
    evaluation = evaluate(pulumi_config_map(DATA / "stacks-v1" / "Pulumi.prod.yaml"), "prod", REPO)
    aliases = _all_alias_urns(evaluation)
    reachable = set(aliases) | set().union(*aliases.values())
    renamed = "urn:pulumi:prod::databricks-cicd::databricks-cicd:release:Release::release-0.9.0"
    assert renamed not in reachable
