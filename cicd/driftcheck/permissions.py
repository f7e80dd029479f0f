"""The direct grants on the production folder, the jobs and the pipelines against what the
program grants (judged from the permission list `cicd.driftcheck.acl` read once per object).

Each object has one authoritative Permissions resource in the program, so any direct grant it
does not declare was made by hand, and any it declares that is gone or at another level drifted.
Inherited entries (from a parent folder or the workspace root) and the built-in `admins` group
(which the service always lists and nobody can remove) are not the program's to set.
"""

from __future__ import annotations

from collections.abc import Sequence

from cicd.driftcheck.acl import Entry, object_label
from cicd.driftcheck.expected import ExpectedGrants
from cicd.driftcheck.findings import Finding


def check_permissions(
    expected: ExpectedGrants, entries: Sequence[Entry], object_id: str | int | None
) -> list[Finding]:
    """The object's direct grants (`entries`: its permission list, `cicd.driftcheck.acl`)
    against the program's; `object_id`: the job's or pipeline's id (unused for a folder)."""
    where = object_label(expected, object_id)
    actual = {
        (entry.kind, entry.principal): entry.level
        for entry in entries
        if not entry.inherited and not entry.built_in_admins
    }
    findings = []
    for key in sorted(set(expected.grants) | set(actual)):
        kind, principal = key
        label = f"{where}: {kind} {principal}"
        wanted, have = expected.grants.get(key), actual.get(key)
        if wanted == have:
            continue
        if wanted is None:
            findings.append(
                Finding("permissions", "granted-by-hand", label, None, have, have or "")
            )
        elif have is None:
            findings.append(
                Finding("permissions", "not-granted", label, wanted, None, f"{wanted} is gone")
            )
        else:
            findings.append(Finding("permissions", "differs", label, wanted, have))
    return findings
