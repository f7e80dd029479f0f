"""cicd.devloop.merge without a server: the workspace's edit (base -> theirs, both exports as the
service rewrites them, `tests.emulator_export`) applied to the local file, and nothing else."""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest

from cicd.devloop.merge import MergeConflict, merge_item, same_content
from tests.emulator_export import jupyter_to_source, service_export, service_jupyter

# A local layout the service would rewrite: no blank lines around one separator, two after a
# cell, a cell of magic, and a final newline.
LOCAL = (
    "# Databricks notebook source\nimport os\n# COMMAND ----------\nx = 1\ny = 2\n\n\n"
    "# COMMAND ----------\n# MAGIC %md\n# MAGIC Notes\n"
)


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def workspace_edit(local: str, old: str, new: str) -> tuple[bytes, bytes]:
    """(base, theirs): the export after the push, and after an edit in the workspace."""
    base = service_export(local.encode())
    assert base != local.encode(), "the export must differ from the local layout"
    return base, service_export(base.replace(old.encode(), new.encode()))


def test_a_one_line_edit_changes_one_line_in_the_local_layout() -> None:
    base, theirs = workspace_edit(LOCAL, "y = 2", "y = 3")
    merged = merge_item(base, LOCAL.encode(), theirs, "SOURCE", "PYTHON").decode()
    assert merged == LOCAL.replace("y = 2", "y = 3"), merged
    assert changed_lines(LOCAL, merged) == ["-y = 2\n", "+y = 3\n"]


def test_crlf_and_no_final_newline_are_kept() -> None:
    local = LOCAL.replace("\n", "\r\n").removesuffix("\r\n")
    base, theirs = workspace_edit(LOCAL, "x = 1", "x = 10")
    merged = merge_item(base, local.encode(), theirs, "SOURCE", "PYTHON").decode()
    assert merged == local.replace("x = 1", "x = 10"), repr(merged)


def test_a_cell_added_or_removed_in_the_workspace() -> None:
    base = service_export(LOCAL.encode())
    added = base + b"\n\n# COMMAND ----------\n\nprint('new')"
    merged = merge_item(base, LOCAL.encode(), added, "SOURCE", "PYTHON").decode()
    assert changed_lines(LOCAL, merged) == [
        "+\n",
        "+# COMMAND ----------\n",
        "+\n",
        "+print('new')\n",
    ], merged
    removed = base.replace(b"x = 1\ny = 2\n\n# COMMAND ----------\n\n", b"")
    merged = merge_item(base, LOCAL.encode(), removed, "SOURCE", "PYTHON").decode()
    assert "x = 1" not in merged and merged.startswith("# Databricks notebook source\nimport os\n")
    assert merged.endswith("# MAGIC %md\n# MAGIC Notes\n"), merged


def test_edits_on_both_sides_merge_unless_they_touch_the_same_lines() -> None:
    base, theirs = workspace_edit(LOCAL, "x = 1", "x = 10")
    mine = LOCAL.replace("import os", "import sys")  # another cell
    merged = merge_item(base, mine.encode(), theirs, "SOURCE", "PYTHON").decode()
    assert merged == LOCAL.replace("x = 1", "x = 10").replace("import os", "import sys"), merged
    # The same cell, lines apart: merged line by line.
    local = LOCAL.replace("y = 2\n", "y = 2\nz = 3\n")
    base, theirs = workspace_edit(local, "x = 1", "x = 10")
    mine = local.replace("z = 3", "z = 30")
    merged = merge_item(base, mine.encode(), theirs, "SOURCE", "PYTHON").decode()
    assert merged == local.replace("x = 1", "x = 10").replace("z = 3", "z = 30"), merged
    # The same line (or lines next to each other, as in git): a conflict.
    clash = local.replace("x = 1", "x = 11")
    with pytest.raises(MergeConflict, match="both sides edited the same lines"):
        merge_item(base, clash.encode(), theirs, "SOURCE", "PYTHON")


def test_sql_notebooks_use_their_own_separator() -> None:
    local = "-- Databricks notebook source\nSELECT 1\n-- COMMAND ----------\nSELECT 2\n"
    base, theirs = workspace_edit(local, "SELECT 2", "SELECT 3")
    merged = merge_item(base, local.encode(), theirs, "SOURCE", "SQL").decode()
    assert merged == local.replace("SELECT 2", "SELECT 3"), merged


NOTEBOOK: dict[str, Any] = {
    "cells": [
        {"cell_type": "markdown", "metadata": {"tags": ["intro"]}, "source": ["# Title"]},
        {
            "cell_type": "code",
            "execution_count": 3,
            "metadata": {},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}],
            "source": ["a = 1\n", "print(a)"],
        },
    ],
    "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.mark.parametrize(
    "layout",
    [{"indent": 1, "sort_keys": True}, {"indent": 2, "sort_keys": False}],
    ids=["jupyter", "indent-2-unsorted"],
)
def test_an_ipynb_keeps_its_layout_metadata_and_outputs(layout: dict[str, Any]) -> None:
    local = json.dumps(NOTEBOOK, ensure_ascii=False, **layout) + "\n"
    stored, language = jupyter_to_source(local.encode())
    base = service_jupyter(stored, "/Users/x/nb", language)
    theirs = service_jupyter(stored.replace(b"a = 1", b"a = 2"), "/Users/x/nb", language)
    merged = merge_item(base, local.encode(), theirs, "JUPYTER", "PYTHON").decode()
    removed, added = changed_lines(local, merged)
    assert removed.startswith("-") and removed[1:].strip() == '"a = 1\\n",', merged
    assert added.startswith("+") and added[1:].strip() == '"a = 2\\n",', merged
    document = json.loads(merged)
    assert document["cells"][1]["outputs"] == NOTEBOOK["cells"][1]["outputs"]
    assert document["cells"][0]["metadata"] == {"tags": ["intro"]}

    appended = service_jupyter(
        stored + b"\n\n# COMMAND ----------\n\nb = 2", "/Users/x/nb", "PYTHON"
    )
    merged = json.loads(merge_item(base, local.encode(), appended, "JUPYTER", "PYTHON"))
    assert merged["cells"][-1] == {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": ["b = 2"],
    }


def test_an_ipynb_in_a_layout_it_cannot_write_back_is_a_conflict() -> None:
    local = json.dumps(NOTEBOOK, indent=3)
    stored, language = jupyter_to_source(local.encode())
    base = service_jupyter(stored, "/Users/x/nb", language)
    theirs = service_jupyter(stored.replace(b"a = 1", b"a = 2"), "/Users/x/nb", language)
    with pytest.raises(MergeConflict, match="JSON layout"):
        merge_item(base, local.encode(), theirs, "JUPYTER", "PYTHON")


def test_same_content_ignores_only_what_the_export_rewrites() -> None:
    exported = service_export(LOCAL.encode())
    assert same_content(LOCAL.encode(), exported, "SOURCE", "PYTHON")
    assert not same_content(
        LOCAL.encode(), exported.replace(b"y = 2", b"y = 3"), "SOURCE", "PYTHON"
    )
    local = json.dumps(NOTEBOOK, indent=1)
    stored, _ = jupyter_to_source(local.encode())
    jupyter = service_jupyter(stored, "/Users/x/nb", "PYTHON")
    assert same_content(local.encode(), jupyter, "JUPYTER", "PYTHON")
    assert not same_content(b"a\n", b"a", "RAW", None), "workspace files are stored exactly"


def test_workspace_files_merge_line_by_line() -> None:
    base = b'{\n  "a": 1,\n  "keep": 0,\n  "b": 2\n}\n'
    mine = base.replace(b'"a": 1', b'"a": 10')
    theirs = base.replace(b'"b": 2', b'"b": 20')
    assert merge_item(base, mine, theirs, "RAW", None) == mine.replace(b'"b": 2', b'"b": 20')
    with pytest.raises(MergeConflict):
        merge_item(base, mine, base.replace(b'"a": 1', b'"a": 11'), "RAW", None)
