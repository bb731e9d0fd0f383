"""Who may do what with CAPAs (SPEC §7). QA opens, plans and moves them on; only a QA
approver closes one. Everyone reads them: a CAPA's owner may hold any role, and may start
the work on their own CAPA (see workflows.CAPA_WORKFLOW)."""

from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

_read = ["capa.view_capa"]
_manage = ["capa.add_capa", "capa.change_capa", "capa.start_capa", "capa.check_effectiveness_capa"]

ROLE_PERMISSIONS = {
    OPERATOR: _read,
    VERIFIER: _read,
    AUTHOR: _read,
    QA_REVIEWER: [*_read, *_manage],
    QA_APPROVER: [*_read, *_manage, "capa.close_capa"],
    RECORDS_ADMIN: _read,
}
