"""The policy pack (`policy/`) from the project's side: its config, derived from a stack's
validated config, and its verdict on what the offline evaluator recorded.

- `pack_settings()` / `pack_config()`: the caps and roots the pack enforces, taken from the stack
  file the program reads (`developers.caps`, `workspaceRoot`, `artifactStore`), so nothing is
  typed twice; `python -m cicd.policy_config` writes them for `--policy-pack-config`.
- `check_evaluation()`: runs every policy of the pack over an `Evaluation` the way the engine
  does: each registration's inputs go through a protobuf Struct, pulumi-policy's own
  deserializer and unknown-checking proxy into `ResourceValidationArgs` (one call per resource
  and policy), then all of them into `StackValidationArgs`; the policy's section of the pack
  config is what `get_config()` returns.

The engine's run (`pulumi preview --policy-pack policy`) stays the enforcement; this lets the
offline preview show a violation on a pull request without a workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from cicd.config import DevCaps, StackConfig
from cicd.evaluation.program import Evaluation, Registration
from policy.databricks_guardrails.common import (
    LIBRARY_ROOT,
    MAX_AUTOTERMINATION_MINUTES,
    MAX_WORKERS,
    NOTEBOOK_ROOT,
    PRODUCTION,
)
from policy.databricks_guardrails.pack import POLICIES
from policy.databricks_guardrails.pack import pack_config as distribute_settings

# Stacks that are production by name, whatever their config says.
PRODUCTION_STACKS = ("prod",)
# The most violations listed; the rest are counted.
MAX_LISTED = 20


def is_production(config: StackConfig, stack: str) -> bool:
    """Production: named so, or configured as such (a required rollback target: only production
    asks for one). A restricted workspace root is not a sign of it: staging restricts its
    release folder too, and keeps engineers' dev clusters beside it."""
    return stack in PRODUCTION_STACKS or config.releases.require_rollback_target


def pack_settings(config: StackConfig, stack: str) -> dict[str, Any]:
    """The pack's settings for one stack, all taken from its validated config."""
    caps = config.developers.caps if config.developers is not None else DevCaps()
    store = config.artifact_store
    return {
        MAX_WORKERS: caps.max_workers,
        MAX_AUTOTERMINATION_MINUTES: caps.max_autotermination_minutes,
        NOTEBOOK_ROOT: f"{config.workspace_root}/releases/",
        LIBRARY_ROOT: store.library_uri(f"{store.root}/releases/"),
        PRODUCTION: is_production(config, stack),
    }


def pack_config(config: StackConfig, stack: str) -> dict[str, dict[str, Any]]:
    """The `--policy-pack-config` document for one stack."""
    return distribute_settings(pack_settings(config, stack))


@dataclass(frozen=True)
class Violation:
    policy: str
    description: str
    message: str
    resource: str | None  # the resource's name; None for the stack as a whole

    def __str__(self) -> str:
        return f"[{self.policy}] {self.message}"


def _engine_props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    # The engine sends inputs as a protobuf Struct (numbers become floats) and pulumi-policy
    # deserializes and proxies them; the same path here.
    struct = struct_pb2.Struct()
    struct.update(dict(inputs))
    proxied: Mapping[str, Any] = unknown_checking_proxy(
        deserialize_properties(json_format.MessageToDict(struct))
    )
    return proxied


def _options(registration: Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        registration.protect,
        [],
        registration.delete_before_replace,
        [],
        PolicyCustomTimeouts(0, 0, 0),
        [],
        registration.parent,
    )


def _recorder() -> tuple[list[tuple[str, str | None]], Callable[[str, str | None], None]]:
    """A `report_violation` callback and the (message, urn) pairs it receives."""
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    return reported, report


def check_evaluation(
    evaluation: Evaluation, config: Mapping[str, Mapping[str, Any]]
) -> list[Violation]:
    """Every violation the pack reports for what `evaluation` registered, given the pack config
    `config` (as written by `pack_config`)."""
    # The URNs the evaluator recorded follow the engine's rule (the parent's whole type chain).
    names_by_urn = {r.urn: r.name for r in evaluation.resources.values()}
    registrations = sorted(evaluation.resources.values(), key=lambda r: (r.name, r.type))
    # Converted once per resource, as the engine sends a resource once and pulumi-policy runs
    # every policy over the same deserialized props (the proxy is read-only).
    props = {r.key: _engine_props(r.inputs) for r in registrations}
    violations: list[Violation] = []
    for policy in POLICIES:
        policy_config = dict(config.get(policy.name, {}))
        reported, report = _recorder()
        if isinstance(policy, ResourceValidationPolicy):
            for r in registrations:
                args = ResourceValidationArgs(
                    r.type, props[r.key], r.urn, r.name, _options(r), None, policy_config
                )
                policy.validate(args, report)
                # The engine ties a resource policy's violations to the resource it analyzed.
                reported[:] = [(m, u or r.urn) for m, u in reported]
        elif isinstance(policy, StackValidationPolicy):
            resources = [
                PolicyResource(
                    r.type,
                    props[r.key],
                    r.urn,
                    r.name,
                    _options(r),
                    None,
                    None,
                    [],
                    {},
                )
                for r in registrations
            ]
            policy.validate(StackValidationArgs(resources, policy_config), report)
        violations += [
            Violation(policy.name, policy.description, message, names_by_urn.get(urn or ""))
            for message, urn in reported
        ]
    return violations


def guardrail_violations(
    config: StackConfig, evaluation: Evaluation, stack: str
) -> list[Violation]:
    """What the policy pack reports for one stack's evaluation, with that stack's pack config:
    the one call the offline preview makes."""
    return check_evaluation(evaluation, pack_config(config, stack))


def describe_violations(violations: list[Violation]) -> str:
    """Every violation, one per line, capped at MAX_LISTED, with how to proceed."""
    lines = [
        f"error: {len(violations)} guardrail violation(s); the policy pack (policy/) refuses"
        " this on every `pulumi preview` and `pulumi up`. Change the code or config that"
        " registers it, or change the policy by a pull request to policy/ (README, 'Guardrails'):"
    ]
    lines += [f"  - {v}" for v in violations[:MAX_LISTED]]
    if len(violations) > MAX_LISTED:
        lines.append(f"  ... and {len(violations) - MAX_LISTED} more")
    return "\n".join(lines)
