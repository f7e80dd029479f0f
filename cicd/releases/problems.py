"""Every problem of a release's content, reported at once: grouped by kind, capped, each line
naming the file and the fix.

A large notebooks tree can hold hundreds of problems; one per run would make fixing it a loop,
and all of them would bury the message. So problems are collected while scanning, then shown
grouped under a heading that says what is wrong and why, at most `MAX_SHOWN` file lines in all
(shared fairly between the kinds), with "and N more" where a kind was cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_SHOWN = 20


class ReleaseContentError(Exception):
    """Release content that cannot be published as it is; the message names every file."""


@dataclass(frozen=True)
class Kind:
    title: str  # what is wrong, and why it matters
    fix: str  # what to do about one file


HIDDEN = Kind(
    "hidden files and __pycache__ are not published (a build never copies them)",
    "remove it from the tree",
)
SYMLINK = Kind("symbolic links are not published", "copy the file in instead of linking it")
BAD_NAME = Kind(
    "names the workspace cannot hold (control characters, or bytes that are not UTF-8)",
    "rename it",
)
SAME_PATH = Kind("files that would be published at the same workspace path", "rename one of them")
NOTEBOOK_FOLDER = Kind(
    "notebooks published at the path of a folder (the workspace holds one object per path)",
    "rename the notebook or the folder",
)
TOO_LARGE = Kind(
    "notebooks over the workspace import limit (10 MB of base64, about 7.5 MiB of file)",
    "split it, or clear its outputs",
)
BOM = Kind(
    "a UTF-8 byte-order mark before the notebook header: refused, not stripped (the workspace"
    " would import it as a plain file, and the bytes published are the bytes locked)",
    "save it as UTF-8 without BOM",
)
BAD_JUPYTER = Kind(".ipynb files that are not valid JSON", "fix or remove it")
LAYOUT = Kind(
    "entries a release folder does not hold (only notebooks/ and libraries/)", "move it out"
)
LIBRARY = Kind("library files that cannot be published", "give a built .whl or .jar file")


@dataclass
class Problems:
    """Problems found under `root`, in the order found, by kind."""

    root: Path
    found: dict[Kind, list[str]] = field(default_factory=dict)

    def add(self, kind: Kind, line: str) -> None:
        self.found.setdefault(kind, []).append(line)

    def __len__(self) -> int:
        return sum(len(lines) for lines in self.found.values())

    def lines(self) -> list[str]:
        """The grouped report, at most MAX_SHOWN file lines (each kind gets its fair share)."""
        shown = {kind: 0 for kind in self.found}
        budget = MAX_SHOWN
        while budget > 0 and any(shown[k] < len(v) for k, v in self.found.items()):
            for kind, lines in self.found.items():
                if budget > 0 and shown[kind] < len(lines):
                    shown[kind] += 1
                    budget -= 1
        report = []
        for kind, lines in self.found.items():
            report.append(f"  {kind.title} ({len(lines)}):")
            report += [f"    - {line}: {kind.fix}" for line in lines[: shown[kind]]]
            if len(lines) > shown[kind]:
                report.append(f"    ... and {len(lines) - shown[kind]} more")
        return report

    def raise_if_any(self, doing: str = "nothing was published") -> None:
        if self.found:
            raise ReleaseContentError(
                f"{self.root}: {len(self)} problem(s) in the content; {doing}:\n"
                + "\n".join(self.lines())
            )
