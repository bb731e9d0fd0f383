"""`Idempotency-Key` on POST: a retried request (flaky shop-floor Wi-Fi) gets the first
response back and nothing is done twice.

- The key is per user. The first successful response is stored with the key in the same
  transaction as the work, so it exists exactly when the work was committed.
- A retry with the same key and the same body replays the stored response
  (header `Idempotent-Replayed: true`); the same key with another body is a 422.
- While the first request is still running, a second one with the same key is a 409
  (PostgreSQL: a transaction-scoped advisory lock; SQLite serializes writers anyway).
- Keys expire after IDEMPOTENCY_KEY_TTL; `manage.py purge_idempotency_keys` deletes them.
"""

import hashlib
import json
from datetime import timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.exceptions import Conflict, DomainError
from core.models import IdempotencyKey, canonical_json

HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class UnprocessableKeyReuse(DomainError):
    status_code = 422
    code = "idempotency_key_reused"


class IdempotentReplay(Exception):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, stored):
        super().__init__("replay")
        self.stored = stored


def _comparable(value):
    """A JSON-able stand-in for a request value; an uploaded file counts by its content."""
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def _request_hash(request):
    data = request.data
    if hasattr(data, "lists"):
        data = {key: _comparable(values) for key, values in data.lists()}
    payload = {"method": request.method, "path": request.path, "body": data}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _lock_key_while_running(user_id, key):
    if connection.vendor != "postgresql":
        return True
    digest = hashlib.sha256(f"{user_id}:{key}".encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id])
        return cursor.fetchone()[0]


class IdempotentPostMixin:
    """For viewsets whose POSTs run inside one transaction (see AuditedViewSet.dispatch)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency = None
        key = request.headers.get(HEADER)
        if request.method != "POST" or not key or not request.user.is_authenticated:
            return
        if len(key) > MAX_KEY_LENGTH:
            raise UnprocessableKeyReuse(f"{HEADER} may be at most {MAX_KEY_LENGTH} characters.", code="invalid")
        if not _lock_key_while_running(request.user.pk, key):
            raise Conflict(
                f"A request with this {HEADER} is still being processed; retry later.",
                code="idempotency_key_in_use",
            )
        request_hash = _request_hash(request)
        stored = IdempotencyKey.objects.filter(user=request.user, key=key).first()
        if stored is not None and stored.created_at < timezone.now() - IDEMPOTENCY_KEY_TTL:
            stored.delete()
            stored = None
        if stored is not None:
            if stored.request_hash != request_hash:
                raise UnprocessableKeyReuse(f"This {HEADER} was already used for a different request; use a new key.")
            raise IdempotentReplay(stored)
        self._idempotency = (key, request_hash)

    def handle_exception(self, exc):
        if isinstance(exc, IdempotentReplay):
            return Response(
                exc.stored.response_body,
                status=exc.stored.status_code,
                headers={"Idempotent-Replayed": "true"},
            )
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        pending = getattr(self, "_idempotency", None)
        if pending and 200 <= response.status_code < 300:
            key, request_hash = pending
            body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
            IdempotencyKey.objects.create(
                user=request.user,
                key=key,
                request_hash=request_hash,
                status_code=response.status_code,
                response_body=body,
            )
        return super().finalize_response(request, response, *args, **kwargs)
