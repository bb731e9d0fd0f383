"""What each role may do with serialized units.

Operators perform the steps of each unit and move it past optional steps. Shop-floor
supervisors (verifiers) and QA waive steps and scrap units. Force-completion closes a
unit with required steps not done: only a supervisor or a QA approver may decide that.
"""

from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

APP = "serials"
_read = [f"{APP}.view_serialnumber", f"{APP}.view_serialstepstatus", f"{APP}.view_serialstepoverride"]


def _perms(*codenames):
    return [f"{APP}.{codename}" for codename in codenames]


ROLE_PERMISSIONS = {
    OPERATOR: [*_read, *_perms("advance_serialnumber", "advance_to_step_serialnumber")],
    VERIFIER: [
        *_read,
        *_perms(
            "advance_to_step_serialnumber",
            "waive_step_serialnumber",
            "scrap_serialnumber",
            "force_complete_serialnumber",
        ),
    ],
    AUTHOR: _read,
    QA_REVIEWER: [*_read, *_perms("waive_step_serialnumber", "scrap_serialnumber")],
    QA_APPROVER: [
        *_read,
        *_perms("waive_step_serialnumber", "scrap_serialnumber", "force_complete_serialnumber"),
    ],
    RECORDS_ADMIN: _read,
}
