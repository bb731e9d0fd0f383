"""Business actions on CAPAs. The transitions are declared in `workflows.CAPA_WORKFLOW`
(the owner may start their own CAPA) and run by its `perform`; the functions here are
their work and the entry points other code calls."""

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.workflow import create_record, edit_record

from .models import CAPA
from .workflows import CAPA_WORKFLOW


def create_capa(*, actor, reason=None, **data):
    return create_record(CAPA, actor=actor, reason=reason, **data)


def update_capa(capa, *, actor, reason=None, **changes):
    """Write the plan and its result, while the CAPA is not closed."""
    return edit_record(capa, CAPA_WORKFLOW, actor=actor, reason=reason, **changes)


def record_start(capa, act):
    act.history_reason = act.reason or "Work started"


def record_effectiveness_check(capa, act):
    """The actions are done: the CAPA moves to the check that they worked."""
    if not capa.action_plan.strip():
        raise ValidationError({"action_plan": ["The action plan must be written before the effectiveness check."]})
    act.history_reason = act.reason or "Effectiveness check started"


def record_closure(capa, act):
    if not capa.effectiveness_result.strip():
        raise ValidationError(
            {"effectiveness_result": ["A CAPA cannot be closed without the result of its effectiveness check."]}
        )
    capa.closed_by = act.actor
    capa.closed_at = timezone.now()
    act.history_reason = act.comment or "Closed"


def start_capa(capa, *, actor, reason=""):
    return CAPA_WORKFLOW.perform(capa, "start", actor=actor, reason=reason)


def check_capa_effectiveness(capa, *, actor, reason=""):
    return CAPA_WORKFLOW.perform(capa, "check_effectiveness", actor=actor, reason=reason)


def close_capa(capa, *, actor, password, comment="", username=None):
    return CAPA_WORKFLOW.perform(capa, "close", actor=actor, password=password, comment=comment, username=username)
