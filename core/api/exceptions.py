"""Every API error is JSON with a human `detail` message (and `errors` for field errors)."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.exceptions import AuditBypassError, DomainError

logger = logging.getLogger("ebr.api")


def _first_message(errors):
    """A readable one-line summary of a DRF error structure, naming the field path."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            inner = _first_message(value)
            if key == "non_field_errors":
                return inner
            return f"{key}: {inner}" if inner else str(key)
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def _django_validation_payload(error):
    if hasattr(error, "error_dict"):
        return {field: [str(m) for e in errs for m in e.messages] for field, errs in error.error_dict.items()}
    return {"non_field_errors": [str(message) for message in error.messages]}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        set_rollback()
        body = {"detail": exc.message, "code": exc.code, **exc.extra}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        errors = _django_validation_payload(exc)
        return Response(
            {"detail": _first_message(errors), "code": "invalid", "errors": errors},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, AuditBypassError):  # a programming error: never silently accepted
        logger.error("Audit bypass attempted: %s", exc)
        raise exc
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if not isinstance(exc, exceptions.APIException):
        return None

    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = {"detail": _first_message(errors), "code": "invalid", "errors": errors}
    else:
        detail = exc.detail
        if isinstance(detail, (list, dict)):
            body = {"detail": _first_message(detail), "errors": detail}
        else:
            body = {"detail": str(detail), "code": getattr(detail, "code", exc.default_code)}
    return Response(body, status=exc.status_code, headers=headers)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes lockout: API views already answered with their own JSON 403."""
    if original_response is not None and request.path.startswith("/api/"):
        return original_response
    return JsonResponse(
        {"detail": "This account is locked after repeated failed attempts. Try again later.", "code": "account_locked"},
        status=403,
    )
