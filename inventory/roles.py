"""What each role may do with materials and lots (SPEC §7).

Receipts and stock corrections are materials management (records administrators); the
quality unit releases or rejects lots (21 CFR 211.22, 211.84) and marks them expired.
Dispensing from lots is the batch material's own `dispense` permission.
"""

from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

APP = "inventory"
_read = [f"{APP}.view_{model}" for model in ("material", "lot", "lotmovement", "batchmateriallot")]


def _perms(*codenames):
    return [f"{APP}.{codename}" for codename in codenames]


ROLE_PERMISSIONS = {
    OPERATOR: _read,
    VERIFIER: _read,
    AUTHOR: _read,
    QA_REVIEWER: [*_read, *_perms("expire_lot")],
    QA_APPROVER: [*_read, *_perms("release_lot", "reject_lot", "expire_lot", "adjust_lot")],
    RECORDS_ADMIN: [
        *_read,
        *_perms("add_material", "change_material", "delete_material", "add_lot", "change_lot", "adjust_lot"),
    ],
}
