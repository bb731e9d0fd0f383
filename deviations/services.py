"""Business actions on QMS deviations. The transitions are declared in
`workflows.DEVIATION_WORKFLOW` and run by its `perform`; the functions here are their work
and the entry points other code calls."""

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.workflow import create_record, edit_record

from .models import Deviation
from .workflows import DEVIATION_WORKFLOW


def create_deviation(*, actor, reason=None, **data):
    """Report a deviation (the investigation comes later)."""
    return create_record(Deviation, actor=actor, reason=reason, **data)


def update_deviation(deviation, *, actor, reason=None, **changes):
    """Write the report or its investigation, while the deviation is not closed."""
    return edit_record(deviation, DEVIATION_WORKFLOW, actor=actor, reason=reason, **changes)


def record_investigation_started(deviation, act):
    act.history_reason = act.reason or "Investigation started"


def record_closure(deviation, act):
    missing = {
        name: [f"A deviation cannot be closed without its {name.replace('_', ' ')}."]
        for name in ("root_cause", "conclusion")
        if not getattr(deviation, name).strip()
    }
    if missing:
        raise ValidationError(missing)
    deviation.closed_by = act.actor
    deviation.closed_at = timezone.now()
    act.history_reason = act.comment or "Closed"


def investigate_deviation(deviation, *, actor, reason=""):
    return DEVIATION_WORKFLOW.perform(deviation, "investigate", actor=actor, reason=reason)


def close_deviation(deviation, *, actor, password, comment="", username=None):
    """Close the investigation (21 CFR 211.192: the conclusion and follow-up are written
    down), signed "closed" by the QA approver."""
    return DEVIATION_WORKFLOW.perform(
        deviation, "close", actor=actor, password=password, comment=comment, username=username
    )
