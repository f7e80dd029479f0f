"""Promote, roll back, retire, and stage a candidate: each an edit of one stack file's releases,
refused with the fix when it is not safe, and checked by the one config reader (and the
retention guard against the file it replaces) before anyone writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cicd.config import (
    ConfigError,
    StackConfig,
    check_version,
    namespace_values,
    parse_stack_config,
    stack_text_config_map,
    transition_problems,
)
from cicd.promotion.stack_edit import StackDocument, StackEditError, changed_lines
from cicd.releases.lock import LOCK_FILE


class EditRefused(Exception):
    """The edit is not made; the message names the problem and the fix. Nothing was written."""


@dataclass(frozen=True)
class Edit:
    """A checked edit: the text before and after, and the validated config it gives."""

    where: str
    before: str
    after: str
    config: StackConfig

    @property
    def lines(self) -> list[str]:
        return changed_lines(self.before, self.after)


def read_config(text: str, where: str) -> StackConfig:
    try:
        return parse_stack_config(namespace_values(stack_text_config_map(text, where)))
    except ConfigError as exc:
        raise EditRefused(f"{where}: {exc}") from None


def _checked(where: str, before_text: str, before: StackConfig, document: StackDocument) -> Edit:
    after_text = document.text()
    try:
        after = parse_stack_config(namespace_values(stack_text_config_map(after_text, where)))
    except ConfigError as exc:
        raise EditRefused(
            f"{where}: the edited file would not be valid, so nothing was written: {exc}"
        ) from None
    problems = transition_problems(before.releases, after.releases)
    if problems:
        raise EditRefused(
            f"{where}: nothing was written:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return Edit(where, before_text, after_text, after)


def _document(text: str, where: str) -> StackDocument:
    try:
        return StackDocument(text, where)
    except StackEditError as exc:
        raise EditRefused(str(exc)) from None


def promote(
    text: str,
    where: str,
    version: str,
    lock: Mapping[str, Mapping[str, str]],
    allow_unverified: str | None = None,
) -> Edit:
    """Keep `version`, make it live, and make the release live until now the rollback target.

    The caller has checked that `version` ran green in staging, or passes the reviewer-visible
    reason it may go live without (`allow_unverified`, recorded next to the release).
    """
    before = check_promotable(text, where, version, lock)
    document = _document(text, where)
    if version not in document.kept_versions():
        document.add_kept(version, allow_unverified)
    elif allow_unverified is not None:
        document.set_allow_unverified(version, allow_unverified)
    document.remove_key("candidate")
    document.set_value("live", version)
    document.set_value("rollbackTarget", before.releases.live, after=("live",))
    return _checked(where, text, before, document)


def check_promotable(
    text: str, where: str, version: str, lock: Mapping[str, Mapping[str, str]]
) -> StackConfig:
    """The refusals that need nothing but the files: a version that is not a plain identifier,
    not published, or already live. Returns the config as it is."""
    try:
        check_version(version)
    except ValueError as exc:
        raise EditRefused(str(exc)) from None
    before = read_config(text, where)
    releases = before.releases
    if version not in lock:
        raise EditRefused(
            f"release {version} is not published in {LOCK_FILE}: build and record it with"
            f" `python -m cicd.release build {version}`, deploy it to staging, then promote it"
        )
    if version == releases.live:
        raise EditRefused(
            f"release {version} is already live in {where}: nothing to promote"
            " (to go back to the previous release, run `python -m cicd.promote --rollback`)"
        )
    _document(text, where)  # a file that cannot be edited safely is refused before any look-up
    return before


def rollback(text: str, where: str) -> Edit:
    """Set live back to the rollback target (one line; only the job changes)."""
    before = read_config(text, where)
    releases = before.releases
    target = releases.effective_rollback_target
    if target is None:
        raise EditRefused(
            f"{where}: no rollback target: no kept release below live {releases.live!r} and no"
            " rollbackTarget; name the release to go back to under rollbackTarget"
        )
    if target == releases.live:
        raise EditRefused(
            f"{where}: live {releases.live!r} is already the rollback target: there is nothing"
            " to roll back to; promote a release instead (`python -m cicd.promote VERSION`)"
        )
    document = _document(text, where)
    document.set_value("live", target)
    return _checked(where, text, before, document)


def retire(text: str, where: str) -> Edit:
    """Drop every kept release that is neither live, the rollback target, nor the candidate."""
    before = read_config(text, where)
    releases = before.releases
    needed = {releases.live, releases.effective_rollback_target, releases.candidate}
    retired = {v for v in releases.versions if v not in needed}
    document = _document(text, where)
    document.remove_kept(retired)
    return _checked(where, text, before, document)


def stage_candidate(text: str, where: str, deployed_live: str, deployed_target: str | None) -> Edit:
    """The production gate's first step: the file as committed, except that the job stays on
    the release deployed now and the release to be switched to is only the candidate.

    Deploying it publishes the candidate beside the live release and changes no job input.
    """
    before = read_config(text, where)
    releases = before.releases
    if deployed_live not in releases.versions:
        raise EditRefused(
            f"{where}: removes {deployed_live!r}, which production runs now; keep it while"
            f" live moves to {releases.live!r}, and remove it in a later change"
        )
    document = _document(text, where)
    document.set_value("candidate", releases.live, after=("rollbackTarget", "live"))
    document.set_value("live", deployed_live)
    if deployed_target is not None and deployed_target in releases.versions:
        document.set_value("rollbackTarget", deployed_target, after=("live",))
    else:
        document.remove_key("rollbackTarget")
    return _checked(where, text, before, document)
