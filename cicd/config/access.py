"""`databricks-cicd:access`: who controls the stack's objects and who may run the job."""

from __future__ import annotations

from typing import Self

from pydantic import (
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from cicd.config.base import SERVICE_PRINCIPAL_ID, Model, check_admin_group


class Access(Model):
    """Who controls the stack's objects: admins and the deploy identity; operators may run."""

    admin_group: StrictStr = Field(min_length=1)

    @field_validator("admin_group", "operators_group")
    @classmethod
    def _not_builtin_admins(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check_admin_group(value, to_camel(info.field_name or "adminGroup"))

    # Application id of the service principal CI deploys with.
    deploy_identity: StrictStr
    operators_group: StrictStr | None = None
    # Prod and staging: the workspace root becomes a folder only admins and the deploy identity
    # control (refused under /Shared, where every user inherits CAN_MANAGE).
    restrict_workspace_root: StrictBool = False
    # A service principal that may read the job's runs (CAN_VIEW) and the restricted release
    # folder (CAN_READ), nothing else. Staging names the reader production's gate asks for green
    # runs and checks the promoted release with (cicd.jobs.provenance, cicd.promotion.staging).
    run_reader: StrictStr | None = None
    # Application id of the read-only principal of previews and the drift check: the program
    # grants it what a refresh reads (CAN_READ on folders, CAN_VIEW on jobs and pipelines,
    # CAN_ATTACH_TO on dev clusters, READ VOLUME on dev volumes), nothing that writes.
    read_only_identity: StrictStr | None = None

    @field_validator("deploy_identity", "run_reader", "read_only_identity")
    @classmethod
    def _service_principal(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not SERVICE_PRINCIPAL_ID.match(value):
            raise ValueError(
                f"{to_camel(info.field_name or 'deployIdentity')} {value!r} is not a service"
                " principal application id: give its UUID"
            )
        return value

    @model_validator(mode="after")
    def _read_only_is_not_the_deployer(self) -> Self:
        if self.read_only_identity == self.deploy_identity:
            raise ValueError(
                "readOnlyIdentity is the deployIdentity: a read-only principal must be another"
                " service principal, one that cannot deploy"
            )
        return self
