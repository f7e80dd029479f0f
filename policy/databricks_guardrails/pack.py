"""The guardrails pack: every policy, each mandatory, and how its config is laid out.

`POLICIES` is what `policy/__main__.py` hands to `PolicyPack`. `pack_config(settings)` turns the
pack's settings (`maxWorkers`, `maxAutoterminationMinutes`, `notebookRoot`, `libraryRoot`,
`production`) into the `--policy-pack-config` document: one section per policy holding exactly
the keys its config_schema declares, so a policy's needs are declared once, in the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy

from . import clusters, grants, jobs, libraries, pipelines, secrets, stack
from .common import SETTING_SCHEMAS, MissingSetting

PACK_NAME = "databricks-cicd-guardrails"

POLICIES: list[Policy] = [
    *clusters.POLICIES,
    *jobs.POLICIES,
    *pipelines.POLICIES,
    *libraries.POLICIES,
    *grants.POLICIES,
    *secrets.POLICIES,
    *stack.POLICIES,
]


def pack_config(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The `--policy-pack-config` document: each configurable policy gets the settings its schema
    declares. Raises MissingSetting (naming them) when `settings` lacks any, ValueError on a key
    no policy reads."""
    unknown = sorted(set(settings) - set(SETTING_SCHEMAS))
    if unknown:
        raise ValueError(f"no policy reads the setting(s) {', '.join(unknown)}")
    document: dict[str, dict[str, Any]] = {}
    missing: set[str] = set()
    for policy in POLICIES:
        if policy.config_schema is None:
            continue
        keys = list(policy.config_schema.properties)
        missing.update(k for k in keys if k not in settings)
        document[policy.name] = {k: settings[k] for k in keys if k in settings}
    if missing:
        raise MissingSetting(f"the pack's settings lack {', '.join(sorted(missing))}")
    return document


__all__ = ["PACK_NAME", "POLICIES", "MissingSetting", "pack_config"]
