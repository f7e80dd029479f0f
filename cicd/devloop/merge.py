"""Three-way merge of one item: what changed in the workspace since the last sync (base -> theirs)
applied to the local bytes (mine), so that `dev pull` writes exactly the workspace's edits.

The workspace rewrites a notebook when it exports it (blank lines around the cell separators, the
final newline, an .ipynb re-serialised with its own metadata); `base` and `theirs` are exports,
`mine` is the engineer's file. So a notebook is merged as a sequence of cells, each compared by
what the service keeps of it (its lines without line endings or edge blank lines; for an .ipynb,
its type and source), never by bytes: a cell the workspace did not change keeps the local bytes
exactly, and only changed cells are written, in the local file's own layout (its line endings,
its blank lines, its final newline; for an .ipynb its JSON indentation and key order). A cell
changed on both sides is merged line by line. Workspace files are merged line by line.

Both sides changing the same lines differently is a conflict: the merge returns no bytes and says
where. The algorithm is the classic one (diff3, as bzr's and git's merges): matching blocks of
base against each side (difflib), regions where both sides kept the base, and between them the
side that changed wins, or both if they changed alike. No dependency: it is forty lines over the
standard library's difflib, and it must run on cells as well as lines.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

COMMENT = {"PYTHON": "#", "SQL": "--", "SCALA": "//", "R": "#"}
T = TypeVar("T", bound=Hashable)


class MergeConflict(Exception):
    """Both sides changed the same part differently; the message says where."""


# ---------------------------------------------------------------------------------------------
# The three-way merge of two edits of one sequence


@dataclass(frozen=True)
class Region:
    """A stretch of the result: `source` is "base" (both kept it), "mine", "theirs" (only that
    side changed it, or both alike: "mine"), or "conflict"; the ranges index each sequence."""

    source: str
    base: tuple[int, int]
    mine: tuple[int, int]
    theirs: tuple[int, int]


def _kept(base: Sequence[T], side: Sequence[T]) -> list[tuple[int, int, int]]:
    matcher = difflib.SequenceMatcher(None, base, side, autojunk=False)
    return [(b.a, b.b, b.size) for b in matcher.get_matching_blocks()]


def regions(base: Sequence[T], mine: Sequence[T], theirs: Sequence[T]) -> list[Region]:
    """The merge of base -> mine and base -> theirs, region by region (see the module doc)."""
    # Stretches of base that both sides kept, with where they sit on each side.
    kept_mine, kept_theirs = _kept(base, mine), _kept(base, theirs)
    both: list[tuple[int, int, int, int]] = []  # base start, base end, mine start, theirs start
    i = j = 0
    while i < len(kept_mine) and j < len(kept_theirs):
        m_base, m_side, m_size = kept_mine[i]
        t_base, t_side, t_size = kept_theirs[j]
        start, end = max(m_base, t_base), min(m_base + m_size, t_base + t_size)
        if start < end:
            both.append((start, end, m_side + start - m_base, t_side + start - t_base))
        if m_base + m_size < t_base + t_size:
            i += 1
        else:
            j += 1
    both.append((len(base), len(base), len(mine), len(theirs)))
    out: list[Region] = []
    at_base = at_mine = at_theirs = 0
    for start, end, mine_start, theirs_start in both:
        b_range, m_range, t_range = (
            (at_base, start),
            (at_mine, mine_start),
            (at_theirs, theirs_start),
        )
        changed_mine = list(mine[at_mine:mine_start]) != list(base[at_base:start])
        changed_theirs = list(theirs[at_theirs:theirs_start]) != list(base[at_base:start])
        if changed_mine and changed_theirs:
            alike = list(mine[at_mine:mine_start]) == list(theirs[at_theirs:theirs_start])
            out.append(Region("mine" if alike else "conflict", b_range, m_range, t_range))
        elif changed_mine:
            out.append(Region("mine", b_range, m_range, t_range))
        elif changed_theirs:
            out.append(Region("theirs", b_range, m_range, t_range))
        size = end - start
        if size:
            out.append(
                Region(
                    "base",
                    (start, end),
                    (mine_start, mine_start + size),
                    (theirs_start, theirs_start + size),
                )
            )
        at_base, at_mine, at_theirs = end, mine_start + size, theirs_start + size
    return out


def merge_lines(base: Sequence[str], mine: Sequence[str], theirs: Sequence[str]) -> list[str]:
    """Lines (compared without their line endings) merged; mine's bytes where mine is kept,
    theirs' lines in mine's line ending where theirs changed. MergeConflict on a clash."""
    eol = _eol(mine)
    key = _strip_eol
    merged: list[str] = []
    for region in regions([key(x) for x in base], [key(x) for x in mine], [key(x) for x in theirs]):
        if region.source == "conflict":
            raise MergeConflict("both sides edited the same lines")
        if region.source == "theirs":
            merged.extend(key(line) + eol for line in theirs[slice(*region.theirs)])
        else:
            merged.extend(mine[slice(*region.mine)])
    return merged


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _eol(lines: Sequence[str]) -> str:
    crlf = sum(1 for line in lines if line.endswith("\r\n"))
    return "\r\n" if crlf * 2 > len(lines) else "\n"


# ---------------------------------------------------------------------------------------------
# Source notebooks: a header line, then cells between separator lines


@dataclass
class _Cell:
    lead: list[str]  # blank lines before the cell's first line (raw)
    body: list[str]  # the cell's lines (raw), from its first to its last non-blank line
    trail: list[str]  # blank lines after it (raw)

    def key(self) -> tuple[str, ...]:
        return tuple(_strip_eol(line) for line in self.body)


@dataclass
class _Source:
    header: str
    cells: list[_Cell]
    separators: list[str]  # raw separator lines; separators[i] follows cells[i]
    final_newline: bool


def _parse_source(text: str, comment: str) -> _Source:
    lines = text.splitlines(keepends=True)
    header = ""
    if lines and _strip_eol(lines[0]) == f"{comment} Databricks notebook source":
        header = lines.pop(0)
    separator = f"{comment} COMMAND ----------"
    groups: list[list[str]] = [[]]
    separators: list[str] = []
    for line in lines:
        if _strip_eol(line).rstrip() == separator:
            separators.append(line)
            groups.append([])
        else:
            groups[-1].append(line)
    cells = []
    for group in groups:
        first = next((i for i, x in enumerate(group) if _strip_eol(x).strip()), len(group))
        last = next((i for i in range(len(group), 0, -1) if _strip_eol(group[i - 1]).strip()), 0)
        if first >= last:  # an empty cell: all of it counts as lead
            cells.append(_Cell(group, [], []))
        else:
            cells.append(_Cell(group[:first], group[first:last], group[last:]))
    return _Source(header, cells, separators, text.endswith("\n") or not text)


def merge_source(base: str, mine: str, theirs: str, language: str) -> str:
    comment = COMMENT.get(language, "#")
    b, m, t = (_parse_source(x, comment) for x in (base, mine, theirs))
    eol = _eol(mine.splitlines(keepends=True))
    separator = f"{comment} COMMAND ----------{eol}"
    blank = [eol]
    pieces: list[tuple[_Cell, int | None]] = []  # each cell, with its index in mine if it is mine's
    for region in regions(
        [c.key() for c in b.cells], [c.key() for c in m.cells], [c.key() for c in t.cells]
    ):
        mine_cells = m.cells[slice(*region.mine)]
        if region.source in ("base", "mine"):
            pieces.extend((cell, region.mine[0] + n) for n, cell in enumerate(mine_cells))
            continue
        theirs_cells = t.cells[slice(*region.theirs)]
        base_cells = b.cells[slice(*region.base)]
        if region.source == "conflict" and not (
            len(base_cells) == len(mine_cells) == len(theirs_cells)
        ):
            raise MergeConflict(f"both sides edited cell {region.mine[0] + 1}")
        for n, cell in enumerate(theirs_cells):
            # In mine's layout: the blank lines mine had around the cell it replaces, else one.
            at = region.mine[0] + n if n < len(mine_cells) else None
            own = m.cells[at] if at is not None else None
            if region.source == "conflict":
                assert own is not None
                body = merge_lines(base_cells[n].body, own.body, cell.body)
            else:
                body = [_strip_eol(line) + eol for line in cell.body]
            lead = own.lead if own else ([] if not pieces else blank)
            trail = own.trail if own else blank
            pieces.append((_Cell(lead, body, trail), at))
    out = [m.header]
    last = len(pieces) - 1
    for n, (cell, at) in enumerate(pieces):
        lead, trail = cell.lead, cell.trail
        if n:
            previous = pieces[n - 1][1]
            follows = previous is not None and at == previous + 1
            out.append(m.separators[previous] if follows and previous is not None else separator)
        # A cell that moved to or from an edge of the notebook takes the layout of its new place.
        if n and at == 0 and not lead:
            lead = blank
        if n < last and at == len(m.cells) - 1 and not trail:
            trail = blank
        if n == last and at is None:
            trail = []
        lines = lead + cell.body + trail
        # Every line but the file's last ends with a newline; the end is fixed below.
        out.extend(line if line.endswith("\n") else line + eol for line in lines)
    text = "".join(out)
    if not m.final_newline:
        text = text.removesuffix(eol) if text.endswith(eol) else text.rstrip("\r\n")
    return text


# ---------------------------------------------------------------------------------------------
# Jupyter notebooks: the cells of the JSON document


def _cell_key(cell: dict[str, Any]) -> tuple[str, str]:
    source = cell.get("source") or ""
    text = "".join(source) if isinstance(source, list) else str(source)
    return str(cell.get("cell_type")), text.replace("\r\n", "\n").strip("\n")


def _layout(text: str, document: Any) -> dict[str, Any] | None:
    """The json.dumps options that write `document` back as exactly `text`, if any do."""
    for indent in (1, 2, 4, None):
        for sort_keys in (True, False):
            for ensure_ascii in (False, True):
                options: dict[str, Any] = {
                    "indent": indent,
                    "sort_keys": sort_keys,
                    "ensure_ascii": ensure_ascii,
                }
                written = json.dumps(document, **options)
                if text in (written, written + "\n"):
                    options["final_newline"] = text.endswith("\n")
                    return options
    return None


def _with_source(template: dict[str, Any], text: str) -> dict[str, Any]:
    cell = dict(template)
    cell["source"] = (
        text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text
    )
    return cell


def _source_text(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


def merge_jupyter(base: str, mine: str, theirs: str) -> str:
    b_doc, m_doc, t_doc = (json.loads(x) for x in (base, mine, theirs))
    layout = _layout(mine, m_doc)
    if layout is None:
        raise MergeConflict(
            "its JSON layout is not one this tool writes back byte for byte (json.dumps with an"
            " indent of 1, 2 or 4, or none)"
        )
    b_cells, m_cells, t_cells = (list(d.get("cells") or []) for d in (b_doc, m_doc, t_doc))
    merged: list[dict[str, Any]] = []
    for region in regions(
        [_cell_key(c) for c in b_cells],
        [_cell_key(c) for c in m_cells],
        [_cell_key(c) for c in t_cells],
    ):
        mine_cells = m_cells[slice(*region.mine)]
        if region.source in ("base", "mine"):
            merged.extend(mine_cells)
            continue
        theirs_cells = t_cells[slice(*region.theirs)]
        base_cells = b_cells[slice(*region.base)]
        if region.source == "conflict" and not (
            len(base_cells) == len(mine_cells) == len(theirs_cells)
        ):
            raise MergeConflict(f"both sides edited cell {region.mine[0] + 1}")
        for n, cell in enumerate(theirs_cells):
            own = mine_cells[n] if n < len(mine_cells) else None
            text = _source_text(cell)
            if region.source == "conflict":
                assert own is not None
                lines = merge_lines(
                    _source_text(base_cells[n]).splitlines(keepends=True),
                    _source_text(own).splitlines(keepends=True),
                    text.splitlines(keepends=True),
                )
                text = "".join(lines)
            if own is not None:
                replaced = _with_source(own, text)
                replaced["cell_type"] = cell.get("cell_type")
                merged.append(replaced)
            else:  # a new cell: its type and source, none of the service's metadata
                new: dict[str, Any] = {"cell_type": cell.get("cell_type"), "metadata": {}}
                if cell.get("cell_type") == "code":
                    new.update({"execution_count": None, "outputs": []})
                new["source"] = text.splitlines(keepends=True)
                merged.append(new)
    m_doc["cells"] = merged
    final_newline = layout.pop("final_newline")
    return json.dumps(m_doc, **layout) + ("\n" if final_newline else "")


# ---------------------------------------------------------------------------------------------


def merge_item(base: bytes, mine: bytes, theirs: bytes, kind: str, language: str | None) -> bytes:
    """`mine` with the changes base -> theirs applied. `kind`: SOURCE or JUPYTER (notebooks), RAW
    (workspace files). MergeConflict when both changed the same part, or when it is not text."""
    try:
        old, own, new = (x.decode("utf-8") for x in (base, mine, theirs))
    except UnicodeDecodeError:
        raise MergeConflict("not UTF-8 text, so it cannot be merged") from None
    if kind == "JUPYTER":
        try:
            return merge_jupyter(old, own, new).encode("utf-8")
        except (ValueError, AttributeError, TypeError):
            raise MergeConflict("not a valid .ipynb (JSON) document on both sides") from None
    if kind == "SOURCE":
        return merge_source(old, own, new, language or "PYTHON").encode("utf-8")
    split = [x.splitlines(keepends=True) for x in (old, own, new)]
    return "".join(merge_lines(split[0], split[1], split[2])).encode("utf-8")


def same_content(a: bytes, b: bytes, kind: str, language: str | None) -> bool:
    """True when two copies of an item differ only in what the workspace rewrites on export."""
    if a == b:
        return True
    try:
        texts = [x.decode("utf-8") for x in (a, b)]
    except UnicodeDecodeError:
        return False
    if kind == "JUPYTER":
        try:
            cells = [[_cell_key(c) for c in json.loads(x).get("cells") or []] for x in texts]
        except (ValueError, AttributeError, TypeError):
            return False
        return cells[0] == cells[1]
    if kind == "SOURCE":
        comment = COMMENT.get(language or "PYTHON", "#")
        parsed = [_parse_source(x, comment) for x in texts]
        return [c.key() for c in parsed[0].cells if c.body] == [
            c.key() for c in parsed[1].cells if c.body
        ]
    return False
