"""Prod-scale benchmark: the real program under Pulumi's mocks beside a bare registration loop.

Run by hand from the repo root (it is not a test):

    python benchmarks/prod_scale.py [--sizes 2x20,3x200,5x1000,3x200:10x10] [--repeat N]

For every size KxN it writes a temporary project (as the tests' `SandboxProject` does) with K
releases of N notebooks each (`main.py` plus .py and .sql notebooks in a few subfolders, and what
the prod stack's other jobs and pipeline run) and one wheel, all locked. A size KxN:JxT also gives
the stack J more jobs of T notebook tasks each (a chain, every task on a notebook of the release).
Then it measures:

- program: wall time of `cicd.evaluation.program.evaluate()` running `__main__.py` with the prod stack's
  config (`Pulumi.prod.yaml`) keeping all K releases, the newest live (best of the repeats, runs
  of the two sides alternating after a warm-up of each);
- bare: a `@pulumi.runtime.test` function, under the same mocks and recording monitor, that
  registers the very resources the program registered (same types, names, parents, inputs,
  dependencies and options) straight from the recorded registrations: each custom resource
  through its `pulumi_databricks` constructor with the recorded inputs rebuilt as the SDK's typed
  Args (nested Args included, built before the clock starts), components as bare
  `pulumi.ComponentResource`s.
  Only that loop is timed; its registrations are checked against the program's.

The program side is the command-line tools' own path: `evaluate()` as `cicd.preview` and
`cicd.drift` call it, under the garbage-collector policy it sets itself
(`cicd.evaluation.program.collector_policy`: the heap left by imports frozen, generation 0
collected every 50,000 allocations instead of 700). The bare loop runs under that same policy, so
the comparison is of the work, not of the collector. Before each run (untimed) a `gc.collect()`
clears what the previous run left, so each run starts from the heap a fresh process has; the
collector stays on while timed, and the "(gc s)" columns show what was spent in it (included in
the times).

The program's overhead over the loop is everything it adds on top of registering: config
validation, scanning and hashing the releases, checking the lock, building the arguments.
It must stay within 15% at the largest release size (5x1000 by default; at the smallest sizes
fixed costs such as validating the config weigh more and are only reported), and ms/resource at
the largest release size within 1.3x the smallest (linear growth), collector time included. Every size also checks the blue/green guarantees: a rollback (live =
newest -> previous) changes exactly the jobs and pipelines, each once; a promotion (kept K-1 -> K, new one
live) changes only the jobs and pipelines and adds exactly the new release's resources.
Exit code 0 only if every check passes.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pulumi  # noqa: E402
import pulumi_databricks as databricks  # noqa: E402
from pulumi._types import input_type_py_to_pulumi_names  # noqa: E402
from pulumi.runtime import settings  # noqa: E402

from cicd.config import pulumi_config_map  # noqa: E402
from cicd.evaluation import PROJECT, Evaluation, Registration, compare, evaluate  # noqa: E402
from cicd.evaluation.program import (  # noqa: E402
    _ProgramMocks,
    _RecordingMonitor,
    collector_policy,
)
from tests.conftest import PY_NOTEBOOK, SQL_NOTEBOOK, SandboxProject  # noqa: E402
from tests.test_provider_schema import _args_classes, _fields, resource_args_class  # noqa: E402

MAX_OVERHEAD = 0.15
MAX_GROWTH = 1.3
# What a switch of `live` changes in the prod stack: its jobs and its pipeline (the J extra jobs
# of a KxN:JxT size are added by name).
RUNNERS = [
    "pipeline-job",
    "pipeline-job-orders_quality-job",
    "pipeline-lakeflow-orders_bronze-pipeline",
]
FOLDERS = ("ingest", "transforms/orders", "transforms/customers", "reports")


def versions_for(kept: int) -> list[str]:
    return [f"1.{i}.0" for i in range(kept)]


def build_project(root: Path, kept: int, notebooks: int) -> SandboxProject:
    project = SandboxProject(root)
    for version in versions_for(kept):
        files = {
            "main.py": PY_NOTEBOOK.format(version),
            # What the prod stack's job DAG, serverless job and pipeline run besides main.
            "tasks/check_source.py": PY_NOTEBOOK.format(f"check {version}"),
            "tasks/publish_report.py": PY_NOTEBOOK.format(f"report {version}"),
            "quality/orders_quality.py": PY_NOTEBOOK.format(f"quality {version}"),
            "pipelines/orders/orders_bronze.py": f"# bronze {version}\n",
        }
        for i in range(1, notebooks):
            stem = f"{FOLDERS[i % len(FOLDERS)]}/step_{i:04d}"
            if i % 3 == 0:
                files[f"{stem}.sql"] = SQL_NOTEBOOK.format(f"{version} {i}")
            else:
                files[f"{stem}.py"] = PY_NOTEBOOK.format(f"{version} {i}")
        project.add_release(version, files, lock=False)
    project.lock(*versions_for(kept))
    return project


def extra_jobs(jobs: int, tasks: int, notebooks: int) -> dict[str, Any]:
    """`jobs` jobs of `tasks` chained notebook tasks each, on notebooks the release holds."""
    steps = [i for i in range(1, notebooks) if i % 3 != 0] or [0]
    found: dict[str, Any] = {}
    for j in range(jobs):
        chain = []
        for t in range(tasks):
            i = steps[(j * tasks + t) % len(steps)]
            path = "main" if i == 0 else f"{FOLDERS[i % len(FOLDERS)]}/step_{i:04d}"
            task: dict[str, Any] = {"taskKey": f"t{t:02d}", "notebook": {"path": path}}
            if t:
                task["dependsOn"] = [f"t{t - 1:02d}"]
            chain.append(task)
        found[f"job{j:02d}"] = {
            "name": f"etl-extra-{j:02d}",
            "cluster": {
                "sparkVersion": "15.4.x-scala2.12",
                "nodeType": "i3.xlarge",
                "numWorkers": 2,
            },
            "timeoutSeconds": 3600,
            "failureEmails": ["data-eng-oncall@example.com"],
            "runAs": "3c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
            "tasks": chain,
        }
    return found


def prod_config(
    kept: list[str], live: str, rollback_target: str, jobs: dict[str, Any] | None = None
) -> dict[str, str]:
    """The prod stack's own config with only the releases replaced (and `jobs` added)."""
    config = pulumi_config_map(REPO / "Pulumi.prod.yaml")
    if jobs:
        merged = {**json.loads(config["databricks-cicd:jobs"]), **jobs}
        config["databricks-cicd:jobs"] = json.dumps(merged)
    releases = json.loads(config["databricks-cicd:releases"])
    releases.update(
        kept=[{"version": v} for v in kept],
        live=live,
        rollbackTarget=rollback_target,
        # A prod that keeps a single release (the start of a promotion at 2xN) has
        # nothing to roll back to yet.
        requireRollbackTarget=len(kept) > 1,
    )
    config["databricks-cicd:releases"] = json.dumps(releases)
    return config


Measurement = tuple[float, float, Evaluation]  # best seconds, collector seconds in it, result


def timed_once(run: Callable[[], Evaluation]) -> Measurement:
    """One run as it comes (each side sets its own GC policy): wall time, time in the collector,
    the result."""
    in_gc = [0.0, 0.0]  # [total, start of the current collection]

    def clock(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            in_gc[1] = time.perf_counter()
        else:
            in_gc[0] += time.perf_counter() - in_gc[1]

    gc.collect()  # every run starts from the same heap; the collector stays on while timed
    gc.callbacks.append(clock)
    try:
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
    finally:
        gc.callbacks.remove(clock)
    return seconds, in_gc[0], result


def timed_pair(
    program: Callable[[], Evaluation], bare: Callable[[], Evaluation], repeat: int
) -> tuple[Measurement, Measurement]:
    """Best of `repeat` runs of each side, the two sides alternating, so that a slow spell of
    the machine falls on both alike instead of on whichever side happened to run then."""
    best: list[Measurement | None] = [None, None]
    for _ in range(repeat):
        for side, run in enumerate((program, bare)):
            measured = timed_once(run)
            current = best[side]
            if current is None or measured[0] < current[0]:
                best[side] = measured
    assert best[0] is not None and best[1] is not None
    return best[0], best[1]


def typed(args_class: type, wire: dict[str, Any]) -> Any:
    """The recorded wire inputs rebuilt as the SDK's typed Args, nested Args included, so the bare
    loop pays the same typed serialization as the program."""
    fields, _ = _fields(args_class)
    python_names = {
        wire_name: py for py, wire_name in input_type_py_to_pulumi_names(args_class).items()
    }
    kwargs: dict[str, Any] = {}
    for key, value in wire.items():
        nested = _args_classes(fields[key])
        if nested and isinstance(value, dict):
            value = typed(nested[0], value)
        elif nested and isinstance(value, list):
            value = [typed(nested[0], item) if isinstance(item, dict) else item for item in value]
        kwargs[python_names.get(key, key)] = value
    return args_class(**kwargs)


def plan_of(recorded: Evaluation) -> list[tuple[Registration, Any]]:
    """The recorded registrations (parents and dependencies first) with their typed Args."""
    return [
        (reg, typed(resource_args_class(reg.type), reg.inputs) if reg.custom else None)
        for reg in recorded.resources.values()
    ]


def bare_loop(plan: list[tuple[Registration, Any]], config: dict[str, str]) -> Evaluation:
    """Register `plan` directly under the program's mocks, recording monitor and collector
    policy, as evaluate() does."""
    evaluation = Evaluation()
    program_mocks = _ProgramMocks(config["databricks:host"])
    settings.reset_options()
    pulumi.runtime.set_mocks(
        program_mocks,
        project=PROJECT,
        stack="prod",
        preview=True,
        monitor=_RecordingMonitor(program_mocks, evaluation),
    )
    pulumi.runtime.set_all_config(dict(config), [])

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def register_all() -> None:
        made: dict[str, pulumi.Resource] = {}
        for reg, args in plan:
            opts = pulumi.ResourceOptions(
                parent=made[reg.parent] if reg.parent else None,
                depends_on=[made[d] for d in reg.dependencies] or None,
                delete_before_replace=reg.delete_before_replace or None,
                protect=reg.protect or None,
            )
            if args is None:
                made[reg.name] = pulumi.ComponentResource(reg.type, reg.name, None, opts)
            else:
                constructor = getattr(databricks, reg.type.rsplit(":", 1)[-1])
                made[reg.name] = constructor(reg.name, args, opts=opts)

    with collector_policy():
        register_all()
    return evaluation


def same_registrations(program: Evaluation, bare: Evaluation) -> bool:
    return not compare(program, bare) and all(
        bare.resources[key].dependencies == reg.dependencies
        for key, reg in program.resources.items()
    )


def runners(jobs: dict[str, Any]) -> list[tuple[str, str]]:
    names = RUNNERS + [f"pipeline-job-{key}-job" for key in jobs]
    return sorted(("change", name) for name in names)


def check_rollback(
    project: Path, versions: list[str], before: Evaluation, jobs: dict[str, Any]
) -> tuple[bool, str]:
    previous = versions[-2]
    after = evaluate(prod_config(versions, previous, previous, jobs), "prod", project)
    changes = compare(before, after)
    ok = sorted((c.kind, c.name) for c in changes) == runners(jobs)
    return ok, f"{len(changes)} changed (jobs and pipelines: {len(runners(jobs))})"


def check_promotion(
    project: Path, versions: list[str], after: Evaluation, jobs: dict[str, Any]
) -> tuple[bool, str]:
    old, new = versions[:-1], versions[-1]
    before = evaluate(
        prod_config(old, old[-1], old[-2] if len(old) > 1 else old[-1], jobs), "prod", project
    )
    changes = compare(before, after)
    prefix = f"release-{new}"
    adds = {c.name for c in changes if c.kind == "add"}
    others = [(c.kind, c.name) for c in changes if c.kind != "add"]
    new_names = {
        r.name
        for r in after.resources.values()
        if r.name == prefix or r.name.startswith(prefix + "-")
    }
    ok = sorted(others) == runners(jobs) and adds == new_names
    return ok, f"{len(adds)} added ({prefix}*), {len(others)} changed (jobs and pipelines)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="2x20,3x200,5x1000,3x200:10x10",
        help="kept x notebooks[:jobs x tasks], comma-separated",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="runs per measurement, best kept (default 15 up to 100 notebooks, 3 up to 2,000, then 2)",
    )
    args = parser.parse_args(argv)
    sizes: list[tuple[int, int, int, int]] = []
    for size in args.sizes.split(","):
        releases, _, jobs_spec = size.partition(":")
        kept_n, notebooks_n = (int(n) for n in releases.split("x"))
        jobs_n, tasks_n = (int(n) for n in jobs_spec.split("x")) if jobs_spec else (0, 0)
        sizes.append((kept_n, notebooks_n, jobs_n, tasks_n))
    if any(k < 2 or n < 1 for k, n, _, _ in sizes):
        parser.error("every size needs at least 2 kept releases and 1 notebook")

    began = time.perf_counter()
    rows: list[dict[str, Any]] = []
    all_ok = True
    for kept, notebooks, job_count, task_count in sizes:
        jobs = extra_jobs(job_count, task_count, notebooks) if job_count else {}
        label = f"{kept}x{notebooks}" + (f":{job_count}x{task_count}" if job_count else "")
        print(f"{label}: building and timing ...", file=sys.stderr, flush=True)
        # Small sizes are a few tens of milliseconds: more runs, so the best is not noise.
        repeat = args.repeat or (
            15 if kept * notebooks <= 100 else 3 if kept * notebooks <= 2000 else 2
        )
        with tempfile.TemporaryDirectory(prefix=f"prod-scale-{kept}x{notebooks}-") as tmp:
            project = build_project(Path(tmp), kept, notebooks).root
            versions = versions_for(kept)
            config = prod_config(versions, versions[-1], versions[-2], jobs)
            # Warm-up of both sides (imports, first-run costs), and the plan the bare loop replays.
            plan = plan_of(evaluate(config, "prod", project))
            bare_loop(plan, config)
            (program_s, program_gc, evaluation), (bare_s, bare_gc, bare_eval) = timed_pair(
                partial(evaluate, config, "prod", project), partial(bare_loop, plan, config), repeat
            )
            rollback = check_rollback(project, versions, evaluation, jobs)
            promotion = check_promotion(project, versions, evaluation, jobs)
        count = len(evaluation.resources)
        row: dict[str, Any] = {
            "size": label,
            "resources": count,
            "program_s": program_s,
            "program_ms": 1000 * program_s / count,
            "program_gc": program_gc,
            "bare_s": bare_s,
            "bare_ms": 1000 * bare_s / count,
            "bare_gc": bare_gc,
            "overhead": (program_s - bare_s) / bare_s,
            "same": same_registrations(evaluation, bare_eval),
            "rollback": rollback,
            "promotion": promotion,
        }
        all_ok = all_ok and row["same"] and rollback[0] and promotion[0]
        rows.append(row)
        print(
            f"{label}: {count} resources, program {program_s:.2f} s, bare {bare_s:.2f} s,"
            f" overhead {row['overhead']:+.1%}",
            file=sys.stderr,
            flush=True,
        )

    print(
        f"{'size':>12} {'resources':>9} {'program s':>10} {'ms/res':>7} {'(gc s)':>7}"
        f" {'bare s':>8} {'ms/res':>7} {'(gc s)':>7} {'overhead':>9} {'same regs':>9}"
    )
    for r in rows:
        print(
            f"{r['size']:>12} {r['resources']:>9} {r['program_s']:>10.3f} {r['program_ms']:>7.3f}"
            f" {r['program_gc']:>7.3f} {r['bare_s']:>8.3f} {r['bare_ms']:>7.3f} {r['bare_gc']:>7.3f}"
            f" {r['overhead']:>+9.1%} {str(r['same']):>9}"
        )
    print()
    for r in rows:
        print(
            f"{r['size']:>12}  rollback  {'ok  ' if r['rollback'][0] else 'FAIL'}  {r['rollback'][1]}"
        )
        print(f"{'':>8}  promotion {'ok  ' if r['promotion'][0] else 'FAIL'}  {r['promotion'][1]}")
    print()
    # Linearity is measured on the release sizes (the jobs row adds another kind of resource).
    plain = [r for r in rows if ":" not in r["size"]] or rows
    small, large = (
        min(plain, key=lambda r: r["resources"]),
        max(plain, key=lambda r: r["resources"]),
    )
    overhead_ok = large["overhead"] <= MAX_OVERHEAD

    def ratio(key: str, gc_key: str | None = None) -> float:
        def per_resource(r: dict[str, Any]) -> float:
            return float(r[key] - (r[gc_key] if gc_key else 0.0)) / int(r["resources"])

        return per_resource(large) / per_resource(small)

    growth = ratio("program_s")
    linear_ok = growth <= MAX_GROWTH
    print(
        f"linearity: program ms/resource {large['size']} / {small['size']} = {growth:.2f}x"
        f" (limit {MAX_GROWTH}x); bare loop {ratio('bare_s'):.2f}x;"
        f" without GC time: program {ratio('program_s', 'program_gc'):.2f}x,"
        f" bare {ratio('bare_s', 'bare_gc'):.2f}x"
    )
    print(
        f"{'PASS' if overhead_ok else 'FAIL'}  overhead <= {MAX_OVERHEAD:.0%} at {large['size']}"
        f" ({large['overhead']:+.1%}), collector time included"
    )
    print(
        f"{'PASS' if linear_ok else 'FAIL'}  linear growth (ms/resource at largest <= {MAX_GROWTH}x smallest)"
    )
    print(
        f"{'PASS' if all_ok else 'FAIL'}  same registrations in the bare loop; rollback and promotion"
    )
    print(f"total {time.perf_counter() - began:.1f} s")
    return 0 if overhead_ok and linear_ok and all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
