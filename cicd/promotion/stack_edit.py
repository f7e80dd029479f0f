"""Edits of `databricks-cicd:releases` in a stack file that keep everything else as it was.

The file is read with ruamel.yaml's round-trip loader, so comments, key order, quoting and
indentation survive; an edit changes only the lines it means to. A file that would not survive
an unchanged round trip byte for byte is refused rather than reformatted. Every edit returns the
new text; the caller checks it with the one config reader (`cicd.config`) before writing it.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from cicd.config import NAMESPACE

RELEASES_KEY = f"{NAMESPACE}:releases"


class StackEditError(Exception):
    """The stack file cannot be edited safely; the message says why and what to do."""


def changed_lines(before: str, after: str) -> list[str]:
    """The lines an edit removed (`-`) and added (`+`), in file order."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def round_trip_load(text: str, where: str) -> tuple[YAML, Any]:
    """A stack file loaded for editing, with the YAML settings that give it back byte for byte
    (refused when no known style does: an edit must change only the lines it means to)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    try:
        # Loaded once: the indentation settings only shape what is written.
        document, indent, dash_offset = load_yaml_guess_indent(text, yaml=yaml)
    except YAMLError as exc:
        raise StackEditError(f"{where}: is not valid YAML ({exc})") from None
    # The indentation styles a stack file is written in; the first that gives the file back
    # byte for byte is the file's own.
    styles = [(2, indent or 2, dash_offset or 0), (2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4)]
    for mapping, sequence, offset in styles:
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        if dump_text(yaml, document) == text:
            return yaml, document
    raise StackEditError(
        f"{where}: cannot be edited without reformatting lines it does not change"
        " (unusual indentation or flow style); make the edit by hand instead"
    )


def dump_text(yaml: YAML, document: Any) -> str:
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


class StackDocument:
    """One stack file loaded for round-trip editing of its releases section."""

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.source = text
        self._yaml, self.document = round_trip_load(text, where)
        config = self.document.get("config") if isinstance(self.document, dict) else None
        releases = config.get(RELEASES_KEY) if isinstance(config, dict) else None
        if not isinstance(releases, CommentedMap) or not isinstance(
            releases.get("kept"), CommentedSeq
        ):
            raise StackEditError(
                f"{where}: has no '{RELEASES_KEY}' mapping with a 'kept' list; add one"
                " (see README, 'Stack config')"
            )
        self.releases: CommentedMap = releases

    def text(self) -> str:
        return dump_text(self._yaml, self.document)

    @property
    def kept(self) -> CommentedSeq:
        kept: CommentedSeq = self.releases["kept"]
        return kept

    def kept_versions(self) -> list[str]:
        return [str(entry.get("version")) for entry in self.kept if isinstance(entry, dict)]

    def set_value(self, key: str, value: str, after: Iterable[str] = ("live",)) -> None:
        """Set `key` to a quoted `value`; a new key goes right after the first of `after`
        present (else at the end)."""
        quoted = DoubleQuotedScalarString(value)
        if key in self.releases:
            self.releases[key] = quoted
            return
        keys = list(self.releases)
        position = len(keys)
        for anchor in after:
            if anchor in keys:
                position = keys.index(anchor) + 1
                break
        self.releases.insert(position, key, quoted)

    def remove_key(self, key: str) -> None:
        if key in self.releases:
            del self.releases[key]

    def add_kept(self, version: str, allow_unverified: str | None) -> None:
        entry = CommentedMap()
        entry["version"] = DoubleQuotedScalarString(version)
        if allow_unverified is not None:
            entry["allowUnverified"] = DoubleQuotedScalarString(allow_unverified)
        self.kept.append(entry)

    def remove_kept(self, versions: set[str]) -> None:
        for index in reversed(range(len(self.kept))):
            entry = self.kept[index]
            if isinstance(entry, dict) and str(entry.get("version")) in versions:
                del self.kept[index]

    def without_kept_lines(self, versions: set[str]) -> str | None:
        """The source text without the lines of the kept entries of `versions`, every other line
        (a comment above a kept entry included) as it was; None for a layout this cannot do
        (flow style), where the caller removes them through the document instead.

        ruamel.yaml attaches a comment line to the entry before it, so deleting that entry
        from the document would take the comment that stood above the next one with it.
        An entry's lines are its `-` line and the lines after it indented deeper than the dash.
        """
        lines = self.source.splitlines(keepends=True)
        drop: set[int] = set()
        for index, entry in enumerate(self.kept):
            if not (isinstance(entry, dict) and str(entry.get("version")) in versions):
                continue
            number = self.kept.lc.item(index)[0]
            line = lines[number]
            dash = len(line) - len(line.lstrip(" "))
            if not line[dash:].startswith("-") or number in drop:
                return None
            drop.add(number)
            for following in range(number + 1, len(lines)):
                text = lines[following]
                if not text.strip() or len(text) - len(text.lstrip(" ")) <= dash:
                    break
                drop.add(following)
        return "".join(line for number, line in enumerate(lines) if number not in drop)

    def set_allow_unverified(self, version: str, reason: str) -> None:
        for entry in self.kept:
            if isinstance(entry, dict) and str(entry.get("version")) == version:
                entry["allowUnverified"] = DoubleQuotedScalarString(reason)
