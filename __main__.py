"""The Pulumi program: wires one stack's components together from its validated config.

Staging and prod run the same code; what differs lives in `Pulumi.<stack>.yaml`. Nothing is
registered until the config and every kept release have been checked (`cicd.releases.inputs`).
Engineers' dev environments are registered here; the work in them (notebooks, dev builds) is
theirs, pushed and pulled with `python -m cicd.dev`, never deployed by the stack.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from cicd.config import cloud_of
from cicd.releases.inputs import StackInputError, load_stack_inputs
from components.blue_green import BlueGreen, BlueGreenArgs
from components.dev_environment import DevEnvironment, DevEnvironmentArgs
from components.protected_folder import ProtectedFolder, ProtectedFolderArgs

PROJECT_DIR = Path(__file__).resolve().parent

try:
    inputs = load_stack_inputs(PROJECT_DIR)
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
            runners=tuple(sorted({j.run_as for j in config.all_jobs().values() if j.run_as})),
            pipeline_runners=tuple(
                sorted({p.run_as for p in config.pipelines.values() if p.run_as})
            ),
            reader=access.read_only_identity,
            run_reader=access.run_reader,
        ),
    )
    release_opts = pulumi.ResourceOptions(depends_on=[folder])

pipeline = BlueGreen(
    "pipeline",
    BlueGreenArgs(
        releases=config.releases,
        contents=inputs.releases,
        entry_notebooks=inputs.entry_notebooks,
        workspace_root=config.workspace_root,
        artifact_store=config.artifact_store,
        jobs=config.all_jobs(),
        access=access,
        pipeline_name=config.pipeline_name,
        pipelines=config.pipelines,
        recorded_entries=inputs.recorded_entries,
        config=config,
    ),
    opts=release_opts,
)

# One dev environment per listed engineer, named by slug: list order never matters.
if config.developers is not None:
    developers = config.developers
    # The workspace's cloud decides which cloud-only attributes the dev policies can forbid.
    cloud = cloud_of(pulumi.Config("databricks").get("host"))
    dev_clusters = {}
    for engineer in developers.by_slug():
        environment = DevEnvironment(
            f"dev-{engineer.slug}",
            DevEnvironmentArgs(
                engineer=engineer,
                cluster=developers.cluster_for(engineer),
                caps=developers.caps,
                admin_group=developers.admin_group_in(access),
                pipeline_name=config.pipeline_name,
                artifact_store=config.artifact_store,
                cloud=cloud,
                reader=access.read_only_identity if access else None,
            ),
        )
        dev_clusters[engineer.user] = environment.cluster_id
    pulumi.export("devClusters", dev_clusters)

pulumi.export("liveRelease", pipeline.live_version)
pulumi.export("rollbackTarget", pipeline.rollback_target)
pulumi.export("keptReleases", pipeline.kept_versions)
pulumi.export("jobId", pipeline.job_id)
pulumi.export("jobUrl", pipeline.job_url)
# Every job and pipeline by key (`main` is databricks-cicd:job): `cicd.run_job --job KEY`.
pulumi.export("jobIds", pipeline.job_ids)
pulumi.export("jobUrls", pipeline.job_urls)
pulumi.export("pipelineIds", pipeline.pipeline_ids)
pulumi.export("pipelineUrls", pipeline.pipeline_urls)
# Per job and task, the paths it runs of the live release (and of the candidate, when set).
pulumi.export("liveFields", pipeline.live_fields)
pulumi.export("liveNotebookPath", pipeline.live_notebook_path)
pulumi.export("liveLibraryPaths", pipeline.live_library_paths)
# Set while the production deploy runs a candidate before switching to it (cicd.gate).
pulumi.export("candidateRelease", pipeline.candidate_version)
pulumi.export("candidateNotebookPath", pipeline.candidate_notebook_path)
pulumi.export("candidateLibraryPaths", pipeline.candidate_library_paths)
pulumi.export("candidateFields", pipeline.candidate_fields)
