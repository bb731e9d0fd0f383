"""Business actions on CAPAs: one function per action, each one transaction that locks the
row, checks the workflow (the owner may start their own CAPA), and signs the closure."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.models import SignatureMeaning
from core.services import lock, sign

from .workflows import CAPA_WORKFLOW


@transaction.atomic
def start_capa(capa, *, actor, reason=""):
    capa = lock(capa)
    CAPA_WORKFLOW.apply(capa, "start", actor)
    capa.save(actor=actor, reason=reason or "Work started")
    return capa


@transaction.atomic
def check_capa_effectiveness(capa, *, actor, reason=""):
    """The actions are done: the CAPA moves to the check that they worked."""
    capa = lock(capa)
    CAPA_WORKFLOW.apply(capa, "check_effectiveness", actor)
    if not capa.action_plan.strip():
        raise ValidationError({"action_plan": ["The action plan must be written before the effectiveness check."]})
    capa.save(actor=actor, reason=reason or "Effectiveness check started")
    return capa


@transaction.atomic
def close_capa(capa, *, actor, password, comment="", username=None):
    capa = lock(capa)
    CAPA_WORKFLOW.apply(capa, "close", actor)
    if not capa.effectiveness_result.strip():
        raise ValidationError(
            {"effectiveness_result": ["A CAPA cannot be closed without the result of its effectiveness check."]}
        )
    capa.closed_by = actor
    capa.closed_at = timezone.now()
    capa.save(actor=actor, reason=comment or "Closed")
    sign(capa, signer=actor, password=password, meaning=SignatureMeaning.CLOSED, comment=comment, username=username)
    return capa
