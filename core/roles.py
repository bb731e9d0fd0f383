"""What the roles may do in the kernel: QA verifies the audit trail's hash chains."""

ROLE_PERMISSIONS = {
    "qa_reviewer": ["core.verify_audit_trail"],
    "qa_approver": ["core.verify_audit_trail"],
}
