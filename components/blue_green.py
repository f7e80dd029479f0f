"""The `BlueGreen` component: the stack's kept releases side by side and the job on the live one.

It owns one `Release` per kept version and the `PipelineJob`, and is where the three rules that
make a rollback safe meet:
- **immutability**: each release's content arrives already compared with `releases.lock.yaml`
  (`cicd.releases.inputs`), and a `Release`'s inputs depend on its version and content alone;
- **retention**: the config it receives has passed the retention guard (`cicd.config.releases`:
  the live release and the rollback target are kept), and it refuses content that is not exactly
  the kept set;
- **job-only switch**: the live version is read in one place, to give the job its notebook (that
  release's own entry notebook) and library paths, so changing `live` changes the job and
  nothing else.

A **candidate** (`releases.candidate`) is a kept release like any other: published, and not
touching the job. The component only tells where its entry notebook and libraries are, so the
production deploy can run it once with the live job's settings before switching (`cicd.gate`).

Its children keep the names they had before this component existed (`release-<version>`, and the
job under the component's own name); they are aliased to their former place under the stack, so
an existing stack's resources keep their identity instead of being replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from cicd.config import Access, ArtifactStore, JobSettings, Releases
from cicd.releases.content import ReleaseContent
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
    job: JobSettings
    access: Access | None
    pipeline_name: str


class BlueGreen(pulumi.ComponentResource):
    """Publishes every kept release and points the one job at the live release."""

    live_version: str
    rollback_target: str | None
    kept_versions: list[str]
    live_notebook_path: str
    live_library_paths: list[str]
    candidate_version: str | None
    candidate_notebook_path: str | None
    candidate_library_paths: list[str] | None
    job_id: pulumi.Output[str]
    job_url: pulumi.Output[str]

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
        self.live_notebook_path = live.notebook_paths[args.entry_notebooks[live_version]]
        self.live_library_paths = live.library_paths
        job = PipelineJob(
            name,
            PipelineJobArgs(
                settings=args.job,
                notebook_path=self.live_notebook_path,
                library_paths=self.live_library_paths,
                access=args.access,
                extra_tags={"pipeline": args.pipeline_name, "release": live_version},
            ),
            # The job must not point at files before they are uploaded.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[live], aliases=_FORMERLY_UNDER_THE_STACK
            ),
        )
        candidate = args.releases.candidate
        self.candidate_version = candidate
        self.candidate_notebook_path = (
            releases[candidate].notebook_paths[args.entry_notebooks[candidate]]
            if candidate
            else None
        )
        self.candidate_library_paths = releases[candidate].library_paths if candidate else None
        self.live_version = live_version
        self.rollback_target = args.releases.effective_rollback_target
        self.kept_versions = kept
        self.job_id = job.job_id
        self.job_url = job.job_url
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
            }
        )
