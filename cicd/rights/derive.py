"""Every right every identity of a stack needs, derived from what the program registers.

The program is evaluated offline (`cicd.evaluation`), and each registration is read by its type
and inputs, never by its name, so a new job, pipeline, folder or volume brings its rights along:
- what the **program grants** (each Permissions, Grants and Grant resource, per principal);
- what the **deploy identity** needs for `pulumi up` on each registered resource;
- what the **read-only identity** needs for `pulumi preview --refresh` and `cicd.drift` on each
  registered resource, and whether the program grants it, or no read-only right can;
- what the **tools** call with each identity (`cicd.run_job`, `cicd.gate`, `cicd.promote`'s
  provenance, `cicd.dev`, `cicd.drift`), and what each job's and pipeline's run identity reads.
A right the stack's own objects need but the program grants nobody is `MISSING`; a resource type
nothing here describes is `MISSING` too, so that a test fails until it is described.
"""

from __future__ import annotations

from dataclasses import replace

from cicd.config import StackConfig
from cicd.evaluation import Evaluation
from cicd.rights.index import index_stack, program_grants
from cicd.rights.model import Right, Role, Source
from cicd.rights.needs import deploy_needs, reader_needs, run_identity_needs, tool_needs

# When one right is found more than once, the source kept: the program's grant first.
PRECEDENCE = list(Source)


def derive_rights(config: StackConfig, evaluation: Evaluation, production: bool) -> list[Right]:
    """Every right of every identity the stack names, each once, in report order. The result
    does not depend on the order the program registered its resources in."""
    stack = index_stack(config, evaluation)
    found: dict[tuple[str, str, str, str], list[Right]] = {}
    for right in [
        *program_grants(stack),
        *deploy_needs(stack),
        *reader_needs(stack),
        *run_identity_needs(stack),
        *tool_needs(stack, production),
    ]:
        found.setdefault(right.key, []).append(right)
    rights = []
    for same in found.values():
        kept = min(same, key=lambda r: (PRECEDENCE.index(r.source), r.via, r.why))
        uses = sorted({use for r in same for use in r.used_by.split("; ")})
        whys = sorted({r.why for r in same if r.source is kept.source})
        rights.append(replace(kept, used_by="; ".join(uses), why="; ".join(whys)))
    order = list(Role)
    return sorted(rights, key=lambda r: (order.index(r.role), r.principal, r.target, r.right))
