"""One right one identity needs on one object, and where it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    """The identities a stack names, in the order the report lists them."""

    DEPLOY = "deploy identity"
    READ_ONLY = "read-only identity"
    RUN_AS = "run-as service principal"
    OPERATORS = "operators group"
    RUN_READER = "run reader"
    ADMIN_GROUP = "admin group"
    ENGINEER = "engineer"


class Source(str, Enum):
    """Who makes sure the identity holds the right."""

    PROGRAM = "program"  # a Permissions / Grants / Grant resource of the stack grants it
    CREATOR = "creator"  # the deploy identity creates the object and owns it
    ADMIN_ONCE = "admin, once"  # a workspace admin (or metastore admin) grants it once
    ACCOUNT_ADMIN_ONCE = "account admin, once"  # an account-level role
    BUILT_IN = "built in"  # every workspace user holds it already (or the object has no ACL)
    NOT_READ_ONLY = "not possible read-only"  # reading it needs a right that writes
    MISSING = "MISSING"  # the stack owns the object but grants nobody this: a bug


@dataclass(frozen=True)
class Right:
    """`principal` (a `role`) needs `right` on `target` for `used_by`, because `why`."""

    role: Role
    principal: str
    target: str  # "job etl-pipeline-prod", "folder /Production/etl-pipeline", "volume a.b.c"
    right: str  # a permission level, a Unity Catalog privilege, an entitlement or a role
    why: str  # the Databricks documentation's reason
    source: Source
    used_by: str  # "pulumi up", "pulumi preview --refresh", "cicd.run_job", ...
    via: str = ""  # the resource that grants it (Source.PROGRAM), or what to do

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.role.value, self.principal, self.target, self.right)
