"""Every API error is JSON with a human `detail` message and a machine `code` (and `errors`
for field errors), at every status: DRF's errors here, Django's own (unknown URL, body too
large, an unhandled exception) through the handlers below and the request-id middleware."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.exceptions import DomainError
from core.request_id import request_id_for

logger = logging.getLogger("ebr.api")

API_PREFIX = "/api/"
SERVER_ERROR_DETAIL = "A server error occurred; it has been logged. Quote the request_id when reporting it."
# The body of an error that Django (not the API) answered, by status.
_DJANGO_ERRORS = {
    400: ("Bad request.", "bad_request"),
    403: ("You do not have permission to perform this action.", "permission_denied"),
    404: ("Not found.", "not_found"),
    405: ("Method not allowed.", "method_not_allowed"),
    413: ("The request body is too large.", "request_too_large"),
}


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
    if isinstance(exc, RequestDataTooBig):
        set_rollback()
        message = f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes accepted."
        return Response(
            {"detail": f"body: {message}", "code": "request_too_large", "errors": {"body": [message]}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        set_rollback()
        return Response(
            {"detail": f"body: {exc}", "code": "invalid", "errors": {"body": [str(exc)]}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if not isinstance(exc, exceptions.APIException):
        # A programming error (AuditBypassError among them): nothing is kept, the client
        # gets JSON with the request id, and the log the traceback under the same id.
        set_rollback()
        request = context.get("request")
        return Response(_server_error_body(request, exc), status=status.HTTP_500_INTERNAL_SERVER_ERROR)

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
            body = {"detail": _first_message(detail), "code": exc.default_code, "errors": detail}
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


# --- errors Django answers (outside the API's views) -------------------------------------


def is_api_request(request):
    return request.path.startswith(API_PREFIX)


def _server_error_body(request, exc):
    request_id = request_id_for(request)
    path = getattr(request, "path", "?")
    logger.error("Unhandled error serving %s %s", getattr(request, "method", "?"), path, exc_info=exc)
    return {"detail": SERVER_ERROR_DETAIL, "code": "server_error", "request_id": request_id}


def server_error_response(request, exc=None):
    return JsonResponse(_server_error_body(request, exc), status=500)


def json_error_response(request, status_code):
    """The JSON body of an error Django answered for an API path (not logged again)."""
    if status_code >= 500:
        body = {"detail": SERVER_ERROR_DETAIL, "code": "server_error", "request_id": request_id_for(request)}
    else:
        detail, code = _DJANGO_ERRORS.get(status_code, ("The request could not be served.", "error"))
        body = {"detail": detail, "code": code}
    return JsonResponse(body, status=status_code)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if not is_api_request(request):
        return defaults.bad_request(request, exception, template_name)
    return json_error_response(request, 413 if isinstance(exception, RequestDataTooBig) else 400)


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if not is_api_request(request):
        return defaults.permission_denied(request, exception, template_name)
    return json_error_response(request, 403)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if not is_api_request(request):
        return defaults.page_not_found(request, exception, template_name)
    return json_error_response(request, 404)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    # Django has logged the exception already (django.request, with the request id).
    if not is_api_request(request):
        return defaults.server_error(request, template_name)
    return json_error_response(request, 500)
