"""Promote, roll back, abandon a refused candidate, retire, and stage a candidate: each an edit of one stack file's releases,
refused with the fix when it is not safe, and checked by the one config reader (and the
retention guard against the file it replaces) before anyone writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cicd.config import (
    ConfigError,
    Releases,
    StackConfig,
    check_version,
    namespace_values,
    parse_stack_config,
    stack_text_config_map,
    transition_problems,
    version_sort_key,
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
    notes: tuple[str, ...] = field(default=())  # what the person should know or do next

    @property
    def lines(self) -> list[str]:
        return changed_lines(self.before, self.after)


def read_config(text: str, where: str) -> StackConfig:
    try:
        return parse_stack_config(namespace_values(stack_text_config_map(text, where)))
    except ConfigError as exc:
        raise EditRefused(f"{where}: {exc}") from None


def _checked(
    where: str,
    before_text: str,
    before: StackConfig,
    document: StackDocument | str,
    notes: tuple[str, ...] = (),
) -> Edit:
    after_text = document if isinstance(document, str) else document.text()
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
    return Edit(where, before_text, after_text, after, notes)


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


def _older(releases: Releases, version: str) -> str | None:
    """The highest kept release below `version` that is not the candidate: the release that was
    live before it (versions go live in version order), and so where a rollback from it goes."""
    key = version_sort_key(version)
    older = [v for v in releases.versions if version_sort_key(v) < key and v != releases.candidate]
    return older[-1] if older else None


def _go_back(
    where: str, text: str, before: StackConfig, target: str, notes: tuple[str, ...]
) -> Edit:
    """live := target; rollbackTarget := the release before target (else target itself), so
    that the deployed rollbackTarget output always names where the next rollback goes and the
    prod deploy treats that next rollback as a rollback too."""
    document = _document(text, where)
    document.set_value("live", target)
    document.set_value("rollbackTarget", _older(before.releases, target) or target, after=("live",))
    return _checked(where, text, before, document, notes)


def rollback(text: str, where: str) -> Edit:
    """Set live back to the rollback target (only the job changes), and the rollback target to
    the release before that one. Right after a rollback whose target had nothing older, live
    is its own rollback target: a further rollback then goes to the next older kept release,
    or is refused saying how to move forward."""
    before = read_config(text, where)
    releases = before.releases
    target = releases.effective_rollback_target
    if target is None:
        raise EditRefused(
            f"{where}: no rollback target: no kept release below live {releases.live!r} and no"
            " rollbackTarget; name the release to go back to under rollbackTarget"
        )
    if target == releases.live:
        older = _older(releases, releases.live)
        if older is None:
            raise EditRefused(
                f"{where}: live {releases.live!r} is already the rollback target and no kept"
                " release is older: there is nothing further back. Move forward instead:"
                " promote a fixed release (`python -m cicd.promote VERSION`)"
            )
        target = older
    return _go_back(where, text, before, target, ())


def abandon(text: str, where: str) -> Edit:
    """The gate refused the live release (production still runs the rollback target): make the
    file say what production runs again. The abandoned release stays kept (the gate published
    it beside the live one, and a change may not drop the release the base branch makes live);
    `--retire` removes it once this is deployed. Touches only the stack file, never the lock."""
    before = read_config(text, where)
    releases = before.releases
    target = releases.effective_rollback_target
    if target is None or target == releases.live:
        raise EditRefused(
            f"{where}: live {releases.live!r} has no other release to return to (rollbackTarget"
            f" is {target!r}): production runs it already, so there is no candidate to abandon."
            " To replace it, promote a fixed release (`python -m cicd.promote VERSION`)"
        )
    newest = releases.versions[-1]
    if releases.live != newest:
        # A promotion makes the newest release live; after a rollback live is one that ran.
        raise EditRefused(
            f"{where}: live {releases.live!r} is not the newest kept release ({newest!r}), so it"
            " is not a candidate a promotion left: there is no candidate to abandon. If"
            f" production really does not run {releases.live!r}, `python -m cicd.promote"
            f" --rollback` makes the same edit (live -> {target!r})"
        )
    notes = (
        f"abandoned {releases.live}: the file now says production runs {target}, as it does when"
        f" the gate refused {releases.live} (if {releases.live} did go live, deploying this"
        " rolls the job back).",
        f"{releases.live} stays kept until this is deployed; then `python -m cicd.promote"
        " --retire` removes it.",
    )
    return _go_back(where, text, before, target, notes)


def retire(text: str, where: str) -> Edit:
    """Drop every kept release that is neither live, the rollback target, nor the candidate.

    Where a rollback target is required and live is its own rollback target (right after
    rolling back to the oldest release), the release nearest to live is kept as well, so that
    the file stays valid and a later promotion has somewhere to come back to. Comment lines are
    kept; only the retired entries' own lines go.
    """
    before = read_config(text, where)
    releases = before.releases
    needed = {releases.live, releases.effective_rollback_target, releases.candidate} - {None}
    notes: tuple[str, ...] = ()
    if releases.require_rollback_target and len(needed) < 2:
        others = [v for v in releases.versions if v not in needed]
        below = [v for v in others if version_sort_key(v) < version_sort_key(releases.live)]
        spare = below[-1] if below else (others[0] if others else None)
        if spare is not None:
            needed.add(spare)
            notes = (
                f"kept {spare}: live {releases.live} is its own rollback target, and"
                " requireRollbackTarget needs one other release",
            )
    retired = {v for v in releases.versions if v not in needed}
    document = _document(text, where)
    after_text = document.without_kept_lines(retired)
    if after_text is None:
        document.remove_kept(retired)
        after_text = document.text()
    edit = _checked(where, text, before, after_text, notes)
    if set(edit.config.releases.versions) != set(releases.versions) - retired:
        raise EditRefused(
            f"{where}: removing {', '.join(sorted(retired))} would change other lines of the"
            " file; remove those entries by hand"
        )
    return edit


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
