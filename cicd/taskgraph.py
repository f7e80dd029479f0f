"""Each job's task graph as a Mermaid flowchart: `python -m cicd.preview --stack S --graph`.

Drawn from the validated stack config alone (the same model the program deploys from), as a
Markdown document GitHub renders: one `flowchart` per job, then one for the pipelines. A job's
chart shows the release it runs (live, and the rollback target), the job, each task labelled
with what it runs (notebook path, wheel entry point, file, pipeline, job, condition), the
`dependsOn` edges with a condition's outcome as the edge label, a for-each with its inputs and
the task it repeats, and the pipelines its tasks trigger. SVG is not drawn: rendering Mermaid
needs a browser engine, which this project does not ship; GitHub, GitLab and most Markdown
viewers draw the Mermaid text themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

from cicd.config import StackConfig, TaskBody
from cicd.config.job import JobSettings
from cicd.config.pipeline import PipelineSettings
from cicd.config.tasks import TaskSpec
from cicd.releases.references import release_folder_path

FORMATS = ("mermaid",)


def _quote(text: str) -> str:
    """A Mermaid node or edge label: quoted, with the characters Mermaid parses escaped."""
    for raw, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, entity)
    return f'"{text}"'


def _lines(*parts: str) -> str:
    return _quote("\n".join(part for part in parts if part)).replace("\n", "<br/>")


def what_it_runs(task: TaskBody) -> str:
    """One line: what a task (or a for-each's inner task) runs, as the graph labels it."""
    if task.notebook is not None:
        return f"notebook {task.notebook.path}"
    if task.python_wheel is not None:
        return f"wheel {task.python_wheel.package_name}:{task.python_wheel.entry_point}"
    if task.spark_python_file is not None:
        return f"python file {task.spark_python_file.path}"
    if task.sql_file is not None:
        return f"SQL file {task.sql_file.path}"
    if task.pipeline is not None:
        refresh = " (full refresh)" if task.pipeline.full_refresh else ""
        return f"pipeline {task.pipeline.pipeline}{refresh}"
    if task.run_job is not None:
        return f"run job {task.run_job.job}"
    if task.condition is not None:
        condition = task.condition
        return f"if {condition.left} {condition.op.value} {condition.right}"
    raise ValueError(f"task {task.task_key!r} runs nothing the graph knows")  # model forbids


def _task_node(node: str, task: TaskSpec) -> str:
    notes = [
        f"run if {task.run_if.value}" if task.run_if is not None else "",
        "disabled" if task.disabled else "",
    ]
    note = ", ".join(n for n in notes if n)
    if task.for_each is not None:
        loop = task.for_each
        at_a_time = f", {loop.concurrency} at a time" if loop.concurrency else ""
        label = _lines(
            task.task_key,
            f"for each of {loop.inputs}{at_a_time}:",
            f"{loop.task.task_key}: {what_it_runs(loop.task)}",
            note,
        )
        return f"  {node}[[{label}]]"
    label = _lines(task.task_key, what_it_runs(task), note)
    if task.condition is not None:
        return f"  {node}{{{label}}}"
    return f"  {node}[{label}]"


def _pipeline_node(node: str, key: str, pipeline: PipelineSettings) -> str:
    sources = ", ".join(lib.glob or lib.file or lib.notebook or "" for lib in pipeline.libraries)
    label = _lines(
        f"pipeline {key} ({pipeline.name})",
        f"{sources} → {pipeline.catalog}.{pipeline.schema_}",
    )
    return f"  {node}[({label})]"


def _release_node(config: StackConfig) -> str:
    releases = config.releases
    live = releases.live
    label = _lines(
        f"release {live} (live)",
        release_folder_path(config.workspace_root, live),
        f"rollback target {releases.effective_rollback_target or 'none'}",
        f"candidate {releases.candidate}" if releases.candidate else "",
    )
    return f"  release({label})"


def job_flowchart(
    config: StackConfig, key: str, job: JobSettings, entry_notebook: str
) -> list[str]:
    """The Mermaid lines of one job's chart: release -> job -> its tasks' DAG."""
    tasks = job.tasks if job.tasks is not None else [job.implied_task(entry_notebook)]
    # Node ids by position: task keys may hold '-' or be words Mermaid reserves ('end').
    nodes = {task.task_key: f"t{index}" for index, task in enumerate(tasks)}
    lines = ["flowchart TD", _release_node(config)]
    lines.append(f"  job[{_lines(f'job {key}', job.name)}]")
    lines.append("  release -. runs .-> job")
    lines += [_task_node(nodes[task.task_key], task) for task in tasks]
    pipelines: dict[str, str] = {}
    for task in tasks:
        node = nodes[task.task_key]
        dependencies = task.dependencies()
        if not dependencies:
            lines.append(f"  job --> {node}")
        for dependency in dependencies:
            label = f"|{dependency.outcome}|" if dependency.outcome else ""
            lines.append(f"  {nodes[dependency.task_key]} -->{label} {node}")
        body = task.runs()
        if body.pipeline is not None:
            target = pipelines.setdefault(body.pipeline.pipeline, f"p{len(pipelines)}")
            lines.append(f"  {node} -. updates .-> {target}")
    for pipeline_key, node in pipelines.items():
        lines.append(_pipeline_node(node, pipeline_key, config.pipelines[pipeline_key]))
    return lines


def pipelines_flowchart(config: StackConfig) -> list[str]:
    """Every pipeline of the stack, each running the live release's sources."""
    lines = ["flowchart LR", _release_node(config)]
    for index, (key, pipeline) in enumerate(sorted(config.pipelines.items())):
        lines.append(_pipeline_node(f"p{index}", key, pipeline))
        lines.append(f"  release -. source .-> p{index}")
    return lines


def mermaid_document(config: StackConfig, entries: Mapping[str, str] | None = None) -> list[str]:
    """Markdown: a heading and a fenced `mermaid` flowchart per job, then the pipelines'.

    `entries` maps a release to its entry notebook (the job without `tasks` runs it); default
    `main`, as in `summary()`."""
    live = config.releases.live
    lines: list[str] = [""]  # a heading needs a blank line after any text printed before
    for key, job in config.all_jobs().items():
        entry = job.entry_notebook or (entries or {}).get(live, "main")
        lines += [f"### job {key} ({job.name}): release {live}", "", "```mermaid"]
        lines += job_flowchart(config, key, job, entry)
        lines += ["```", ""]
    if config.pipelines:
        lines += [f"### pipelines: release {live}", "", "```mermaid"]
        lines += pipelines_flowchart(config)
        lines += ["```", ""]
    return lines
