"""Who may do what with QMS deviations (SPEC §7). Anyone executing or reviewing batches
reports a deviation; QA investigates and edits it; only a QA approver closes it."""

from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

_read = ["deviations.view_deviation"]
_report = ["deviations.add_deviation"]
_investigate = ["deviations.change_deviation", "deviations.investigate_deviation"]

ROLE_PERMISSIONS = {
    OPERATOR: [*_read, *_report],
    VERIFIER: [*_read, *_report],
    AUTHOR: _read,
    QA_REVIEWER: [*_read, *_report, *_investigate],
    QA_APPROVER: [*_read, *_report, *_investigate, "deviations.close_deviation"],
    RECORDS_ADMIN: _read,
}
