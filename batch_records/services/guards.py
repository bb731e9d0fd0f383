"""What every batch service shares, at the bottom of the services (it imports none of
them): a final batch refuses every write, the batch's yield limits, the material
tolerance, the places of material quantities."""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from batch_records.choices import BATCH_FINAL_STATUSES
from batch_records.models import BatchDeviation, BatchMaterial, BatchStep
from core.exceptions import Conflict

# Places of the model fields of material quantities.
MATERIAL_PLACES = Decimal("0.0001")
MATERIAL_LIMIT = Decimal(10) ** 12


def record_label(record):
    if isinstance(record, BatchStep):
        return f"step {record.step_number}"
    if isinstance(record, BatchMaterial):
        return f"material {record.material_code} (line {record.line_number})"
    if isinstance(record, BatchDeviation):
        return record.deviation_id or "a deviation"
    name = getattr(record, "equipment_name", "") or getattr(record, "equipment_id_manual", "")
    if name:
        return f"equipment {name}"
    return str(record._meta.verbose_name)


def batch_final_refusal(batch, action, record=None):
    """The 409 refusing any write to a released or rejected batch or to anything in it, or
    None. The disposition is final (21 CFR 211.192, EU GMP Annex 11 §8.2)."""
    if batch.status not in BATCH_FINAL_STATUSES:
        return None
    what = action.replace("_", " ")
    target = f"{record_label(record)} of {batch.batch_id}" if record is not None else batch.batch_id
    return Conflict(
        f"Cannot {what} {target}: the batch is '{batch.status}', and a {batch.status} batch record is final; "
        "nothing in it can change any more.",
        current_status=getattr(record, "status", batch.status) if record is not None else batch.status,
        batch_status=batch.status,
        action=action,
    )


def ensure_batch_open(batch, action, record=None):
    """Refuse any write to a released or rejected batch or to anything in it (409).

    The disposition is final (21 CFR 211.192, EU GMP Annex 11 §8.2): the record QA signed
    off must stay exactly as signed. Every service that changes a batch or one of its steps,
    materials, equipment uses or deviations calls this on the batch row it has locked (the
    workflows' locks do, see `batch_records.workflows`).
    """
    refused = batch_final_refusal(batch, action, record)
    if refused is not None:
        raise refused


def yield_within_limits(batch):
    value = batch.yield_percentage
    if batch.yield_limit_min is not None and value < batch.yield_limit_min:
        return False
    return not (batch.yield_limit_max is not None and value > batch.yield_limit_max)


def material_tolerance_percent():
    """How far (± percent of `quantity_required`) the quantity used may be from the
    quantity required before a material deviation is opened."""
    raw = getattr(settings, "EBR_MATERIAL_TOLERANCE_PERCENT", "2")
    try:
        tolerance = Decimal(str(raw))
    except InvalidOperation as error:
        raise ImproperlyConfigured(f"EBR_MATERIAL_TOLERANCE_PERCENT must be a number, not {raw!r}.") from error
    if not tolerance.is_finite() or tolerance < 0:
        raise ImproperlyConfigured(f"EBR_MATERIAL_TOLERANCE_PERCENT must be a number ≥ 0, not {raw!r}.")
    return tolerance
