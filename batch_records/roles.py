"""What each role may do with master batch records and batches (SPEC §7).

Separation of duties is enforced in the services as well (approver ≠ author, verifier ≠
operator, releaser did nothing in the batch): a permission is necessary, never sufficient.
"""

from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

APP = "batch_records"
_models = ["masterbatchrecord", "batchrecord", "batchstep", "batchdeviation", "batchmaterial", "batchequipment"]
_read = [f"{APP}.view_{model}" for model in _models]


def _perms(*codenames):
    return [f"{APP}.{codename}" for codename in codenames]


_execution = _perms(
    "start_batchrecord",
    "complete_batchrecord",
    "start_batchstep",
    "complete_batchstep",
    "dispense_batchmaterial",
    "consume_batchmaterial",
    "return_batchmaterial",
    "start_usage_batchequipment",
    "end_usage_batchequipment",
    "add_batchdeviation",
    "add_batchequipment",
)
# Verifiers are the shop-floor supervisors: they also plan (create) batches.
_verification = _perms(
    "add_batchrecord",
    "add_batchequipment",
    "submit_for_review_batchrecord",
    "change_batchrecord",
    "delete_batchrecord",
    "verify_batchstep",
    "skip_batchstep",
    "verify_batchmaterial",
    "verify_calibration_batchequipment",
    "verify_cleaning_batchequipment",
    "add_batchdeviation",
    # Issue 19: the supervisor who plans batches cancels one that will not be made, and
    # stops one that cannot be finished.
    "cancel_batchrecord",
    "abort_batchrecord",
)
_qa_review = _perms(
    "return_masterbatchrecord",
    "submit_for_review_batchrecord",
    "quarantine_batchrecord",
    "return_to_review_batchrecord",
    "add_batchdeviation",
    "change_batchdeviation",
    "investigate_batchdeviation",
    "correct_batchstep",
)

ROLE_PERMISSIONS = {
    OPERATOR: [*_read, *_execution, *_perms("correct_batchstep")],
    VERIFIER: [*_read, *_verification],
    AUTHOR: [
        *_read,
        *_perms(
            "add_masterbatchrecord",
            "change_masterbatchrecord",
            "delete_masterbatchrecord",
            "submit_masterbatchrecord",
        ),
    ],
    QA_REVIEWER: [*_read, *_qa_review],
    QA_APPROVER: [
        *_read,
        *_qa_review,
        *_perms(
            "approve_masterbatchrecord",
            "supersede_masterbatchrecord",
            "obsolete_masterbatchrecord",
            "release_batchrecord",
            "reject_batchrecord",
            "cancel_batchrecord",
            "abort_batchrecord",
            "resolve_batchdeviation",
            "close_batchdeviation",
        ),
    ],
    # Records administrators read everything and sign nothing.
    RECORDS_ADMIN: _read,
}
