"""The prod deploy's staged stack file: the committed `Pulumi.<stack>.yaml` rewritten, in the CI
checkout only, so that one `pulumi up` publishes the candidate without switching the job; and
the committed file put back afterwards. The committed bytes are kept in `dist/gate/`, and
nothing is ever written over a file that changed since the gate read or wrote it (the stack
file is replaced through `cicd.sharedfile`: line endings and BOM kept, concurrent edits refused).
"""

from __future__ import annotations

from pathlib import Path

from cicd.project import stack_file
from cicd.promotion.edits import stage_candidate
from cicd.promotion.switch import PROMOTION, SwitchPlan
from cicd.sharedfile import SharedFileError, read_shared, replace_file

GATE_DIR = Path("dist") / "gate"


class GateError(Exception):
    """The gate refuses; the message says why and what to do."""


def _backup(project_dir: Path, stack: str) -> tuple[Path, Path]:
    folder = project_dir / GATE_DIR
    return folder / f"Pulumi.{stack}.yaml.committed", folder / f"Pulumi.{stack}.yaml.staged"


def stage(project_dir: Path, stack: str, switch: SwitchPlan) -> None:
    """For a promotion: live stays on the deployed release, the new one becomes the candidate."""
    if switch.kind != PROMOTION or switch.deployed_live is None:
        return
    path = stack_file(project_dir, stack)
    committed, staged = _backup(project_dir, stack)
    try:
        shared = read_shared(path)
    except SharedFileError as exc:
        raise GateError(str(exc)) from None
    if committed.exists() and committed.read_bytes() != shared.raw:
        raise GateError(
            f"{committed} holds another stack file from an earlier stage: put it back with"
            f" `python -m cicd.gate restore --stack {stack}` (or delete it) first"
        )
    edit = stage_candidate(shared.text, path.name, switch.deployed_live, switch.deployed_target)
    after = shared.encode(edit.after)
    committed.parent.mkdir(parents=True, exist_ok=True)
    committed.write_bytes(shared.raw)
    staged.write_bytes(after)
    try:
        replace_file(path, shared.raw, after, f"python -m cicd.gate stage --stack {stack}")
    except SharedFileError as exc:
        committed.unlink()
        staged.unlink()
        raise GateError(str(exc)) from None
    print(f"{path.name} (this checkout only; committed file kept in {committed}):")
    for line in edit.lines:
        print(f"  {line}")


def restore(project_dir: Path, stack: str) -> None:
    """Put the committed file back, only over the exact text `stage` wrote."""
    path = stack_file(project_dir, stack)
    committed, staged = _backup(project_dir, stack)
    if not committed.exists():
        print(f"{path.name}: nothing staged")
        return
    current = path.read_bytes()
    if not staged.exists() or staged.read_bytes() != current:
        raise GateError(
            f"{path} changed since `cicd.gate stage` wrote it: not overwritten. The committed"
            f" file is in {committed}; compare and restore by hand"
        )
    try:
        replace_file(
            path, current, committed.read_bytes(), f"python -m cicd.gate restore --stack {stack}"
        )
    except SharedFileError as exc:
        raise GateError(str(exc)) from None
    committed.unlink()
    staged.unlink()
    print(f"{path.name}: committed file restored")
