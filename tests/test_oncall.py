"""The on-call path has no dead end (docs/on-call.md): from every state the tools leave (after a
promotion, a candidate the gate refused, a rollback, a second rollback, a retire) the runbook's
command for that situation moves forward, and what it writes passes the pull request's checks
(the retention guard against the base file, `check-lock`) and is deployed as the runbook says
(the switch plan against the outputs of the previous deploy: a rollback is never gated).

A "deploy" here evaluates the real program on the merged file and keeps its outputs, as
`pulumi up` would leave them; a refused candidate deploys only the staged file (the candidate
published, the job unchanged), as the prod gate does.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cicd.config import pulumi_config_map, read_stack_file, transition_problems
from cicd.evaluation import evaluate
from cicd.promote import main
from cicd.promotion.edits import stage_candidate
from cicd.promotion.switch import NONE, PROMOTION, ROLLBACK, plan_switch
from cicd.releases.lock import LOCK_FILE, check_lock_grows
from tests.conftest import REPO, SandboxProject

RUNBOOK = REPO / "docs" / "on-call.md"


@dataclass
class Prod:
    """The prod stack file on `main`, and what the last deploy left (its outputs)."""

    project: SandboxProject
    base: str = ""  # the stack file as merged last
    outputs: dict[str, object] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.project.root / "Pulumi.prod.yaml"

    def run(self, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        code = main([*argv, "--stack", "prod"], project_dir=self.project.root)
        out, err = capsys.readouterr()
        return code, out + err

    def merge(self) -> str:
        """The pull request's checks, then merge: returns the switch the prod deploy plans."""
        before = read_stack_file_text(self.base, self.project.root)
        after = read_stack_file(self.path)
        problems = transition_problems(before.releases, after.releases)
        assert not problems, f"the offline preview --base would refuse: {problems}"
        check_lock_grows(self.project.root / "base.lock.yaml", self.project.root / LOCK_FILE)
        self.base = self.path.read_text()
        return plan_switch(after, self.outputs).kind

    def deploy(self) -> None:
        evaluation = evaluate(pulumi_config_map(self.path), "prod", self.project.root)
        self.outputs = dict(evaluation.outputs)

    def deploy_refused_candidate(self) -> None:
        """The gate staged the candidate, `pulumi up` published it, its run failed: the job
        stays; the committed file is put back (not deployed)."""
        live, target = self.outputs["liveRelease"], self.outputs.get("rollbackTarget")
        edit = stage_candidate(self.base, "Pulumi.prod.yaml", str(live), str(target))
        staged = self.project.root / "staged.yaml"
        staged.write_text(edit.after)
        evaluation = evaluate(pulumi_config_map(staged), "prod", self.project.root)
        assert evaluation.outputs["liveRelease"] == live
        self.outputs = dict(evaluation.outputs)

    @property
    def config(self) -> tuple[str, str | None, list[str]]:
        releases = read_stack_file(self.path).releases
        return releases.live, releases.effective_rollback_target, releases.versions


def read_stack_file_text(text: str, root: Path) -> object:
    scratch = root / "base.yaml"
    scratch.write_text(text)
    return read_stack_file(scratch)


@pytest.fixture
def prod(sandbox: SandboxProject) -> Prod:
    """Prod as in the repo (kept 1.2.0 and 1.3.0, live 1.3.0) deployed; 1.4.0 and 1.5.0 built."""
    shutil.copy(REPO / "Pulumi.prod.yaml", sandbox.root / "Pulumi.prod.yaml")
    for version in ("1.2.0", "1.3.0", "1.4.0", "1.5.0"):
        sandbox.add_release(version)
    shutil.copy(sandbox.root / LOCK_FILE, sandbox.root / "base.lock.yaml")
    state = Prod(sandbox, base=(sandbox.root / "Pulumi.prod.yaml").read_text())
    state.deploy()
    return state


def test_the_runbook_names_every_command_these_sequences_use() -> None:
    text = RUNBOOK.read_text()
    for command in (
        "python -m cicd.promote VERSION --stack prod",
        "python -m cicd.promote --rollback --stack prod",
        "python -m cicd.promote --abandon --stack prod",
        "python -m cicd.promote --retire --stack prod",
        "python -m cicd.gate restore --stack prod",
    ):
        assert command in text, f"{RUNBOOK} does not say when to run `{command}`"


def test_rollback_rollback_again_then_fix_forward(
    prod: Prod, capsys: pytest.CaptureFixture[str]
) -> None:
    assert prod.run("1.4.0", "--allow-unverified", "t", capsys=capsys)[0] == 0
    assert prod.merge() == PROMOTION
    prod.deploy()
    # The release misbehaves: roll back. The target moves back too, so the next is a rollback.
    assert prod.run("--rollback", capsys=capsys)[0] == 0
    assert prod.config[:2] == ("1.3.0", "1.2.0"), prod.config
    assert prod.merge() == ROLLBACK
    prod.deploy()
    # Still bad (the fault came earlier): roll back again, still not gated.
    code, said = prod.run("--rollback", capsys=capsys)
    assert code == 0, said
    assert prod.config[:2] == ("1.2.0", "1.2.0"), prod.config
    assert prod.merge() == ROLLBACK, "a second rollback must not need a staging run"
    prod.deploy()
    # Nothing older: refused, naming the way forward; that way works.
    code, said = prod.run("--rollback", capsys=capsys)
    assert code == 1 and "promote a fixed release (`python -m cicd.promote VERSION`)" in said
    code, said = prod.run("--retire", capsys=capsys)
    assert code == 0 and "kept 1.3.0: live 1.2.0 is its own rollback target" in said, said
    assert prod.config[2] == ["1.2.0", "1.3.0"], prod.config
    assert prod.merge() == NONE
    prod.deploy()
    assert prod.run("1.5.0", "--allow-unverified", "fix", capsys=capsys)[0] == 0
    assert prod.config[:2] == ("1.5.0", "1.2.0"), prod.config
    assert prod.merge() == PROMOTION


def test_a_refused_candidate_is_abandoned_then_retired_then_replaced(
    prod: Prod, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = (prod.project.root / LOCK_FILE).read_bytes()
    assert prod.run("1.4.0", "--allow-unverified", "t", capsys=capsys)[0] == 0
    assert prod.merge() == PROMOTION
    prod.deploy_refused_candidate()
    assert prod.outputs["liveRelease"] == "1.3.0"
    # `main` says 1.4.0; production runs 1.3.0. Abandon: the file says 1.3.0 again.
    code, said = prod.run("--abandon", capsys=capsys)
    assert code == 0, said
    assert "then `python -m cicd.promote --retire` removes it" in said, said
    assert prod.config == ("1.3.0", "1.2.0", ["1.2.0", "1.3.0", "1.4.0"]), prod.config
    assert prod.merge() == NONE, "abandoning must not switch the job"
    assert (prod.project.root / LOCK_FILE).read_bytes() == lock, "abandon touched the lock"
    prod.deploy()
    # Once deployed, the abandoned release goes.
    assert prod.run("--retire", capsys=capsys)[0] == 0
    assert prod.config == ("1.3.0", "1.2.0", ["1.2.0", "1.3.0"]), prod.config
    assert prod.merge() == NONE
    prod.deploy()
    # The fix goes out as a new version, with the release production ran as its target.
    assert prod.run("1.5.0", "--allow-unverified", "fix", capsys=capsys)[0] == 0
    assert prod.config[:2] == ("1.5.0", "1.3.0"), prod.config
    assert prod.merge() == PROMOTION
    # After a rollback, live is a release that ran: there is nothing to abandon, and the
    # refusal names the command that would make the same edit.
    prod.deploy()
    assert prod.run("--rollback", capsys=capsys)[0] == 0
    before = prod.path.read_bytes()
    code, said = prod.run("--abandon", capsys=capsys)
    assert code == 1 and "there is no candidate to abandon" in said, said
    assert "python -m cicd.promote --rollback" in said, said
    assert prod.path.read_bytes() == before


def test_after_retire_a_rollback_and_a_retire_still_move(
    prod: Prod, capsys: pytest.CaptureFixture[str]
) -> None:
    assert prod.run("1.4.0", "--allow-unverified", "t", capsys=capsys)[0] == 0
    assert prod.merge() == PROMOTION
    prod.deploy()
    assert prod.run("--retire", capsys=capsys)[0] == 0
    assert prod.config == ("1.4.0", "1.3.0", ["1.3.0", "1.4.0"]), prod.config
    assert prod.merge() == NONE
    prod.deploy()
    assert prod.run("--rollback", capsys=capsys)[0] == 0
    assert prod.config[:2] == ("1.3.0", "1.3.0"), prod.config
    assert prod.merge() == ROLLBACK
    prod.deploy()
    # Retire in this state keeps the file valid and says why it kept 1.4.0.
    code, said = prod.run("--retire", capsys=capsys)
    assert code == 0 and "nothing to change" in said and "kept 1.4.0" in said, said
    assert prod.run("1.5.0", "--allow-unverified", "fix", capsys=capsys)[0] == 0
    assert prod.merge() == PROMOTION
