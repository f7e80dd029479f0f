"""The offline preview (`python -m cicd.preview`): what a reviewer sees for a rollback and a
promotion edit of the prod stack file, without the Pulumi CLI or credentials."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cicd.preview import main
from tests.conftest import REPO, RUNNER, SandboxProject, base_values, with_releases


def write_stack_file(path: Path, values: dict[str, Any]) -> Path:
    config = {f"databricks-cicd:{k}": v for k, v in values.items()}
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


@pytest.fixture
def prod_files(
    sandbox: SandboxProject, values: dict[str, Any]
) -> tuple[SandboxProject, dict[str, Any]]:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        sandbox.add_release(version)
    return sandbox, values


def preview(
    project: SandboxProject, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code = main(["--stack", "prod", *args], project_dir=project.root)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_rollback_edit_shows_only_the_job(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, values = prod_files
    base = write_stack_file(
        project.root / "base.yaml", with_releases(values, ["1.0.0", "1.1.0"], "1.1.0")
    )
    head = write_stack_file(
        project.root / "Pulumi.prod.yaml", with_releases(values, ["1.0.0", "1.1.0"], "1.0.0")
    )
    code, out, err = preview(project, capsys, "--config", str(head), "--base", str(base))
    assert code == 0, err
    changed = [line for line in out.splitlines() if line.startswith(("  +", "  -", "  ~"))]
    assert changed == ["  ~ databricks:index/job:Job  pipeline-job"], out
    assert (
        "tasks[0].notebookTask.notebookPath: /Production/etl-pipeline/releases/1.1.0/main"
        " -> /Production/etl-pipeline/releases/1.0.0/main"
    ) in out, out
    assert "0 to add, 1 to change, 0 to remove" in out, out


def test_promotion_edit_shows_the_new_release_added_and_the_job_changed(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, values = prod_files
    base = write_stack_file(
        project.root / "base.yaml", with_releases(values, ["1.0.0", "1.1.0"], "1.1.0")
    )
    head = write_stack_file(
        project.root / "Pulumi.prod.yaml",
        with_releases(values, ["1.0.0", "1.1.0", "1.2.0"], "1.2.0", rollbackTarget="1.1.0"),
    )
    code, out, err = preview(project, capsys, "--config", str(head), "--base", str(base))
    assert code == 0, err
    changed = [line for line in out.splitlines() if line.startswith(("  +", "  -", "  ~"))]
    additions = [line for line in changed if line.startswith("  +")]
    assert additions and all("release-1.2.0" in line for line in additions), changed
    assert [line for line in changed if not line.startswith("  +")] == [
        "  ~ databricks:index/job:Job  pipeline-job"
    ], changed
    assert "  + databricks:index/notebook:Notebook  release-1.2.0-notebook-main" in additions, (
        additions
    )


def test_listing_without_base_shows_every_resource_with_its_path(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, values = prod_files
    write_stack_file(project.root / "Pulumi.prod.yaml", with_releases(values, ["1.1.0"], "1.1.0"))
    code, out, _ = preview(project, capsys)
    assert code == 0
    assert (
        "databricks:index/notebook:Notebook  release-1.1.0-notebook-main  path=/Production/etl-pipeline/releases/1.1.0/main"
        in out
    ), out
    assert "`pulumi preview` against the real state stays the source of truth" in out


def test_bad_edit_is_reported_without_a_traceback(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, values = prod_files
    write_stack_file(project.root / "Pulumi.prod.yaml", with_releases(values, ["1.0.0"], "1.1.0"))
    code, _, err = preview(project, capsys)
    assert code == 1, err
    assert "live release '1.1.0' is not in kept" in err and "Traceback" not in err, err


def test_help_says_it_complements_pulumi_preview(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"], project_dir=REPO)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "complements `pulumi preview`" in out and "source of truth" in out, out


@pytest.mark.usefixtures("built_releases")
def test_rollback_of_the_repo_prod_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "Pulumi.prod.yaml").read_text()
    assert '    live: "1.3.0"\n' in text, "the example prod stack is expected to run 1.3.0"
    rolled_back = tmp_path / "Pulumi.prod.yaml"
    rolled_back.write_text(text.replace('    live: "1.3.0"\n', '    live: "1.2.0"\n'))
    code = main(
        ["--stack", "prod", "--config", str(rolled_back), "--base", str(REPO / "Pulumi.prod.yaml")],
        project_dir=REPO,
    )
    out = capsys.readouterr().out
    assert code == 0
    changed = [line for line in out.splitlines() if line.startswith(("  +", "  -", "  ~"))]
    # One change per job and pipeline, nothing else.
    assert sorted(changed) == [
        "  ~ databricks:index/job:Job  pipeline-job",
        "  ~ databricks:index/job:Job  pipeline-job-orders_quality-job",
        "  ~ databricks:index/pipeline:Pipeline  pipeline-lakeflow-orders_bronze-pipeline",
    ], out


@pytest.mark.parametrize(
    ("base", "head", "removed"),
    [
        # promote 1.2.0 and drop the release the job ran, in one change
        (
            (["1.0.0", "1.1.0"], "1.1.0", "1.0.0"),
            (["1.0.0", "1.2.0"], "1.2.0", "1.0.0"),
            "'1.1.0', which the job runs",
        ),
        # drop the rollback target while re-targeting, in one change
        (
            (["1.0.0", "1.1.0"], "1.1.0", "1.0.0"),
            (["1.1.0", "1.2.0"], "1.2.0", "1.1.0"),
            "'1.0.0', the rollback target",
        ),
    ],
    ids=["live-removed-with-promotion", "rollback-target-removed-with-promotion"],
)
def test_prod_change_may_not_remove_what_the_base_runs_or_rolls_back_to(
    prod_files: tuple[SandboxProject, dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    base: tuple[list[str], str, str],
    head: tuple[list[str], str, str],
    removed: str,
) -> None:
    project, values = prod_files

    def stack(kept: list[str], live: str, target: str) -> dict[str, Any]:
        return with_releases(values, kept, live, rollbackTarget=target, requireRollbackTarget=True)

    base_file = write_stack_file(project.root / "base.yaml", stack(*base))
    head_file = write_stack_file(project.root / "Pulumi.prod.yaml", stack(*head))
    code, _, err = preview(project, capsys, "--config", str(head_file), "--base", str(base_file))
    assert code == 1, err
    assert f"databricks-cicd:releases.kept: removes {removed}" in err, err


def test_retiring_a_release_that_is_neither_live_nor_target_is_allowed(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, values = prod_files
    base = with_releases(
        values,
        ["1.0.0", "1.1.0", "1.2.0"],
        "1.2.0",
        rollbackTarget="1.1.0",
        requireRollbackTarget=True,
    )
    head = with_releases(
        values, ["1.1.0", "1.2.0"], "1.2.0", rollbackTarget="1.1.0", requireRollbackTarget=True
    )
    code, out, err = preview(
        project,
        capsys,
        "--config",
        str(write_stack_file(project.root / "h.yaml", head)),
        "--base",
        str(write_stack_file(project.root / "b.yaml", base)),
    )
    assert code == 0, err
    assert "to remove" in out and ", 0 to remove" not in out, out


def test_staging_may_replace_its_candidate_in_one_change(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, values = prod_files
    base = write_stack_file(project.root / "b.yaml", with_releases(values, ["1.1.0"], "1.1.0"))
    head = write_stack_file(project.root / "h.yaml", with_releases(values, ["1.2.0"], "1.2.0"))
    code, _, err = preview(project, capsys, "--config", str(head), "--base", str(base))
    assert code == 0, err


def test_a_literal_secret_in_the_head_file_is_not_printed(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A branch that puts a secret into a job parameter: the pull request's offline preview
    shows the parameter changed, never the value (the guardrails refuse it separately)."""
    project, values = prod_files
    base = write_stack_file(
        project.root / "base.yaml", with_releases(values, ["1.0.0", "1.1.0"], "1.1.0")
    )
    secret = "hunter2-and-then-some"
    token = "dapi" + "5e7a" * 8
    head_values = with_releases(values, ["1.0.0", "1.1.0"], "1.1.0")
    head_values["job"] = {
        **head_values["job"],
        "parameters": {**head_values["job"].get("parameters", {}), "db_password": secret},
        "tags": {**head_values["job"].get("tags", {}), "note": token},
    }
    head = write_stack_file(project.root / "Pulumi.prod.yaml", head_values)
    code, out, err = preview(project, capsys, "--config", str(head), "--base", str(base))
    assert "baseParameters.db_password" in out and "tags.note" in out, out + err
    assert secret not in out + err and token[4:] not in out + err, out + err
    assert "[redacted: " in out, out


def test_the_summary_says_what_each_job_and_pipeline_runs() -> None:
    from cicd.config import read_stack_file
    from cicd.preview import summary

    lines = summary(read_stack_file(REPO / "Pulumi.prod.yaml"))
    assert lines[0] == "Summary: live 1.3.0, rollback target 1.2.0, kept 1.2.0, 1.3.0", lines
    text = "\n".join(lines)
    assert "  job main (etl-pipeline-prod) runs release 1.3.0: 4 task(s)" in text, text
    assert "    daily_summary: wheel etl_pipeline:daily_summary (after main)" in text, text
    assert "    main: notebook main (after check_source)" in text, text
    assert "  job orders_quality (etl-orders-quality-prod) runs release 1.3.0: 2 task(s)" in text
    assert "    refresh_bronze: pipeline orders_bronze" in text, text
    assert (
        "  pipeline orders_bronze (etl-orders-bronze-prod) runs release 1.3.0:"
        " pipelines/orders/** -> prod.sales"
    ) in text, text


# --graph: each job's task graph as Mermaid (cicd.taskgraph).
MERMAID_NODE = re.compile(r'^  (\w+)(?:\[\[|\[\(|\[|\{|\()"(.*)"(?:\]\]|\)\]|\]|\}|\))$')
MERMAID_EDGE = re.compile(r"^  (\w+) (?:-->|-\. (\w+) \.->)(?:\|([^|]*)\|)? (\w+)$")


def parse_flowcharts(lines: list[str]) -> dict[str, tuple[dict[str, list[str]], set[tuple]]]:
    """heading -> (node id -> label lines, edges (from, to, label)) of each ```mermaid block;
    every line of a block must be a node, an edge or the `flowchart` line."""
    charts: dict[str, tuple[dict[str, list[str]], set[tuple]]] = {}
    heading = ""
    inside = False
    for line in lines:
        if line.startswith("### "):
            heading = line[4:]
        elif line == "```mermaid":
            inside = True
            charts[heading] = ({}, set())
        elif line == "```":
            inside = False
        elif inside and not line.startswith("flowchart "):
            nodes, edges = charts[heading]
            node, edge = MERMAID_NODE.match(line), MERMAID_EDGE.match(line)
            assert node or edge, f"{heading}: not a node or edge: {line!r}"
            if node:
                nodes[node[1]] = node[2].split("<br/>")
            else:
                assert edge is not None
                edges.add((edge[1], edge[4], edge[2] or edge[3]))
    return charts


def task_edges(chart: tuple[dict[str, list[str]], set[tuple]]) -> set[tuple[str, str, Any]]:
    """The chart's edges between tasks and from the job, named by task key (first label line)."""
    nodes, edges = chart
    name = {node: label[0] for node, label in nodes.items()}
    name["job"] = "(job)"
    return {(name[a], name[b], label) for a, b, label in edges if a != "release"}


def test_graph_of_the_repo_prod_file_draws_the_main_job_dag_exactly() -> None:
    from cicd.config import read_stack_file
    from cicd.taskgraph import mermaid_document

    charts = parse_flowcharts(mermaid_document(read_stack_file(REPO / "Pulumi.prod.yaml")))
    assert list(charts) == [
        "job main (etl-pipeline-prod): release 1.3.0",
        "job orders_quality (etl-orders-quality-prod): release 1.3.0",
        "pipelines: release 1.3.0",
    ], list(charts)
    # What the file says, read without the config model: task keys and dependsOn.
    raw = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]
    tasks = raw["databricks-cicd:job"]["tasks"]
    expected = {
        (dep, task["taskKey"], None) for task in tasks for dep in task.get("dependsOn", [])
    } | {("(job)", task["taskKey"], None) for task in tasks if not task.get("dependsOn")}
    main_chart = charts["job main (etl-pipeline-prod): release 1.3.0"]
    assert task_edges(main_chart) == expected, main_chart
    nodes, edges = main_chart
    labels = {label[0]: label[1:] for node, label in nodes.items() if node.startswith("t")}
    assert labels == {
        "check_source": ["notebook tasks/check_source"],
        "main": ["notebook main"],
        "daily_summary": ["wheel etl_pipeline:daily_summary"],
        "publish_report": ["notebook tasks/publish_report"],
    }, labels
    assert nodes["release"][:2] == [
        "release 1.3.0 (live)",
        "/Production/etl-pipeline/releases/1.3.0",
    ]
    assert ("release", "job", "runs") in edges, edges
    # The second job triggers the pipeline: the pipeline is a node of its chart.
    quality_nodes, quality_edges = charts[
        "job orders_quality (etl-orders-quality-prod): release 1.3.0"
    ]
    pipeline = next(n for n, label in quality_nodes.items() if label[0].startswith("pipeline "))
    assert quality_nodes[pipeline] == [
        "pipeline orders_bronze (etl-orders-bronze-prod)",
        "pipelines/orders/** → prod.sales",
    ], quality_nodes
    refresh = next(n for n, label in quality_nodes.items() if label[0] == "refresh_bronze")
    assert (refresh, pipeline, "updates") in quality_edges, quality_edges


def test_graph_draws_a_for_each_a_condition_and_its_outcomes() -> None:
    from cicd.config import parse_stack_config
    from cicd.taskgraph import mermaid_document

    values = base_values()
    values["job"]["tasks"] = [
        {
            "taskKey": "is_backfill",
            "condition": {"left": "{{job.parameters.mode}}", "op": "EQUAL_TO", "right": '"a"<b>'},
        },
        {
            "taskKey": "per_region",
            "forEach": {
                "inputs": '["eu", "us"]',
                "concurrency": 2,
                "task": {"taskKey": "region", "notebook": {"path": "jobs/region"}},
            },
            "dependsOn": [{"taskKey": "is_backfill", "outcome": "true"}],
        },
        {
            "taskKey": "daily",
            "sqlFile": {"path": "sql/daily.sql", "warehouseId": "wh-1"},
            "dependsOn": [{"taskKey": "is_backfill", "outcome": "false"}],
        },
        {
            "taskKey": "end",
            "runJob": {"job": "other"},
            "dependsOn": ["per_region", "daily"],
            "runIf": "AT_LEAST_ONE_SUCCESS",
        },
    ]
    values["jobs"] = {
        "other": {
            "name": "other",
            "runAs": RUNNER,
            "tasks": [{"taskKey": "x", "notebook": {"path": "jobs/x"}}],
        }
    }
    lines = mermaid_document(parse_stack_config(values))
    chart = parse_flowcharts(lines)["job main (etl-pipeline-test): release 1.0.0"]
    assert task_edges(chart) == {
        ("(job)", "is_backfill", None),
        ("is_backfill", "per_region", "true"),
        ("is_backfill", "daily", "false"),
        ("per_region", "end", None),
        ("daily", "end", None),
    }, chart
    nodes, _ = chart
    labels = {label[0]: label[1:] for label in nodes.values()}
    assert labels["per_region"] == [
        "for each of [#quot;eu#quot;, #quot;us#quot;], 2 at a time:",
        "region: notebook jobs/region",
    ], labels
    # Quotes and angle brackets are escaped: they would end the label or read as HTML.
    assert labels["is_backfill"] == ["if {{job.parameters.mode}} EQUAL_TO #quot;a#quot;#lt;b#gt;"]
    assert labels["daily"] == ["SQL file sql/daily.sql"], labels
    assert labels["end"] == ["run job other", "run if AT_LEAST_ONE_SUCCESS"], labels
    # Shapes: a condition is a rhombus, a for-each a double box; 'end' is never a bare id.
    text = "\n".join(lines)
    assert re.search(r'^  t0\{"is_backfill<br/>', text, re.M), text
    assert re.search(r'^  t1\[\["per_region<br/>', text, re.M), text
    assert not re.search(r"^\s*end\b", text, re.M), text


def test_preview_graph_prints_the_charts_instead_of_the_listing(
    prod_files: tuple[SandboxProject, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, values = prod_files
    write_stack_file(project.root / "Pulumi.prod.yaml", with_releases(values, ["1.1.0"], "1.1.0"))
    code, out, err = preview(project, capsys, "--graph")
    assert code == 0, err
    charts = parse_flowcharts(out.splitlines())
    chart = charts["job main (etl-pipeline-test): release 1.1.0"]
    # A job without tasks runs the release's entry notebook (from the lock), as one task.
    assert task_edges(chart) == {("(job)", "main", None)}, chart
    assert chart[0]["t0"] == ["main", "notebook main"], chart
    assert "databricks:index/notebook:Notebook" not in out and "Summary:" not in out, out
    assert "Guardrails: the policy pack found no violation." in out, out
    with pytest.raises(SystemExit) as exited:
        preview(project, capsys, "--graph", "svg")
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "invalid choice: 'svg'" in err, err
