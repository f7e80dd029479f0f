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

from cicd.config import StackConfig
from cicd.evaluation import Evaluation
from cicd.rights.index import index_stack, program_grants
from cicd.rights.model import Right, Role, Source
from cicd.rights.needs import deploy_needs, reader_needs, run_identity_needs, tool_needs


def derive_rights(config: StackConfig, evaluation: Evaluation, production: bool) -> list[Right]:
    """Every right of every identity the stack names, each once, in report order."""
    stack = index_stack(config, evaluation)
    rights: dict[tuple[str, str, str, str], Right] = {}
    for right in program_grants(stack):
        rights.setdefault(right.key, right)
    needs = [
        *deploy_needs(stack),
        *reader_needs(stack),
        *run_identity_needs(stack),
        *tool_needs(stack, production),
    ]
    for right in needs:
        known = rights.get(right.key)
        if known is None:
            rights[right.key] = right
        elif known.source is Source.PROGRAM and right.used_by not in known.used_by:
            # Granted by the program and needed for this too: one line, both uses.
            rights[right.key] = Right(
                known.role,
                known.principal,
                known.target,
                known.right,
                f"{known.why}; {right.why}" if right.why != known.why else known.why,
                known.source,
                f"{known.used_by}; {right.used_by}",
                known.via,
            )
    order = list(Role)
    return sorted(
        rights.values(),
        key=lambda r: (order.index(r.role), r.principal, r.target, r.right),
    )
