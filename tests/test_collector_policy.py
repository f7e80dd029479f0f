"""The one garbage-collector policy of every evaluation of the program
(`cicd.evaluation.program.collector_policy`): the command-line tools, the tests and the benchmark
all evaluate through `evaluate()`, so each registration happens with the import heap frozen and
generation 0's threshold raised, and the process's own settings come back afterwards."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from cicd.evaluation import program
from tests.conftest import SandboxProject


def test_every_registration_happens_under_the_policy_and_it_is_undone_after(
    sandbox: SandboxProject, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[tuple[int, int, int], int]] = []
    register = program._RecordingMonitor.RegisterResource

    def spy(self: program._RecordingMonitor, request: Any) -> Any:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return register(self, request)

    monkeypatch.setattr(program._RecordingMonitor, "RegisterResource", spy)
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    sandbox.add_release("1.0.0")
    evaluation = sandbox.evaluate(values)
    assert len(seen) == len(evaluation.resources) + 1, "one call per resource and the stack"
    wrong = [(t, f) for t, f in seen if t != program.EVALUATION_GC_THRESHOLD or f <= frozen]
    assert not wrong, f"registrations outside the collector policy (threshold, frozen): {wrong[:3]}"
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen), (
        f"the policy was not undone: threshold {gc.get_threshold()}, frozen {gc.get_freeze_count()}"
    )


def test_a_nested_use_keeps_the_outer_policy() -> None:
    threshold = gc.get_threshold()
    with program.collector_policy():
        frozen = gc.get_freeze_count()
        with program.collector_policy():
            pass
        assert gc.get_threshold() == program.EVALUATION_GC_THRESHOLD, gc.get_threshold()
        # An unfreeze empties the permanent generation. Frozen objects are still freed when
        # their last reference goes, and the emulator's server thread (in this process when an
        # earlier test started it) frees a few meanwhile: the count may drop a little, not to 0.
        still = gc.get_freeze_count()
        assert still > frozen * 0.9, (
            f"the inner use unfroze the outer one's heap: {frozen} -> {still}"
        )
    assert gc.get_threshold() == threshold
