"""What the Pulumi engine runs for `--policy-pack policy`: builds and serves the policy pack.

Run by the Python language host as `policy/venv/bin/python policy/`, which puts this folder on
`sys.path`; `PolicyPack(...)` starts the analyzer's gRPC server, prints its port and serves until
the engine stops it.
"""

from databricks_guardrails.pack import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
