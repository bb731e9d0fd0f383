"""Business actions on QMS deviations: one function per action, each one transaction that
locks the row, checks the workflow, and signs where the action is signed."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.models import SignatureMeaning
from core.services import lock, sign

from .workflows import DEVIATION_WORKFLOW


@transaction.atomic
def investigate_deviation(deviation, *, actor, reason=""):
    deviation = lock(deviation)
    DEVIATION_WORKFLOW.apply(deviation, "investigate", actor)
    deviation.save(actor=actor, reason=reason or "Investigation started")
    return deviation


@transaction.atomic
def close_deviation(deviation, *, actor, password, comment="", username=None):
    """Close the investigation (21 CFR 211.192: the conclusion and follow-up are written
    down), signed "closed" by the QA approver."""
    deviation = lock(deviation)
    DEVIATION_WORKFLOW.apply(deviation, "close", actor)
    missing = {
        name: [f"A deviation cannot be closed without its {name.replace('_', ' ')}."]
        for name in ("root_cause", "conclusion")
        if not getattr(deviation, name).strip()
    }
    if missing:
        raise ValidationError(missing)
    deviation.closed_by = actor
    deviation.closed_at = timezone.now()
    deviation.save(actor=actor, reason=comment or "Closed")
    sign(
        deviation,
        signer=actor,
        password=password,
        meaning=SignatureMeaning.CLOSED,
        comment=comment,
        username=username,
    )
    return deviation
