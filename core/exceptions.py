"""Domain exceptions. Services raise these; the API's exception handler maps each to its
HTTP status, and the admin shows the message."""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message, *, code=None, **extra):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class Conflict(DomainError):
    """The record's current state does not allow the request (HTTP 409)."""

    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """An action that the record's workflow does not allow from its current status."""

    code = "invalid_transition"

    def __init__(self, record, action):
        status = record.status
        label = getattr(record, "display_id", None) or f"{record._meta.verbose_name} {record.pk}"
        super().__init__(
            f"Cannot {action.replace('_', ' ')} {label}: action '{action}' is not allowed from status '{status}'.",
            current_status=status,
            action=action,
        )


class NotPermitted(DomainError):
    """The acting user may not do this (role or separation of duties), HTTP 403."""

    status_code = 403
    code = "permission_denied"


class SignatureRejected(DomainError):
    """The electronic signature could not be applied (HTTP 403); nothing was changed."""

    status_code = 403
    code = "signature_rejected"


class PreconditionFailed(DomainError):
    """A stale If-Match: the record changed since the client read it (HTTP 412)."""

    status_code = 412
    code = "precondition_failed"


class AuditBypassError(RuntimeError):
    """A write path that would skip the audit trail was attempted (a programming error)."""
