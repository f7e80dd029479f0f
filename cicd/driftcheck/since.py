"""`--since REPORT.json`: the object records of an earlier `--json` report, to skip what is
provably unchanged (cicd/driftcheck/releases.py).

The report must be of the same stack and workspace; one without records (an older version's)
proves nothing and everything is read. A report that cannot be read is an error naming the file:
silently reading everything would hide that the schedule's report is not the one meant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cicd.driftcheck.releases import Record

OBJECTS = "objects"  # the report's key: release object path -> Record


class SinceError(Exception):
    """The --since report cannot be used; the message names the file and the fix."""


def records_json(records: dict[str, Record]) -> dict[str, Any]:
    return {path: record.__dict__ for path, record in sorted(records.items())}


def load_since(path: Path, stack: str, host: str) -> dict[str, Record]:
    fix = f"pass the report a `--json` run for stack {stack!r} wrote, or leave --since out"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SinceError(f"--since {path}: cannot read it ({exc.strerror}); {fix}") from None
    except ValueError as exc:
        raise SinceError(f"--since {path}: not a JSON report ({exc}); {fix}") from None
    if not isinstance(report, dict):
        raise SinceError(f"--since {path}: not a drift report (a JSON object); {fix}")
    if report.get("stack") != stack or report.get("host") != host:
        raise SinceError(
            f"--since {path}: a report of stack {report.get('stack')!r} on"
            f" {report.get('host')!r}, not of {stack!r} on {host!r}; {fix}"
        )
    try:
        return {
            str(object_path): Record.from_json(record)
            for object_path, record in (report.get(OBJECTS) or {}).items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise SinceError(f"--since {path}: a malformed object record ({exc}); {fix}") from None
