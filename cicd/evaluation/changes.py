"""Two evaluations of the program compared the way a reviewer reads a preview: resources added,
removed, or changed (with the inputs that change)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cicd.evaluation.program import Evaluation


@dataclass(frozen=True)
class Change:
    """One resource that differs between two evaluations."""

    kind: str  # "add", "remove" or "change"
    type: str
    name: str
    changed_inputs: tuple[str, ...] = ()


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))


def compare(before: Evaluation, after: Evaluation) -> list[Change]:
    """Resources added, removed, or registered differently (inputs, parent, options)."""
    changes = []
    for key in sorted(set(before.resources) | set(after.resources)):
        old, new = before.resources.get(key), after.resources.get(key)
        if old is None:
            changes.append(Change("add", *key))
        elif new is None:
            changes.append(Change("remove", *key))
        else:
            keys = _changed_keys(old.inputs, new.inputs)
            extra = tuple(
                f"({option})"
                for option in ("parent", "delete_before_replace", "protect")
                if getattr(old, option) != getattr(new, option)
            )
            if keys or extra:
                changes.append(Change("change", *key, changed_inputs=keys + extra))
    return changes
