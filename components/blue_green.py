"""The `BlueGreen` component: the stack's kept releases side by side, and every job and pipeline
on the live one.

It owns one `Release` per kept version, one `PipelineJob` per job and one `LakeflowPipeline` per
pipeline, and is where the three rules that
make a rollback safe meet:
- **immutability**: each release's content arrives already compared with `releases.lock.yaml`
  (`cicd.releases.inputs`), and a `Release`'s inputs depend on its version and content alone;
- **retention**: the config it receives has passed the retention guard (`cicd.config.releases`:
  the live release and the rollback target are kept), and it refuses content that is not exactly
  the kept set;
- **job-only switch**: the live version is read in one place, to give every job and pipeline the
  live release's location (`ReleaseLocation`: its folders and content), so changing `live`
  changes the jobs and pipelines and nothing else.

A **candidate** (`releases.candidate`) is a kept release like any other: published, and not
touching the job. The component only tells where its entry notebook and libraries are, so the
production deploy can run it once with the live job's settings before switching (`cicd.gate`).

Its children keep the names they had before this component existed (`release-<version>`, and the
main job under the component's own name); they are aliased to their former place under the stack,
so an existing stack's resources keep their identity instead of being replaced. Further jobs are
`<name>-job-<key>`, pipelines `<name>-lakeflow-<key>`: keyed by their config key, never position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from cicd.config import (
    MAIN,
    Access,
    ArtifactStore,
    JobSettings,
    PipelineSettings,
    Releases,
    StackConfig,
)
from cicd.config.job import find_cycle
from cicd.releases.content import ReleaseContent
from cicd.releases.references import ReleaseLocation, release_fields
from components.job_definition import JobTargets
from components.lakeflow_pipeline import LakeflowPipeline, LakeflowPipelineArgs
from components.pipeline_job import PipelineJob, PipelineJobArgs
from components.release import Release, ReleaseArgs

# Releases and the job were children of the stack before this component owned them.
_FORMERLY_UNDER_THE_STACK = [pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]


@dataclass(frozen=True)
class BlueGreenArgs:
    releases: Releases  # kept versions, live, rollback target: validated stack config
    contents: Mapping[str, ReleaseContent]  # version -> content, verified against the lock
    # version -> the notebook the job runs when that release is live (the release's own entry,
    # or the stack's override), checked to be one of its notebooks (cicd.releases.inputs)
    entry_notebooks: Mapping[str, str]
    workspace_root: str
    artifact_store: ArtifactStore
    # Every job by key (`main` is databricks-cicd:job) and every pipeline by key.
    jobs: Mapping[str, JobSettings]
    access: Access | None
    pipeline_name: str
    pipelines: Mapping[str, PipelineSettings] = field(default_factory=dict)
    # version -> the entry notebook the lock records (jobs without tasks and without their own
    # entryNotebook run it); defaults to `entry_notebooks`.
    recorded_entries: Mapping[str, str] = field(default_factory=dict)
    # The stack config the references were checked against (for `release_fields`).
    config: StackConfig | None = None


class BlueGreen(pulumi.ComponentResource):
    """Publishes every kept release and points the one job at the live release."""

    live_version: str
    rollback_target: str | None
    kept_versions: list[str]
    live_notebook_path: str | None  # the main job's notebook (None without databricks-cicd:job)
    live_library_paths: list[str]
    candidate_version: str | None
    candidate_notebook_path: str | None
    candidate_library_paths: list[str] | None
    job_id: pulumi.Output[str] | None  # the main job's (else the first job's)
    job_url: pulumi.Output[str] | None
    job_ids: dict[str, pulumi.Output[str]]
    job_urls: dict[str, pulumi.Output[str]]
    pipeline_ids: dict[str, pulumi.Output[str]]
    pipeline_urls: dict[str, pulumi.Output[str]]
    live_fields: dict[str, dict[str, dict[str, str | list[str]]]] | None
    candidate_fields: dict[str, dict[str, dict[str, str | list[str]]]] | None

    def __init__(
        self, name: str, args: BlueGreenArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-cicd:blue_green:BlueGreen", name, None, opts)
        kept = args.releases.versions
        if sorted(args.contents) != sorted(kept):
            raise ValueError(
                f"BlueGreen {name}: content given for {sorted(args.contents)}, but the stack keeps"
                f" {kept}; every kept release needs its verified content, and nothing else"
            )
        depends_on = opts.depends_on if opts else None
        releases = {
            version: Release(
                f"release-{version}",
                ReleaseArgs(
                    version=version,
                    content=args.contents[version],
                    workspace_root=args.workspace_root,
                    artifact_store=args.artifact_store,
                ),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=depends_on, aliases=_FORMERLY_UNDER_THE_STACK
                ),
            )
            for version in kept
        }

        live_version = args.releases.live
        live = releases[live_version]
        location = self._location(args, live_version)
        main = args.jobs.get(MAIN)
        self.live_notebook_path = (
            live.notebook_paths.get(args.entry_notebooks[live_version])
            if main is not None
            else None
        )
        self.live_library_paths = live.library_paths
        tags = {"pipeline": args.pipeline_name, "release": live_version}
        # The jobs and pipelines must not point at files before they are uploaded.
        on_live = pulumi.ResourceOptions(parent=self, depends_on=[live])
        # Whoever a task starts (a pipeline update, another job's run) runs as the job's run-as
        # identity, which needs CAN RUN on that pipeline and CAN MANAGE RUN on that job.
        starters = _starters(args.jobs)
        pipelines = {
            key: LakeflowPipeline(
                f"{name}-lakeflow-{key}",
                LakeflowPipelineArgs(
                    settings, location, args.access, tags, starters.get(("pipeline", key), ())
                ),
                opts=on_live,
            )
            for key, settings in sorted(args.pipelines.items())
        }
        jobs: dict[str, PipelineJob] = {}
        # A job that runs another (a runJob task) needs that job's id: register it first.
        for key in _run_order(args.jobs):
            settings = args.jobs[key]
            targets = JobTargets(
                release=location,
                entry_notebook=self._entry(args, key, live_version),
                job_ids={k: j.job_id for k, j in jobs.items()},
                pipeline_ids={k: p.pipeline_id for k, p in pipelines.items()},
            )
            jobs[key] = PipelineJob(
                name if key == MAIN else f"{name}-job-{key}",
                PipelineJobArgs(
                    settings, targets, args.access, tags, starters.get(("job", key), ())
                ),
                opts=(
                    pulumi.ResourceOptions(
                        parent=self, depends_on=[live], aliases=_FORMERLY_UNDER_THE_STACK
                    )
                    if key == MAIN
                    else on_live
                ),
            )
        candidate = args.releases.candidate
        self.candidate_version = candidate
        self.candidate_notebook_path = (
            releases[candidate].notebook_paths.get(args.entry_notebooks[candidate])
            if candidate and main is not None
            else None
        )
        self.candidate_library_paths = releases[candidate].library_paths if candidate else None
        # What each job runs of the live release and, while a candidate is out, of the
        # candidate: the gate swaps these fields to run the candidate as the live job would.
        self.live_fields = self._fields(args, live_version)
        self.candidate_fields = self._fields(args, candidate) if candidate else None
        self.job_ids = {key: job.job_id for key, job in jobs.items()}
        self.job_urls = {key: job.job_url for key, job in jobs.items()}
        self.pipeline_ids = {key: p.pipeline_id for key, p in pipelines.items()}
        self.pipeline_urls = {key: p.pipeline_url for key, p in pipelines.items()}
        first = jobs.get(MAIN) or next(iter(jobs.values()), None)
        self.job_id = first.job_id if first else None
        self.job_url = first.job_url if first else None
        self.live_version = live_version
        self.rollback_target = args.releases.effective_rollback_target
        self.kept_versions = kept
        self.register_outputs(
            {
                "liveVersion": self.live_version,
                "rollbackTarget": self.rollback_target,
                "keptVersions": self.kept_versions,
                "liveNotebookPath": self.live_notebook_path,
                "liveLibraryPaths": self.live_library_paths,
                "candidateVersion": self.candidate_version,
                "candidateNotebookPath": self.candidate_notebook_path,
                "candidateLibraryPaths": self.candidate_library_paths,
                "jobId": self.job_id,
                "jobUrl": self.job_url,
                "jobIds": self.job_ids,
                "jobUrls": self.job_urls,
                "pipelineIds": self.pipeline_ids,
                "pipelineUrls": self.pipeline_urls,
                "liveFields": self.live_fields,
                "candidateFields": self.candidate_fields,
            }
        )

    @staticmethod
    def _location(args: BlueGreenArgs, version: str) -> ReleaseLocation:
        return ReleaseLocation(
            version, args.contents[version], args.workspace_root, args.artifact_store
        )

    @staticmethod
    def _entry(args: BlueGreenArgs, key: str, version: str) -> str:
        if key == MAIN:
            return args.entry_notebooks[version]
        override = args.jobs[key].entry_notebook
        recorded = args.recorded_entries.get(version) or args.entry_notebooks[version]
        return override or recorded

    def _fields(
        self, args: BlueGreenArgs, version: str
    ) -> dict[str, dict[str, dict[str, str | list[str]]]] | None:
        if args.config is None:
            return None
        recorded = args.recorded_entries.get(version) or args.entry_notebooks[version]
        return release_fields(args.config, self._location(args, version), recorded)


def _starters(jobs: Mapping[str, JobSettings]) -> dict[tuple[str, str], tuple[str, ...]]:
    """("pipeline" | "job", key) -> the run-as identities of the jobs whose tasks start it."""
    found: dict[tuple[str, str], set[str]] = {}
    for job in jobs.values():
        for task in job.tasks or []:
            body = task.runs()
            started = (
                ("pipeline", body.pipeline.pipeline)
                if body.pipeline
                else ("job", body.run_job.job)
                if body.run_job
                else None
            )
            if started and job.run_as:
                found.setdefault(started, set()).add(job.run_as)
    return {key: tuple(sorted(identities)) for key, identities in found.items()}


def _run_order(jobs: Mapping[str, JobSettings]) -> list[str]:
    """Job keys so that a job comes after every job its runJob tasks run (the config refuses
    cycles); otherwise in key order, `main` first."""
    runs = {
        key: sorted({t.runs().run_job.job for t in (job.tasks or []) if t.runs().run_job})  # type: ignore[union-attr]
        for key, job in jobs.items()
    }
    assert not find_cycle(runs), "cycles are refused by the stack config"
    order: list[str] = []

    def place(key: str) -> None:
        if key in order or key not in jobs:
            return
        for other in runs[key]:
            place(other)
        order.append(key)

    for key in jobs:
        place(key)
    return order
