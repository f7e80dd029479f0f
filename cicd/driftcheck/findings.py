"""A drift finding, and the two ways a person or a machine reads a list of them.

Text: grouped by where the drift is (each release, the job, permissions), capped at about 20
lines with "and N more"; JSON (`--json`): every finding. Both show findings redacted
(`Finding.redacted`): the report goes to CI logs and a GitHub issue, and a setting added by hand
(an environment variable, a job parameter) may hold a secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from policy.databricks_guardrails.redact import last_key, redact_text, redact_value

TEXT_LINES = 20


@dataclass(frozen=True)
class Finding:
    """One thing in the workspace that is not what the program and the lock say."""

    group: str  # "release 1.1.0", "job etl-pipeline-prod", "permissions"
    kind: str  # changed | missing | added | differs | granted-by-hand | not-granted
    path: str  # object path, or the job setting's path, or the permission's object
    expected: Any = None
    actual: Any = None
    detail: str = ""

    def redacted(self) -> Finding:
        """This finding as reports show it: the values of a setting whose key names a secret
        hidden whole, and anything shaped like a credential hidden wherever it is."""
        key = last_key(self.path)
        return replace(
            self,
            path=redact_text(self.path),
            expected=redact_value(self.expected, key),
            actual=redact_value(self.actual, key),
            detail=redact_text(self.detail),
        )

    def line(self) -> str:
        """One line of the text report (redacted: `redacted`)."""
        return self.redacted()._line()

    def _line(self) -> str:
        if self.kind == "differs":
            return (
                f"  differs  {self.path}: program {_show(self.expected)}, workspace"
                f" {_show(self.actual)}"
            )
        tail = f"  ({self.detail})" if self.detail else ""
        return f"  {self.kind:<8} {self.path}{tail}"


def _show(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 120 else text[:117] + "..."


def text_report(findings: Sequence[Finding], limit: int = TEXT_LINES) -> list[str]:
    """Findings grouped in order of appearance, at most `limit` finding lines."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.group, []).append(finding)
    lines: list[str] = []
    shown = 0
    for group, members in groups.items():
        if shown >= limit:
            break
        lines.append(f"{group}:")
        for finding in members:
            if shown >= limit:
                break
            lines.append(finding.line())
            shown += 1
    if len(findings) > shown:
        lines.append(f"and {len(findings) - shown} more (--json lists every finding)")
    return lines


def json_report(stack: str, host: str, findings: Sequence[Finding], **extra: Any) -> str:
    """Every finding redacted (`Finding.redacted`), and the whole document once more through
    `redact_value` (`extra` comes from the caller). Redacted as a structure, never as text: a
    release file named `rotate_token.py` is a key of the `objects` records, and hiding "the value
    of a key naming a secret" in the JSON text would cut the document open."""
    document = {
        "stack": stack,
        "host": host,
        "findings": [asdict(f.redacted()) for f in findings],
        **extra,
    }
    return json.dumps(redact_value(document), indent=2, sort_keys=True, default=str)
