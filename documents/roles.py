from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

_read = ["documents.view_document"]

ROLE_PERMISSIONS = {
    OPERATOR: _read,
    VERIFIER: _read,
    AUTHOR: [*_read, "documents.add_document", "documents.change_document", "documents.delete_document"],
    QA_REVIEWER: _read,
    QA_APPROVER: [*_read, "documents.make_effective_document", "documents.obsolete_document"],
    RECORDS_ADMIN: [
        *_read,
        "documents.add_document",
        "documents.change_document",
        "documents.delete_document",
        "documents.obsolete_document",
    ],
}
