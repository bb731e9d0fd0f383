"""The domain events of batch execution (published under progress.notification.production).

Declared once here and raised by the save hook of `events`: whatever service moves a batch,
a step or a batch deviation, the event row is written in that service's transaction.
Payload fields follow seed 000 (BatchCompletedEvent) where they apply: `batch`,
`completed_quantity` (what was produced), `serials` and `order` (added by their apps).
"""

from decimal import Decimal

from batch_records.choices import BatchDeviationStatus, BatchStatus, StepStatus
from batch_records.models import BatchDeviation, BatchRecord, BatchStep
from events.registry import RecordEvents, declare


def _stored(record, name):
    """A decimal as the database stores it (95 → "95.000"), whatever the instance holds."""
    value = getattr(record, name)
    if value is None:
        return None
    places = record._meta.get_field(name).decimal_places
    return str(Decimal(value).quantize(Decimal(1).scaleb(-places)))


def batch_payload(batch):
    return {
        "batch": batch.batch_id,
        "batch_number": batch.batch_number,
        "lot_number": batch.lot_number,
        "status": batch.status,
        "mbr": batch.mbr.mbr_id,
        "mbr_version": batch.mbr.version,
        "product_code": batch.mbr.product_code,
        "quantity_planned": _stored(batch, "quantity_planned"),
        "completed_quantity": _stored(batch, "quantity_produced"),
        "rejected_quantity": _stored(batch, "quantity_rejected"),
        "yield_percentage": _stored(batch, "yield_percentage"),
    }


def step_payload(step):
    return {
        "batch": step.batch.batch_id,
        "step_number": step.step_number,
        "status": step.status,
        "is_within_spec": step.is_within_spec,
        "operator": step.operator.get_username() if step.operator_id else None,
        "verifier": step.verifier.get_username() if step.verifier_id else None,
    }


def batch_deviation_payload(deviation):
    return {
        "deviation": deviation.deviation_id,
        "batch": deviation.batch.batch_id,
        "step_number": deviation.batch_step.step_number if deviation.batch_step_id else None,
        "deviation_type": deviation.deviation_type,
        "status": deviation.status,
    }


BATCH_EVENTS = RecordEvents(
    BatchRecord,
    aggregate="batch_record",
    domain="production",
    identifier="batch_id",
    created="BATCH_CREATED",
    statuses={
        BatchStatus.IN_PROGRESS: "BATCH_STARTED",
        BatchStatus.COMPLETED: "BATCH_COMPLETED",
        BatchStatus.UNDER_REVIEW: "BATCH_SUBMITTED_FOR_REVIEW",
        BatchStatus.RELEASED: "BATCH_RELEASED",
        BatchStatus.REJECTED: "BATCH_REJECTED",
        BatchStatus.QUARANTINED: "BATCH_QUARANTINED",
    },
    payload=batch_payload,
)
declare(BATCH_EVENTS)
declare(
    RecordEvents(
        BatchStep,
        aggregate="batch_step",
        domain="production",
        identifier=lambda step: f"{step.batch.batch_id}/{step.step_number}",
        statuses={
            StepStatus.COMPLETED: "STEP_COMPLETED",
            StepStatus.DEVIATED: "STEP_DEVIATED",
            StepStatus.SKIPPED: "STEP_SKIPPED",
        },
        # Verification keeps the step's status: the verifier being recorded is the event.
        fields_set={"verifier_id": "STEP_VERIFIED"},
        payload=step_payload,
        site=lambda step: step.batch.site_id,
    )
)
declare(
    RecordEvents(
        BatchDeviation,
        aggregate="batch_deviation",
        domain="production",
        identifier="deviation_id",
        created="BATCH_DEVIATION_OPENED",
        statuses={
            BatchDeviationStatus.RESOLVED: "BATCH_DEVIATION_RESOLVED",
            BatchDeviationStatus.CLOSED: "BATCH_DEVIATION_CLOSED",
        },
        payload=batch_deviation_payload,
        site=lambda deviation: deviation.batch.site_id,
    )
)
