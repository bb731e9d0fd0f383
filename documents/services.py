"""Business actions on controlled documents. The transitions are declared in
`workflows.DOCUMENT_WORKFLOW` and run by its `perform`; the functions here are their work
and the entry points other code calls."""

from django.core.exceptions import ValidationError
from django.utils import timezone

from .workflows import DOCUMENT_WORKFLOW


def record_effective(document, act):
    if not (document.file or document.url):
        raise ValidationError({"file": ["An effective document needs a file or a URL."]})
    if document.effective_date is None:
        document.effective_date = timezone.localdate()
    act.history_reason = act.comment or "Made effective"


def make_document_effective(document, *, actor, password, comment="", username=None):
    return DOCUMENT_WORKFLOW.perform(
        document, "make_effective", actor=actor, password=password, comment=comment, username=username
    )


def obsolete_document(document, *, actor, reason, password, comment="", username=None):
    return DOCUMENT_WORKFLOW.perform(
        document, "obsolete", actor=actor, reason=reason, password=password, comment=comment, username=username
    )
