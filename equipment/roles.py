"""What each role may do with equipment (SPEC §7). Everyone reads the equipment and its
logs; records administrators keep the register; supervisors and administrators record
calibrations; whoever cleans on the shop floor records the cleaning."""

from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

_read = ["equipment.view_equipment", "equipment.view_calibrationrecord", "equipment.view_cleaninglog"]
_calibrate = ["equipment.calibrate_equipment"]
_clean = ["equipment.clean_equipment"]

ROLE_PERMISSIONS = {
    OPERATOR: [*_read, *_clean],
    VERIFIER: [*_read, *_calibrate, *_clean],
    AUTHOR: _read,
    QA_REVIEWER: _read,
    QA_APPROVER: _read,
    RECORDS_ADMIN: [*_read, "equipment.add_equipment", "equipment.change_equipment", *_calibrate, *_clean],
}
