"""What a bundle conversion found wrong or could not convert, each naming its file and key.

Two kinds: errors (bad input: a missing file, an unknown variable) always stop the conversion;
unsupported items (an app, a task type outside the model) stop it unless `--skip-unsupported`,
which converts the rest and lists what was left out. Both are reported all at once, capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

MAX_SHOWN = 20


class ConversionError(Exception):
    """The bundle cannot be converted as asked; nothing was written. The message lists why."""


@dataclass(frozen=True)
class Finding:
    file: str  # relative to the bundle root
    key: str  # dotted key inside that file, e.g. resources.jobs.sample_job.tasks[0]
    text: str

    def line(self) -> str:
        return f"{self.file}: {self.key}: {self.text}"


@dataclass
class Findings:
    """Errors and unsupported items collected while reading and translating a bundle."""

    errors: list[Finding] = field(default_factory=list)
    unsupported: list[Finding] = field(default_factory=list)
    # Bundle settings the stack decides itself (deployment mode, permissions): said, not refused.
    notes: list[Finding] = field(default_factory=list)

    def error(self, file: str | PurePosixPath, key: str, text: str) -> None:
        self.errors.append(Finding(str(file), key, text))

    def unsupported_item(self, file: str | PurePosixPath, key: str, text: str) -> None:
        self.unsupported.append(Finding(str(file), key, text))

    def note(self, file: str | PurePosixPath, key: str, text: str) -> None:
        self.notes.append(Finding(str(file), key, text))


def capped(findings: list[Finding] | list[str], limit: int = MAX_SHOWN) -> list[str]:
    """Lines for at most `limit` findings, then "and N more"."""
    lines = [f.line() if isinstance(f, Finding) else f for f in findings]
    shown = [f"  - {line}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"  - and {len(lines) - limit} more")
    return shown
