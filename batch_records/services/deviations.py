"""Deviations in a batch (21 CFR 211.192): opened by hand or by the system when a
recorded value, a yield or a material falls outside its limits."""

from django.core.exceptions import ValidationError
from django.db import transaction

from batch_records.choices import BATCH_FINAL_STATUSES, DeviationType
from batch_records.models import BatchDeviation
from core.exceptions import Conflict
from core.services import lock


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
    if batch.status in BATCH_FINAL_STATUSES:
        raise Conflict(
            f"Cannot open a deviation on {batch.batch_id}: the batch is '{batch.status}' and its record is final.",
            current_status=batch.status,
            action="open_deviation",
        )
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
