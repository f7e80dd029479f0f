"""`databricks-cicd:gate`: which jobs the production gate runs green before the switch.

A candidate release goes live only after each gated job ran once with its settings and the
candidate's content (`cicd.gate run`). Left out, every job of the stack is gated. Pipelines are
not run by the gate (they switch with `live`; staging's green run vouches for their code).
"""

from __future__ import annotations

from pydantic import StrictStr

from cicd.config.base import Model


class GateSettings(Model):
    """The jobs the gate runs (keys of the stack's jobs; `main` is databricks-cicd:job)."""

    jobs: list[StrictStr] | None = None
