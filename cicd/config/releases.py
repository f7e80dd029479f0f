"""`databricks-cicd:releases`: the kept releases, the live one, the rollback target and the
candidate, and the retention guard: no edit may drop what the job runs or the release it would
roll back to, and a candidate (published, not yet run in production) is never a rollback target.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, StrictBool, StrictStr, field_validator, model_validator

from cicd.config.base import NAMESPACE, Model, check_version, version_sort_key


class ReleaseEntry(Model):
    """One kept release: its version and the folder holding its built content."""

    version: StrictStr
    # Relative to the project root. Default: dist/releases/<version> for a release built from
    # pipeline/, releases/<version> for one published from elsewhere (cicd.releases.publish).
    source: StrictStr | None = None

    @field_validator("version")
    @classmethod
    def _plain_version(cls, value: str) -> str:
        return check_version(value)

    @field_validator("source")
    @classmethod
    def _relative_source(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError(
                f"source {value!r} must be a folder inside the project, given relative to it"
                " (no leading '/', no '..'), e.g. 'dist/releases/2.1.0'"
            )
        return value

    # Why this release may go live without a green staging run of the same content (written by
    # `python -m cicd.promote VERSION --allow-unverified REASON`, reviewed with the change).
    allow_unverified: StrictStr | None = Field(default=None, min_length=1)


class Releases(Model):
    """Kept releases (published side by side), the live one, and the rollback target."""

    kept: list[ReleaseEntry] = Field(min_length=1)
    live: StrictStr
    # Default: the highest kept version below the live one. Right after a rollback it may name
    # the live release itself, so that a rollback stays a one-line edit of `live`.
    rollback_target: StrictStr | None = None
    # Prod: refuse any edit that would leave no release to roll back to, or that removes the
    # deployed live release or rollback target in the same change (checked by cicd.preview --base).
    require_rollback_target: StrictBool = False
    # A kept release published beside the live one without switching the job: the production
    # deploy sets it while it runs the candidate once (cicd.gate), and switches only after.
    candidate: StrictStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        versions = [r.version for r in self.kept]
        duplicates = sorted({v for v in versions if versions.count(v) > 1})
        if duplicates:
            raise ValueError(
                f"version {duplicates[0]!r} is listed twice under kept: keep one entry per version"
            )
        if self.live not in versions:
            raise ValueError(
                f"live release {self.live!r} is not in kept ({', '.join(sorted(versions))}):"
                " the job can only point at a kept release; add it to kept or pick a kept one"
            )
        if self.rollback_target is not None and self.rollback_target not in versions:
            raise ValueError(
                f"rollbackTarget {self.rollback_target!r} is not in kept"
                f" ({', '.join(sorted(versions))}): keep it until another target is named"
            )
        if self.candidate is not None and (
            self.candidate not in versions or self.candidate == self.live
        ):
            raise ValueError(
                f"candidate {self.candidate!r} must be a kept release that is not live"
                f" (kept: {', '.join(sorted(versions))}; live: {self.live!r}): add it to kept,"
                " or remove the candidate key"
            )
        if self.candidate is not None and self.rollback_target == self.candidate:
            raise ValueError(
                f"rollbackTarget {self.rollback_target!r} is the candidate, which has not run in"
                " production: name a release that was live before"
            )
        if self.require_rollback_target and (
            self.effective_rollback_target is None or len(versions) < 2
        ):
            raise ValueError(
                f"no rollback target would remain: besides live {self.live!r} no kept release"
                " can be rolled back to, and requireRollbackTarget is set; keep the release you"
                " would roll back to under kept and name it as rollbackTarget"
            )
        return self

    @property
    def effective_rollback_target(self) -> str | None:
        if self.rollback_target is not None:
            return self.rollback_target
        live_key = version_sort_key(self.live)
        # The candidate has never run in production: it is never the release to roll back to.
        older = [
            r.version
            for r in self.kept
            if version_sort_key(r.version) < live_key and r.version != self.candidate
        ]
        return max(older, key=version_sort_key) if older else None

    @property
    def versions(self) -> list[str]:
        """Kept versions in version order, whatever order the config lists them in."""
        return sorted((r.version for r in self.kept), key=version_sort_key)

    def entry(self, version: str) -> ReleaseEntry:
        return next(r for r in self.kept if r.version == version)


def transition_problems(before: Releases, after: Releases) -> list[str]:
    """What a change of a stack's config may not do in one step, judged against the config it
    replaces (the base branch's file in code review): remove the release the job runs, or the
    rollback target. Switch first; remove in a later change, once neither live nor target.

    Applies where releases.requireRollbackTarget is set (prod); staging replaces its one
    candidate in a single change.
    """
    if not (before.require_rollback_target or after.require_rollback_target):
        return []
    kept = set(after.versions)
    problems = []
    old_live, old_target = before.live, before.effective_rollback_target
    if old_live not in kept:
        problems.append(
            f"{NAMESPACE}:releases.kept: removes {old_live!r}, which the job runs before this"
            f" change; keep it while live moves to {after.live!r}, and remove it in a"
            " later change"
        )
    if old_target is not None and old_target != old_live and old_target not in kept:
        problems.append(
            f"{NAMESPACE}:releases.kept: removes {old_target!r}, the rollback target before"
            " this change; keep it until another target has been deployed, then remove it"
        )
    return problems
