"""What a production deploy is about to do to the job, judged from the committed stack file and
what the stack runs now (its outputs): nothing, a rollback, a promotion, or the first deploy.

Only a promotion (a release that has not been live in production) is gated: it must have run
green in staging (or carry an `allowUnverified` reason), and it is published beside the live
release and run once before the job switches. A rollback goes to the release that was live
before it, and goes at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cicd.config import StackConfig

FIRST = "first"
NONE = "none"
ROLLBACK = "rollback"
PROMOTION = "promotion"


@dataclass(frozen=True)
class SwitchPlan:
    kind: str
    desired_live: str
    deployed_live: str | None
    deployed_target: str | None
    allow_unverified: str | None  # the reason recorded next to the desired live release

    @property
    def gated(self) -> bool:
        return self.kind in (PROMOTION, FIRST)

    def describe(self) -> str:
        if self.kind == FIRST:
            return f"first deploy: the job is created on release {self.desired_live}"
        if self.kind == NONE:
            return f"no switch: the job stays on release {self.desired_live}"
        if self.kind == ROLLBACK:
            return (
                f"rollback: {self.deployed_live} -> {self.desired_live} (the rollback target,"
                " live before): switched at once"
            )
        return (
            f"promotion: {self.deployed_live} -> {self.desired_live}; {self.desired_live} is"
            f" published beside {self.deployed_live} and run once with the live job's settings;"
            " the job switches only if that run succeeds"
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def plan_switch(desired: StackConfig, outputs: Mapping[str, object] | None) -> SwitchPlan:
    releases = desired.releases
    live = releases.live
    reason = releases.entry(live).allow_unverified
    deployed_live = _text((outputs or {}).get("liveRelease"))
    deployed_target = _text((outputs or {}).get("rollbackTarget"))
    if deployed_live is None:
        kind = FIRST
    elif live == deployed_live:
        kind = NONE
    elif live == deployed_target:
        kind = ROLLBACK
    else:
        kind = PROMOTION
    return SwitchPlan(kind, live, deployed_live, deployed_target, reason)
