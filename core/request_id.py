"""A request id for every request: answered in the `X-Request-ID` header, carried by every
log record written while serving it, and quoted in the body of a 500, so that a user's
report of an error leads to its log lines.

A client (or the proxy in front) may send its own `X-Request-ID` to correlate logs; it is
kept only if it is a short token of safe characters, otherwise a new one is made. It is
never trusted for anything but correlation.
"""

import contextvars
import logging
import re
import uuid

HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")
_current = contextvars.ContextVar("request_id", default="-")


def current_request_id():
    return _current.get()


def request_id_for(request):
    """The id of `request` (Django or DRF request), or the one being served."""
    return getattr(request, "request_id", None) or current_request_id()


def _is_json(response):
    return response.get("Content-Type", "").startswith("application/json")


def _accepted(value):
    return value if value and _SAFE_ID.fullmatch(value) else None


class RequestIDMiddleware:
    """First in the middleware list, so that every response carries the header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = _accepted(request.headers.get(HEADER)) or uuid.uuid4().hex
        token = _current.set(request.request_id)
        try:
            response = self.get_response(request)
            if response.status_code >= 400 and not _is_json(response):
                # An error page Django rendered (DEBUG's technical pages included): the API
                # answers JSON whatever the status.
                from core.api.exceptions import is_api_request, json_error_response

                if is_api_request(request):
                    response = json_error_response(request, response.status_code)
        finally:
            _current.reset(token)
        response[HEADER] = request.request_id
        return response

    def process_exception(self, request, exception):
        """An error no view handled: a JSON 500 for the API (the HTML page is for humans
        in the admin), logged with the request id."""
        from core.api.exceptions import is_api_request, server_error_response

        if not is_api_request(request):
            return None
        return server_error_response(request, exception)


class RequestIDLogFilter(logging.Filter):
    """Adds `request_id` to every log record (`-` outside a request)."""

    def filter(self, record):
        # Django logs a response after the middleware has returned; it passes the request.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or current_request_id()
        return True
