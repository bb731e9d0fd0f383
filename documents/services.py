"""Business actions on controlled documents: one function per action, each one
transaction that locks the row, checks the workflow and signs."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.models import SignatureMeaning
from core.services import lock, sign

from .workflows import DOCUMENT_WORKFLOW


@transaction.atomic
def make_document_effective(document, *, actor, password, comment="", username=None):
    document = lock(document)
    DOCUMENT_WORKFLOW.apply(document, "make_effective", actor)
    if not (document.file or document.url):
        raise ValidationError({"file": ["An effective document needs a file or a URL."]})
    if document.effective_date is None:
        document.effective_date = timezone.localdate()
    document.save(actor=actor, reason=comment or "Made effective")
    sign(
        document, signer=actor, password=password, meaning=SignatureMeaning.APPROVED, comment=comment, username=username
    )
    return document


@transaction.atomic
def obsolete_document(document, *, actor, reason, password, comment="", username=None):
    document = lock(document)
    DOCUMENT_WORKFLOW.apply(document, "obsolete", actor)
    document.save(actor=actor, reason=reason)
    sign(
        document,
        signer=actor,
        password=password,
        meaning=SignatureMeaning.OBSOLETED,
        comment=comment or reason,
        username=username,
    )
    return document
