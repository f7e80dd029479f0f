"""Whose dev environment a command works on, from the stack config: the engineer (listed under
`developers.engineers`), their personal folder, cluster name and dev location."""

from __future__ import annotations

from dataclasses import dataclass

from cicd.config import (
    ArtifactStore,
    DevEngineer,
    DevLocation,
    StackConfig,
    dev_cluster_name,
    dev_location,
    personal_folder,
)


class DevLoopError(Exception):
    """Bad input or a refusal; the message names what is wrong and how to proceed. Nothing was
    changed when it is raised before the first write (every check runs first)."""


@dataclass(frozen=True)
class DevTarget:
    stack: str
    engineer: DevEngineer
    pipeline_name: str
    folder: str  # /Users/<user>/<pipeline>
    cluster_name: str
    location: DevLocation
    store: ArtifactStore

    @property
    def user(self) -> str:
        return self.engineer.user


def resolve_target(config: StackConfig, stack: str, user: str) -> DevTarget:
    """The engineer `user` of `stack` (user names compare case-insensitively)."""
    developers = config.developers
    listed = {e.user.lower(): e for e in developers.engineers} if developers else {}
    engineer = listed.get(user.lower())
    if engineer is None:
        raise DevLoopError(
            f"{user} is not listed under databricks-cicd:developers.engineers of stack {stack}"
            f" (Pulumi.{stack}.yaml): add `- user: {user}` there in a pull request; its merge"
            " creates your environment (see README, 'Your dev environment')"
        )
    return DevTarget(
        stack=stack,
        engineer=engineer,
        pipeline_name=config.pipeline_name,
        folder=personal_folder(engineer.user, config.pipeline_name),
        cluster_name=dev_cluster_name(config.pipeline_name, engineer.slug),
        location=dev_location(config.artifact_store, engineer, config.pipeline_name),
        store=config.artifact_store,
    )
