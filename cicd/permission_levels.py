"""How much each workspace permission level allows, one table for every judgement of grants.

Levels are compared within one object type (a folder's, a job's, a cluster's): a folder's
CAN_READ and a job's CAN_VIEW read; CAN_RUN / CAN_MANAGE_RUN / CAN_USE / CAN_ATTACH_TO use;
CAN_EDIT / CAN_RESTART change; CAN_MANAGE / IS_OWNER change the object and its grants. Used by
the drift check (inherited grants beyond the program's) and the rights derivation (a grant that
covers a needed right).
"""

from __future__ import annotations

RANK = {
    "CAN_READ": 1,
    "CAN_VIEW": 1,
    "CAN_ATTACH_TO": 2,
    "CAN_USE": 2,
    "CAN_RUN": 2,
    "CAN_MANAGE_RUN": 2,
    "CAN_RESTART": 3,
    "CAN_EDIT": 3,
    "CAN_MANAGE": 4,
    "IS_OWNER": 4,
}
