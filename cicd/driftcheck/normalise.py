"""Compare a notebook's export with its published source, ignoring only what the service changes.

Workspace files and libraries are stored byte for byte (workspace-files and Files/DBFS APIs):
they are compared exactly. A notebook is different: the service parses the imported source into
cells and writes it back on export (format SOURCE). What that rewrite has been seen to change,
and nothing else, is normalised here:

- **line endings**: until 2025-12-16 the service normalised them on import/export; since then it
  keeps them (databricks/cli #4256), so a CRLF source may come back either way;
- **the newline at the end of the file**: the same change of 2025-12-16 (an import without a
  final newline used to come back with one), and exports seen stripping one (inspera/blackbricks
  #36: "foobar\\n" came back as "foobar");
- **blank lines around the cell separator** (`# COMMAND ----------`, `-- ...` in SQL, `// ...`
  in Scala): a source notebook is stored as cells and exported with one blank line on each side
  of every separator, whatever the imported file had.

So a hand edit that only adds or removes blank lines at those places is not reported; every other
edit is. A JUPYTER notebook is exported as a new .ipynb (metadata, outputs): its cells' types and
sources are compared instead. The tests run the check both against the emulator's exact export and
against a handler that rewrites exports as the service does (tests/emulator_export.py).

Job settings read back (`jobs/get`) differ in form too: the service leaves out a field whose value
is empty or the type's zero (`libraries: []`, `base_parameters: {}`, `retry_on_timeout: false`,
`max_retries: 0`; the SDK drops empty lists as well), so a setting the program sets to such a value
and the service does not return is the same setting (`left_out_when_empty`).
"""

from __future__ import annotations

import json

COMMENT = {"PYTHON": "#", "SQL": "--", "SCALA": "//", "R": "#"}


def normalise_source(data: bytes, language: str) -> bytes:
    text = data.decode("utf-8", errors="surrogateescape")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    separator = f"{COMMENT.get(language, '#')} COMMAND ----------"
    cells: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line == separator:
            cells.append([])
        else:
            cells[-1].append(line)
    joined = f"\n\n{separator}\n\n".join("\n".join(cell).strip("\n") for cell in cells)
    return joined.encode("utf-8", errors="surrogateescape")


def jupyter_cells(data: bytes) -> list[tuple[str, str]] | None:
    """(cell type, source) of each cell of an .ipynb, or None when it is not one."""
    try:
        document = json.loads(data.decode("utf-8"))
        cells = document["cells"]
        return [
            (
                str(cell.get("cell_type")),
                "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"],
            )
            for cell in cells
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def same_notebook(exported: bytes, published: bytes, language: str, format_: str) -> bool:
    if exported == published:
        return True
    if format_ == "JUPYTER":
        cells = jupyter_cells(exported)
        return cells is not None and cells == jupyter_cells(published)
    return normalise_source(exported, language) == normalise_source(published, language)


# Values the Jobs API leaves out of a read when a setting holds them: empty lists and maps, the
# empty string, false and zero (what an absent field means to the service).
EMPTY_VALUES: tuple[object, ...] = ([], {}, "", False, 0)


def left_out_when_empty(expected: object) -> bool:
    """True when the service may return `expected` as an absent field: the same setting."""
    return any(type(expected) is type(empty) and expected == empty for empty in EMPTY_VALUES) or (
        isinstance(expected, float) and expected == 0
    )
