"""Kernel services: electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200, §11.300)."""

import logging

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from simple_history.models import HistoricalRecords

from .chain import keyed_content_hash
from .exceptions import SignatureRejected
from .lockout import attempts_remaining, locked_message
from .models import Signature, SignatureMeaning

logger = logging.getLogger("ebr.signatures")


def lock(record):
    """`record` read again under a row lock held until the transaction ends. Services call
    it first, then check the status and guards on what they locked."""
    return type(record).objects.select_for_update().get(pk=record.pk)


def _auth_request():
    """The HTTP request being served (for the lockout log), or a stand-in outside one."""
    request = getattr(HistoricalRecords.context, "request", None)
    if request is None:
        request = HttpRequest()
        request.META["REMOTE_ADDR"] = "127.0.0.1"
    return request


def is_locked_out(user):
    return not AxesProxyHandler.is_allowed(_auth_request(), {"username": user.get_username()})


def check_password_for_signature(signer, password, *, username=None):
    """Re-authenticate the signed-in user (§11.200(a)(1)). A failure counts towards the
    account lockout shared with login, and is refused with SignatureRejected."""
    if username is not None and username != signer.get_username():
        raise SignatureRejected("A signature can only be given by the signed-in user.")
    if not signer.is_active:
        raise SignatureRejected("This account is inactive and cannot sign.")
    request = _auth_request()
    if is_locked_out(signer):
        logger.warning("Signature refused: account %s is locked out", signer.get_username())
        raise SignatureRejected(locked_message(signer.get_username()), code="account_locked")
    user = authenticate(request, username=signer.get_username(), password=password or "")
    if user is None or user.pk != signer.pk:
        logger.warning("Signature refused: wrong password for %s", signer.get_username())
        if is_locked_out(signer):
            logger.warning("Account %s locked after repeated signature failures", signer.get_username())
            raise SignatureRejected(
                "The password is not correct; nothing was signed or changed. " + locked_message(signer.get_username()),
                code="account_locked",
            )
        remaining = attempts_remaining(request, signer.get_username())
        raise SignatureRejected(
            "The password is not correct; nothing was signed or changed. "
            f"{remaining} attempt{'s' if remaining != 1 else ''} left before the account is locked.",
            code="bad_password",
        )


def sign(record, *, signer, password, meaning, comment=None, username=None):
    """Sign `record` with `meaning` as `signer`, after re-checking the password.

    Runs inside the caller's transaction: the caller makes its change first, then signs,
    so a refused signature rolls back the whole action. The hash is keyed (HMAC with the
    audit key) over the digest of the record's signed content as it stands at signing.
    """
    if meaning not in SignatureMeaning.values:
        raise ValueError(f"Unknown signature meaning: {meaning!r}")
    if record.pk is None:
        raise ValueError("Only a saved record can be signed.")
    check_password_for_signature(signer, password, username=username)
    hash_key_id, content_hash = keyed_content_hash(record.content_hash())
    with transaction.atomic(savepoint=False):
        return Signature.objects.create(
            record=record,
            signer=signer,
            signer_username=signer.get_username(),
            signer_full_name=signer.get_full_name() or signer.get_username(),
            meaning=meaning,
            comment=comment or "",
            record_status=getattr(record, "status", "") or "",
            content_hash=content_hash,
            hash_key_id=hash_key_id,
        )


def verify_signatures(record):
    """[(signature, valid)] for every signature of `record`, checked against its content now."""
    current = record.content_hash()
    return [(signature, signature.is_valid_for(current)) for signature in record.signatures.all()]
