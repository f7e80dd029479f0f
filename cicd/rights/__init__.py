"""Which rights each identity of a stack needs, on which object, and why: derived from what the
program registers and what the tools call (`derive`), with the Databricks documentation's reasons
(`reasons`); `python -m cicd.rights` prints them and writes docs/identities.md (`report`)."""

from cicd.rights.derive import derive_rights
from cicd.rights.model import Right, Role, Source

__all__ = ["Right", "Role", "Source", "derive_rights"]
