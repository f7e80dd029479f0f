"""`python -m cicd.keep_dev_work`: the one-off state step that keeps engineers' notebooks and
dev builds in the workspace when the stack stops declaring them.

The export is built from the recorded URNs of the deployed staging stack
(`tests/data/urns-staging.txt`, what the program still registers, and
`tests/data/urns-staging-dev-work.txt`, the dev work it registered before and no longer does).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cicd.config import pulumi_config_map
from cicd.devloop.stack_state import mark_dev_work_retained
from cicd.evaluation import evaluate
from cicd.keep_dev_work import main
from tests.conftest import REPO
from tests.test_urns import _all_alias_urns

DATA = Path(__file__).resolve().parent / "data"
KEPT = (DATA / "urns-staging.txt").read_text().split()
DEV_WORK = (DATA / "urns-staging-dev-work.txt").read_text().split()


def _chain(urn: str) -> list[str]:
    return urn.split("::")[2].split("$")


def _parent(urn: str, candidates: list[str]) -> str | None:
    """The component a child URN was registered under: the longest-named candidate of the
    parent's type whose name starts the child's name."""
    chain = _chain(urn)
    if len(chain) < 2:
        return None
    name = urn.rsplit("::", 1)[1]
    parents = [
        c
        for c in candidates
        if _chain(c) == chain[:-1] and name.startswith(c.rsplit("::", 1)[1] + "-")
    ]
    return max(parents, key=len) if parents else None


def export_of(urns: list[str]) -> dict[str, Any]:
    """A `pulumi stack export` document (deployment v3) holding these resources."""
    resources = []
    for urn in urns:
        resource: dict[str, Any] = {"urn": urn, "custom": True, "type": _chain(urn)[-1]}
        parent = _parent(urn, urns)
        if parent:
            resource["parent"] = parent
        resources.append(resource)
    return {"version": 3, "deployment": {"manifest": {}, "resources": resources}}


@pytest.fixture
def export() -> dict[str, Any]:
    return export_of(KEPT + DEV_WORK)


def test_marks_exactly_the_dev_work_and_nothing_the_program_still_declares(
    export: dict[str, Any],
) -> None:
    assert len(DEV_WORK) == 15, DEV_WORK  # 3 engineers x (3 notebooks, 1 file, 1 wheel)
    before = copy.deepcopy(export)
    marked = mark_dev_work_retained(export)
    assert marked == sorted(DEV_WORK), marked
    pairs = zip(before["deployment"]["resources"], export["deployment"]["resources"], strict=True)
    for old, new in pairs:
        if new["urn"] in DEV_WORK:
            assert new == {**old, "retainOnDelete": True}, new
        else:
            assert new == old, f"{new['urn']} changed"
    assert mark_dev_work_retained(export) == [], "marking twice changed something"


@pytest.mark.usefixtures("built_releases")
def test_what_it_marks_is_what_the_next_deploy_would_delete() -> None:
    # The deployed stack the recorded URNs come from ran the staging file of its time.
    stack_file = REPO / "tests" / "data" / "stacks-v1" / "Pulumi.staging.yaml"
    evaluation = evaluate(pulumi_config_map(stack_file), "staging", REPO)
    aliases = _all_alias_urns(evaluation)
    declared = set(aliases) | set().union(*aliases.values())  # by URN or by alias
    marked = mark_dev_work_retained(export_of(KEPT + DEV_WORK))
    assert declared.isdisjoint(marked), sorted(declared & set(marked))
    # Everything else of the deployed stack is still declared: nothing else would be deleted.
    assert set(KEPT) <= declared, sorted(set(KEPT) - declared)[:5]


def test_file_mode_edits_the_export_and_prints_the_import(
    tmp_path: Path, export: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(export))
    assert main(["--stack", "staging", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "15 resource(s) of engineers' dev work marked retainOnDelete" in out, out
    assert f"now run: pulumi stack import --stack staging --file {path}" in out, out
    edited = json.loads(path.read_text())["deployment"]["resources"]
    assert sorted(r["urn"] for r in edited if r.get("retainOnDelete")) == sorted(DEV_WORK)
    assert main(["--stack", "staging", "--file", str(path)]) == 0
    assert "nothing changed" in capsys.readouterr().out
