"""The policy pack (Pulumi CrossGuard) of this project.

The engine runs this folder as a script (`python policy/`, in `policy/venv`), so `__main__.py`
imports the rules as the top-level package `databricks_guardrails`. The project imports the same
rules as `policy.databricks_guardrails` (offline preview, tests). The pack imports nothing from
the project: its venv holds `policy/requirements.txt` only.
"""
