"""Business actions on equipment (21 CFR 211.67, 211.68, 211.105, 211.182): one function
per action, each one transaction that locks the equipment row first.

Batch execution calls `usability_problems`, `mark_in_use` and `release_from_use`.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict
from core.services import lock
from core.workflow import create_record, edit_record

from .models import CalibrationRecord, CleaningLog, CleaningStatus, Equipment, EquipmentStatus, RecordResult
from .workflows import EQUIPMENT_USAGE_WORKFLOW, EQUIPMENT_WORKFLOW


def usability_problems(equipment, *, now=None):
    """Why `equipment` may not be used in a batch now; an empty list when it may.

    21 CFR 211.67/211.68: only available equipment, within its calibration interval and
    cleaned within its validated clean-hold time.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    label = equipment.equipment_id
    problems = []
    if equipment.status != EquipmentStatus.AVAILABLE:
        problems.append(f"{label} is '{equipment.status}', not available.")
    if equipment.calibration_due_date is None:
        problems.append(f"{label} has no valid calibration (none recorded, or the last one failed).")
    elif equipment.calibration_due_date < today:
        problems.append(f"{label}: calibration was due on {equipment.calibration_due_date} and is overdue.")
    if equipment.cleaning_status != CleaningStatus.CLEAN or equipment.cleaned_at is None:
        problems.append(f"{label} is not clean.")
    else:
        expires_at = equipment.cleaned_at + timedelta(hours=equipment.cleaning_validity_hours)
        if now > expires_at:
            problems.append(
                f"{label}: cleaning expired at {expires_at:%Y-%m-%d %H:%M} UTC "
                f"(valid {equipment.cleaning_validity_hours} h after cleaning)."
            )
    return problems


def create_equipment(*, actor, reason=None, **data):
    return create_record(Equipment, actor=actor, reason=reason, **data)


def update_equipment(equipment, *, actor, reason=None, **changes):
    """Change the register's data, never while the equipment is in use in a batch."""
    return edit_record(equipment, EQUIPMENT_WORKFLOW, actor=actor, reason=reason, **changes)


def log_calibration(equipment, act, *, result, next_due_date=None, certificate="", notes=""):
    """A pass sets the next due date (which must be in the future); a fail leaves the
    equipment without a valid calibration and puts it in maintenance (21 CFR 211.68(a),
    211.160(b)(4))."""
    now = timezone.now()
    if result == RecordResult.PASS:
        if next_due_date is None:
            raise ValidationError({"next_due_date": ["A passed calibration needs the next due date."]})
        if next_due_date <= timezone.localdate(now):
            raise ValidationError({"next_due_date": ["The next due date must be in the future."]})
        equipment.calibration_due_date = next_due_date
        reason = f"Calibration passed; next due {next_due_date}"
    else:
        if next_due_date is not None:
            raise ValidationError({"next_due_date": ["A failed calibration sets no next due date."]})
        equipment.calibration_due_date = None
        equipment.status = EquipmentStatus.MAINTENANCE
        reason = "Calibration failed; equipment put in maintenance"
    CalibrationRecord(
        equipment=equipment,
        performed_at=now,
        performed_by=act.actor,
        result=result,
        next_due_date=next_due_date,
        certificate=certificate,
        notes=notes,
    ).save(actor=act.actor, reason=reason)
    act.history_reason = reason


def log_cleaning(equipment, act, *, result, method="", notes=""):
    """A pass makes the equipment clean from now for its clean-hold time; a fail leaves it
    dirty (21 CFR 211.67(b), 211.182)."""
    now = timezone.now()
    if result == RecordResult.PASS:
        equipment.cleaning_status = CleaningStatus.CLEAN
        equipment.cleaned_at = now
        reason = "Cleaning passed"
    else:
        equipment.cleaning_status = CleaningStatus.DIRTY
        reason = "Cleaning failed; equipment stays dirty"
    CleaningLog(
        equipment=equipment,
        cleaned_at=now,
        cleaned_by=act.actor,
        result=result,
        method=method,
        notes=notes,
    ).save(actor=act.actor, reason=reason)
    act.history_reason = reason


def choose_status(equipment, act, *, status):
    """`in_use` is set only by batch usage."""
    if status == EquipmentStatus.IN_USE:
        raise ValidationError({"status": ["'in_use' is set only by using the equipment in a batch."]})
    if status == equipment.status:
        raise Conflict(
            f"{equipment.equipment_id} is already '{status}'.",
            current_status=equipment.status,
            action="set_status",
        )
    equipment.status = status


def record_calibration(equipment, *, actor, result, next_due_date=None, certificate="", notes=""):
    """Log a calibration performed now by `actor`."""
    return EQUIPMENT_WORKFLOW.perform(
        equipment,
        "record_calibration",
        actor=actor,
        result=result,
        next_due_date=next_due_date,
        certificate=certificate,
        notes=notes,
    )


def record_cleaning(equipment, *, actor, result, method="", notes=""):
    """Log a cleaning performed now by `actor`."""
    return EQUIPMENT_WORKFLOW.perform(
        equipment, "record_cleaning", actor=actor, result=result, method=method, notes=notes
    )


def set_equipment_status(equipment, *, actor, status, reason):
    """Take equipment out of service, into maintenance, or back to available; equipment in
    use cannot be changed here."""
    return EQUIPMENT_WORKFLOW.perform(equipment, "set_status", actor=actor, status=status, reason=reason)


@transaction.atomic
def mark_in_use(equipment, *, actor, reason):
    """Take `equipment` into use (batch execution). Every reason it may not be used is
    listed in the 409's `problems`; returns the locked, updated equipment."""
    equipment = lock(equipment)
    problems = usability_problems(equipment)
    if problems:
        raise Conflict(
            f"{equipment.equipment_id} cannot be used: {' '.join(problems)}",
            code="equipment_not_usable",
            current_status=equipment.status,
            problems=problems,
        )
    EQUIPMENT_USAGE_WORKFLOW.apply(equipment, "mark_in_use")
    equipment.save(actor=actor, reason=reason)
    return equipment


@transaction.atomic
def release_from_use(equipment, *, actor, reason):
    """End the use of `equipment` (batch execution): available again, and dirty until a
    cleaning is recorded (21 CFR 211.67(b))."""
    equipment = lock(equipment)
    EQUIPMENT_USAGE_WORKFLOW.apply(equipment, "release_from_use")
    equipment.cleaning_status = CleaningStatus.DIRTY
    equipment.save(actor=actor, reason=reason)
    return equipment
