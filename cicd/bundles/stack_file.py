"""Adding a converted bundle to `Pulumi.<stack>.yaml`: its jobs under `databricks-cicd:jobs`, its
pipelines under `databricks-cicd:pipelines`, and its release under `releases.kept` (live too in
a stack that has no release yet). Every other line and comment stays as it was (the round-trip
loader of `cicd.promotion.stack_edit`). A key that already holds the same settings is left
alone, so converting again changes nothing; one that holds other settings is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from cicd.config import NAMESPACE
from cicd.promotion.stack_edit import StackEditError, changed_lines, dump_text, round_trip_load

JOB_KEY = f"{NAMESPACE}:job"
JOBS_KEY = f"{NAMESPACE}:jobs"
PIPELINES_KEY = f"{NAMESPACE}:pipelines"
RELEASES_KEY = f"{NAMESPACE}:releases"


@dataclass(frozen=True)
class StackChange:
    before: str
    after: str
    problems: list[str]
    made_live: bool

    @property
    def lines(self) -> list[str]:
        return changed_lines(self.before, self.after)


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[key] = _commented(item)
        return mapping
    if isinstance(value, list):
        return CommentedSeq([_commented(item) for item in value])
    if isinstance(value, str):
        return str(value)  # never a Sourced: the file gets plain strings
    return value


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _first_difference(old: Any, new: Any, where: str) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{where}.{key}")
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{index}]")
    return f"{where} (now {json.dumps(old)}, converted {json.dumps(new)})"


def _insert(config: CommentedMap, key: str, value: Any, after: tuple[str, ...]) -> None:
    keys = list(config)
    position = len(keys)
    for anchor in after:
        if anchor in keys:
            position = keys.index(anchor) + 1
            break
    config.insert(position, key, value)


def add_bundle(
    text: str,
    where: str,
    version: str,
    jobs: dict[str, dict[str, Any]],
    pipelines: dict[str, dict[str, Any]],
) -> StackChange:
    """The stack file's text with the bundle's jobs, pipelines and release added."""
    try:
        yaml, document = round_trip_load(text, where)
    except StackEditError as exc:
        return StackChange(text, text, [str(exc)], False)
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, CommentedMap):
        return StackChange(text, text, [f"{where}: has no 'config:' mapping"], False)
    problems: list[str] = []
    for section_key, items, after in (
        (JOBS_KEY, jobs, (JOB_KEY, RELEASES_KEY)),
        (PIPELINES_KEY, pipelines, (JOBS_KEY, JOB_KEY, RELEASES_KEY)),
    ):
        if not items:
            continue
        section = config.get(section_key)
        if section is None:
            section = CommentedMap()
            _insert(config, section_key, section, after)
        elif not isinstance(section, dict):
            problems.append(f"{where}: {section_key} is not a mapping of keys to settings")
            continue
        for key, data in sorted(items.items()):
            if key not in section:
                section[key] = _commented(data)
            elif _plain(section[key]) != _plain(data):
                problems.append(
                    f"{where}: {section_key}.{key} already holds other settings (first"
                    f" difference: {_first_difference(_plain(section[key]), _plain(data), key)})."
                    " A stack's job settings are shared by every kept release, so the converter"
                    " does not change them: edit them by hand, or remove the key and convert"
                    " again"
                )
    made_live = False
    releases = config.get(RELEASES_KEY)
    if releases is None:
        releases = CommentedMap()
        releases["kept"] = CommentedSeq([CommentedMap(version=DoubleQuotedScalarString(version))])
        releases["live"] = DoubleQuotedScalarString(version)
        _insert(config, RELEASES_KEY, releases, (f"{NAMESPACE}:artifactStore",))
        made_live = True
    elif not isinstance(releases, dict) or not isinstance(releases.get("kept"), list):
        problems.append(f"{where}: {RELEASES_KEY} has no 'kept' list; add one")
    elif version not in [str(e.get("version")) for e in releases["kept"] if isinstance(e, dict)]:
        releases["kept"].append(CommentedMap(version=DoubleQuotedScalarString(version)))
    return StackChange(text, dump_text(yaml, document), problems, made_live)
