"""What each permission level and privilege allows, in the words of Databricks' documentation
("Access control lists": folder, notebook, file, compute, cluster policy, job and pipeline ACL
tables; "Unity Catalog privileges and securable objects"; "Compute policy reference"), and the
facts about who may read what, each with its source."""

from __future__ import annotations

# Permission levels per object kind: what the level lets its holder do.
LEVELS: dict[str, dict[str, str]] = {
    "folder": {
        "CAN_READ": "list the folder and read and export what is in it (Folder ACL: CAN VIEW;"
        " the Permissions API calls it CAN_READ)",
        "CAN_RUN": "read the notebooks in it and run them (Folder ACL: CAN RUN)",
        "CAN_EDIT": "edit the notebooks and files in it (Folder ACL: CAN EDIT)",
        "CAN_MANAGE": "create, import, delete and move items in it and change its permissions"
        " (Folder ACL: CAN MANAGE)",
    },
    "job": {
        "CAN_VIEW": "view the job's settings and results and list its runs (Jobs ACL: CAN VIEW)",
        "CAN_MANAGE_RUN": "run the job now and cancel its runs (Jobs ACL: CAN MANAGE RUN)",
        "IS_OWNER": "edit, delete, run and change the permissions of the job (Jobs ACL: IS"
        " OWNER; a job has exactly one)",
        "CAN_MANAGE": "edit and delete the job and change its permissions (Jobs ACL: CAN MANAGE)",
    },
    "pipeline": {
        "CAN_VIEW": "view the pipeline's details and list it (Pipeline ACL: CAN VIEW)",
        "CAN_RUN": "start and stop pipeline updates (Pipeline ACL: CAN RUN)",
        "CAN_MANAGE": "edit and delete the pipeline and change its permissions (Pipeline ACL:"
        " CAN MANAGE)",
        "IS_OWNER": "updates run as the owner (Pipeline ACL: IS OWNER)",
    },
    "cluster": {
        "CAN_ATTACH_TO": "view the cluster, its metrics and Spark UI (Compute ACL: CAN ATTACH"
        " TO); on a single-user cluster nobody but its user runs code",
        "CAN_RESTART": "start, restart and terminate the cluster (Compute ACL: CAN RESTART)",
        "CAN_MANAGE": "edit and resize the cluster, attach libraries, change its permissions"
        " (Compute ACL: CAN MANAGE; the Libraries API needs it)",
    },
    "cluster policy": {
        "CAN_USE": "create and edit clusters under the policy (cluster policy ACL: CAN USE, its"
        " only level)",
    },
}
# Unity Catalog privileges ("Unity Catalog privileges and securable objects").
PRIVILEGES: dict[str, str] = {
    "USE_CATALOG": "required to reach any object in the catalog; grants no data access",
    "USE_SCHEMA": "required to reach any object in the schema; grants no data access",
    "READ_VOLUME": "read the files in the volume, and its metadata (volumes/get needs READ"
    " VOLUME or ownership, with USE CATALOG and USE SCHEMA)",
    "WRITE_VOLUME": "add, replace and delete files in the volume (files there need READ VOLUME"
    " and WRITE VOLUME, with USE CATALOG and USE SCHEMA)",
    "CREATE_VOLUME": "create a volume in the schema",
    "MANAGE": "grant and revoke privileges on the object (or be its owner, or metastore admin)",
    "CREATE_TABLE": "create tables in the schema (a pipeline's streaming tables)",
    "CREATE_MATERIALIZED_VIEW": "create materialized views in the schema (a pipeline's)",
}

# Facts about rights that are not in the ACL tables, with where they come from.
READ_PERMISSIONS = (
    "reading an object's permission list (the provider's refresh of a Permissions resource,"
    " cicd.drift's grant check) needs CAN_MANAGE on it: Databricks' own CLI test server answers"
    " a job's without it with 403 'does not have Manage permissions on Job', and the ACL tables"
    " give only CAN MANAGE any right on permissions; a read-only identity cannot hold it"
)
READ_UC_GRANTS = (
    "reading the grants on a Unity Catalog object (SHOW GRANTS, the refresh of a Grants or Grant"
    " resource) needs workspace or metastore admin, or ownership of the object, unless the"
    " grants shown are the caller's own"
)
READ_POLICY = (
    "a non-admin sees only the cluster policies it may use ('policies accessible by the"
    " requesting user'), and CAN USE, a policy's only level, creates clusters: no read-only"
    " right reads one"
)
POLICY_ADMIN = "only workspace admins create, edit and delete cluster policies"
PIN_ADMIN = "only workspace admins pin clusters (the dev clusters are pinned)"
USERS_HOME = (
    "creating a folder in another user's home folder needs CAN_MANAGE there, which only the"
    " user and workspace admins hold"
)
SHARED = "every workspace user inherits CAN_MANAGE under /Shared, and no grant takes it away"
DBFS = "DBFS has no access control: every workspace user may read and write it"
CREATOR = "the creator of an object holds CAN_MANAGE (IS_OWNER for a job) on it"
SP_USER = (
    "setting a job's run_as (and submitting a run with run_as) to a service principal needs the"
    " Service Principal User role on it, an account-level role"
)
CLUSTER_CREATE = (
    "submitting a one-time run on a new job cluster (runs/submit) needs the 'Unrestricted"
    " cluster creation' entitlement (workspace admins hold it)"
)
ADMIN_SEES_ALL = (
    "only a workspace admin sees every cluster policy and cluster and may read their"
    " permissions (cicd.drift's engineers part)"
)
