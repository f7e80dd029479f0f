"""Stack config: the one place that reads and validates `Pulumi.<stack>.yaml` into typed objects.

One module per top-level key of the `databricks-cicd:` namespace (`releases`, `job`,
`artifact_store`, `access`, `developers`), `cluster` for what job and dev clusters share, `base`
for the strict model and shared checks, and `stack` for the whole and its reader. Unknown keys are
errors at every depth, and every error names the full key, the value seen and the fix.
"""

from cicd.config.access import Access
from cicd.config.artifact_store import ArtifactStore, ArtifactStoreKind
from cicd.config.base import NAMESPACE, ConfigError, check_version, version_sort_key
from cicd.config.cloud import Cloud, cloud_of
from cicd.config.cluster import Autoscale, ClusterSpec, DataSecurityMode
from cicd.config.dev_locations import (
    DevLocation,
    dev_cluster_name,
    dev_location,
    personal_folder,
)
from cicd.config.developers import DevCaps, DevCluster, Developers, DevEngineer, dev_slug
from cicd.config.job import MAIN, JobSettings, Schedule, Trigger
from cicd.config.pipeline import PipelineLibrary, PipelineSettings
from cicd.config.releases import ReleaseEntry, Releases, transition_problems
from cicd.config.stack import (
    StackConfig,
    namespace_values,
    parse_stack_config,
    pulumi_config_map,
    read_stack_config,
    read_stack_file,
    stack_file_values,
    stack_text_config_map,
)
from cicd.config.tasks import Retries, TaskBody, TaskSpec

__all__ = [
    "NAMESPACE",
    "Access",
    "ArtifactStore",
    "ArtifactStoreKind",
    "Autoscale",
    "Cloud",
    "ClusterSpec",
    "ConfigError",
    "DataSecurityMode",
    "DevCaps",
    "DevCluster",
    "DevEngineer",
    "DevLocation",
    "Developers",
    "MAIN",
    "JobSettings",
    "PipelineLibrary",
    "PipelineSettings",
    "TaskBody",
    "TaskSpec",
    "Trigger",
    "ReleaseEntry",
    "Releases",
    "Retries",
    "Schedule",
    "StackConfig",
    "check_version",
    "cloud_of",
    "dev_cluster_name",
    "dev_location",
    "dev_slug",
    "namespace_values",
    "parse_stack_config",
    "personal_folder",
    "pulumi_config_map",
    "read_stack_config",
    "read_stack_file",
    "stack_file_values",
    "stack_text_config_map",
    "transition_problems",
    "version_sort_key",
]
