"""Deviations in a batch (21 CFR 211.192): opened by hand or by the system when a
recorded value, a yield or a material falls outside its limits; then investigated,
resolved with a root cause and a QA signature, and closed by QA.

Lock order: the batch row first, then the deviation (as everywhere in batch execution).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batch_records.choices import BatchDeviationStatus, DeviationType
from batch_records.models import BatchDeviation, BatchRecord
from batch_records.workflows import BATCH_DEVIATION_WORKFLOW
from core.exceptions import Conflict, NotPermitted
from core.services import lock

from .guards import ensure_batch_open

# The investigation is written while the deviation is open or under investigation; once
# resolved, its signature covers it and it no longer changes.
EDITABLE_STATUSES = (BatchDeviationStatus.OPEN, BatchDeviationStatus.INVESTIGATING)
EDITABLE_FIELDS = ("impact_assessment", "immediate_action", "root_cause", "linked_deviation", "linked_capa")


@transaction.atomic
def open_batch_deviation(
    batch,
    *,
    actor,
    deviation_type,
    description,
    batch_step=None,
    batch_material=None,
    impact_assessment="",
    immediate_action="",
):
    """A new open deviation on `batch`, reported by `actor`.

    Whoever may report deviations is checked by the API (add_batchdeviation); deviations
    the system opens itself (a value out of spec, a yield outside its limits) are opened on
    behalf of the user who recorded the data, whatever their role: the record must exist.
    The batch row is locked first, as every batch execution service does.
    """
    batch = lock(batch)
    ensure_batch_open(batch, "open_deviation")
    errors = {}
    if deviation_type not in DeviationType.values:
        errors["deviation_type"] = [f"must be one of {', '.join(DeviationType.values)}"]
    if not (description or "").strip():
        errors["description"] = ["A deviation needs a description of what happened."]
    if batch_step is not None and batch_step.batch_id != batch.pk:
        errors["batch_step"] = [f"Step {batch_step.step_number} does not belong to {batch.batch_id}."]
    if batch_material is not None and batch_material.batch_id != batch.pk:
        errors["batch_material"] = [f"Material {batch_material.material_code} does not belong to {batch.batch_id}."]
    if errors:
        raise ValidationError(errors)
    deviation = BatchDeviation(
        batch=batch,
        batch_step=batch_step,
        batch_material=batch_material,
        deviation_type=deviation_type,
        description=description.strip(),
        impact_assessment=impact_assessment or "",
        immediate_action=immediate_action or "",
    )
    # The batch's has_deviations / review_by_exception follow through the post_save signal.
    deviation.save(actor=actor, reason=f"Deviation opened on {batch.batch_id}")
    return deviation


def lock_batch_and_deviation(deviation):
    """The deviation's batch and the deviation, locked in that order."""
    batch = BatchRecord.objects.select_for_update().get(pk=deviation.batch_id)
    return batch, lock(deviation)


def _check_links(batch, *, linked_deviation=None, linked_capa=None):
    """A batch deviation links only QMS records of the batch's own site (400 otherwise)."""
    errors = {}
    if linked_deviation is not None and linked_deviation.site_id != batch.site_id:
        errors["linked_deviation"] = [
            f"{linked_deviation.deviation_id} is a deviation of another site; link one of {batch.site.code}."
        ]
    if linked_capa is not None and linked_capa.site_id != batch.site_id:
        errors["linked_capa"] = [f"{linked_capa.capa_id} is a CAPA of another site; link one of {batch.site.code}."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def update_batch_deviation(deviation, *, actor, reason=None, **changes):
    """Write the investigation (impact, immediate action, root cause, links) while the
    deviation is open or under investigation; 409 once it is resolved or closed."""
    batch, deviation = lock_batch_and_deviation(deviation)
    ensure_batch_open(batch, "update", deviation)
    if not actor.has_perm("batch_records.change_batchdeviation"):
        raise NotPermitted("You do not have permission to change this record.")
    if deviation.status not in EDITABLE_STATUSES:
        raise Conflict(
            f"Cannot edit {deviation.deviation_id}: it is '{deviation.status}', and a deviation can only be edited "
            "while open or investigating.",
            current_status=deviation.status,
            action="update",
        )
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    _check_links(batch, linked_deviation=changes.get("linked_deviation"), linked_capa=changes.get("linked_capa"))
    for name, value in changes.items():
        setattr(deviation, name, value)
    deviation.save(actor=actor, reason=reason or "Investigation updated")
    return deviation


# --- the work of each transition ---------------------------------------------------------


def record_investigation_started(deviation, act):
    act.history_reason = "Investigation started"


def record_resolution(deviation, act, *, root_cause, impact_assessment=None, linked_deviation=None, linked_capa=None):
    """21 CFR 211.192: the investigation and its conclusion are recorded. Links given here
    replace the ones recorded; impact_assessment, when given, too."""
    root_cause = (root_cause or "").strip()
    if not root_cause:
        raise ValidationError({"root_cause": ["A deviation is resolved with its root cause."]})
    _check_links(deviation.batch, linked_deviation=linked_deviation, linked_capa=linked_capa)
    deviation.root_cause = root_cause
    if impact_assessment is not None:
        deviation.impact_assessment = impact_assessment.strip()
    if linked_deviation is not None:
        deviation.linked_deviation = linked_deviation
    if linked_capa is not None:
        deviation.linked_capa = linked_capa
    deviation.resolved_by = act.actor
    deviation.resolution_date = timezone.now()
    act.history_reason = act.comment or f"Resolved: {root_cause}"


def record_closure(deviation, act):
    deviation.closed_by = act.actor
    deviation.closed_at = timezone.now()
    act.history_reason = act.comment or "Closed"


# --- entry points ------------------------------------------------------------------------------


def investigate_batch_deviation(deviation, *, actor):
    """open → investigating: QA takes up the deviation."""
    return BATCH_DEVIATION_WORKFLOW.perform(deviation, "investigate", actor=actor)


def resolve_batch_deviation(
    deviation,
    *,
    actor,
    root_cause,
    password,
    impact_assessment=None,
    linked_deviation=None,
    linked_capa=None,
    comment="",
    username=None,
):
    """investigating → resolved with the root cause, signed "resolved" by QA."""
    return BATCH_DEVIATION_WORKFLOW.perform(
        deviation,
        "resolve",
        actor=actor,
        root_cause=root_cause,
        impact_assessment=impact_assessment,
        linked_deviation=linked_deviation,
        linked_capa=linked_capa,
        password=password,
        comment=comment,
        username=username,
    )


def close_batch_deviation(deviation, *, actor, password, comment="", username=None):
    """resolved → closed by QA, signed "closed"."""
    return BATCH_DEVIATION_WORKFLOW.perform(
        deviation, "close", actor=actor, password=password, comment=comment, username=username
    )
