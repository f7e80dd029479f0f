"""The Pulumi program: wires one stack's components together from its validated config.

Staging and prod run the same code; what differs lives in `Pulumi.<stack>.yaml`. Nothing is
registered until the config, every kept release and every engineer's dev build have been
checked (`cicd.releases.inputs`, `cicd.dev_build`).
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from cicd.releases.dev_builds import load_dev_builds
from cicd.releases.inputs import StackInputError, load_stack_inputs
from components.dev_environment import DevEnvironment, DevEnvironmentArgs
from components.pipeline_job import PipelineJob, PipelineJobArgs
from components.protected_folder import ProtectedFolder, ProtectedFolderArgs
from components.release import Release, ReleaseArgs

PROJECT_DIR = Path(__file__).resolve().parent

try:
    inputs = load_stack_inputs(PROJECT_DIR)
    # Each listed engineer's dev build (dist/dev/<slug>/), checked before anything registers.
    dev_builds = load_dev_builds(inputs.config, pulumi.get_stack())
except StackInputError as error:
    # RunError prints the message alone: the problems, not a Python traceback.
    raise pulumi.RunError(str(error)) from None

config = inputs.config
access = config.access

release_opts = None
if access is not None and access.restrict_workspace_root:
    folder = ProtectedFolder(
        "workspace-root",
        ProtectedFolderArgs(
            path=config.workspace_root,
            admin_group=access.admin_group,
            deploy_identity=access.deploy_identity,
            runner=config.job.run_as,
        ),
    )
    release_opts = pulumi.ResourceOptions(depends_on=[folder])

releases: dict[str, Release] = {}
for version, content in inputs.releases.items():
    releases[version] = Release(
        f"release-{version}",
        ReleaseArgs(
            version=version,
            content=content,
            workspace_root=config.workspace_root,
            artifact_store=config.artifact_store,
        ),
        opts=release_opts,
    )

live = releases[config.releases.live]
live_notebook_path = live.notebook_paths[config.job.entry_notebook]
job = PipelineJob(
    "pipeline",
    PipelineJobArgs(
        settings=config.job,
        notebook_path=live_notebook_path,
        library_paths=live.library_paths,
        access=access,
        extra_tags={"pipeline": config.pipeline_name, "release": config.releases.live},
    ),
    # The job must not point at files before they are uploaded.
    opts=pulumi.ResourceOptions(depends_on=[live]),
)

# One dev environment per listed engineer, named by slug: list order never matters.
if config.developers is not None:
    developers = config.developers
    dev_clusters = {}
    for engineer in developers.by_slug():
        environment = DevEnvironment(
            f"dev-{engineer.slug}",
            DevEnvironmentArgs(
                engineer=engineer,
                cluster=developers.cluster_for(engineer),
                admin_group=developers.admin_group_in(access),
                pipeline_name=config.pipeline_name,
                build=dev_builds[engineer.slug],
                artifact_store=config.artifact_store,
            ),
        )
        dev_clusters[engineer.user] = environment.cluster_id
    pulumi.export("devClusters", dev_clusters)

pulumi.export("liveRelease", config.releases.live)
pulumi.export("rollbackTarget", config.releases.effective_rollback_target)
pulumi.export("keptReleases", config.releases.versions)
pulumi.export("jobId", job.job_id)
pulumi.export("jobUrl", job.job_url)
pulumi.export("liveNotebookPath", live_notebook_path)
pulumi.export("liveLibraryPaths", live.library_paths)
