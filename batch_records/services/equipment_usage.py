"""The equipment use log of a batch (21 CFR 211.67, 211.68, 211.105, 211.182): which
equipment was used, that its calibration and cleaning were checked before use, and when
its use started and ended.

Lock order: the batch row first, then the usage row, then the `equipment.Equipment` row
(taken in and out of use through the equipment services), so that two batches reaching
for the same equipment queue up on it and exactly one gets it.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batch_records.choices import BatchStatus
from batch_records.models import BatchEquipment, BatchRecord
from batch_records.workflows import EQUIPMENT_USAGE_WORKFLOW
from core.exceptions import Conflict, NotPermitted
from core.services import lock
from equipment.models import CleaningStatus, Equipment
from equipment.services import mark_in_use, release_from_use, usability_problems

from .guards import ensure_batch_open

# Equipment is planned for and checked while the batch is pending or in production, and
# used only in production.
PREPARING = (BatchStatus.PENDING, BatchStatus.IN_PROGRESS)
PRODUCING = (BatchStatus.IN_PROGRESS,)


def _lock_batch_and_usage(usage, action):
    batch = BatchRecord.objects.select_for_update().get(pk=usage.batch_id)
    usage = lock(usage)
    ensure_batch_open(batch, action, usage)
    return batch, usage


def _lock_equipment(usage):
    if usage.equipment_id is None:
        return None
    return Equipment.objects.select_for_update().get(pk=usage.equipment_id)


def _name(usage):
    return " ".join(part for part in (usage.equipment_id_manual, usage.equipment_name) if part)


def _label(usage, batch):
    return f"{_name(usage)} in {batch.batch_id}"


def _require_batch_status(batch, usage, action, allowed):
    if batch.status not in allowed:
        wanted = " or ".join(f"'{status}'" for status in allowed)
        raise Conflict(
            f"Cannot {action.replace('_', ' ')} for {_label(usage, batch)}: the batch is '{batch.status}', and this "
            f"is only possible while it is {wanted}.",
            current_status=usage.status,
            batch_status=batch.status,
            action=action,
        )


def calibration_problem(equipment):
    """Why the calibration of `equipment` cannot be relied on today, or None (21 CFR 211.68)."""
    if not equipment.calibration_overdue():
        return None
    if equipment.calibration_due_date is None:
        return f"{equipment.equipment_id} has no valid calibration (none recorded, or the last one failed)."
    return f"{equipment.equipment_id}: calibration was due on {equipment.calibration_due_date} and is overdue."


def cleaning_problem(equipment):
    """Why `equipment` is not clean enough to use now, or None (21 CFR 211.67)."""
    if equipment.cleaning_valid():
        return None
    if equipment.cleaning_status != CleaningStatus.CLEAN or equipment.cleaned_at is None:
        return f"{equipment.equipment_id} is not clean."
    return (
        f"{equipment.equipment_id}: its cleaning of {equipment.cleaned_at:%Y-%m-%d %H:%M} UTC has expired "
        f"(valid {equipment.cleaning_validity_hours} h after cleaning)."
    )


def _check_actor_site(batch, actor):
    if actor.is_superuser or actor.sites.filter(pk=batch.site_id).exists():
        return
    raise ValidationError({"batch": ["You can only add equipment to batches of your own sites."]})


def _identify(batch, equipment, equipment_name, equipment_id_manual):
    """(name, ID) of the equipment used: a registered equipment names itself; otherwise the
    operator writes its name (and, if it has one, its plate ID)."""
    name = (equipment_name or "").strip()
    manual_id = (equipment_id_manual or "").strip()
    errors = {}
    if equipment is None:
        if not name:
            errors["equipment_name"] = ["Link a registered `equipment`, or name the equipment used."]
        return name, manual_id, errors
    if equipment.site_id != batch.site_id:
        errors["equipment"] = [f"{equipment.equipment_id} is not equipment of the batch's site."]
    if name and name != equipment.name:
        errors["equipment_name"] = [f"{equipment.equipment_id} is registered as '{equipment.name}'; leave this empty."]
    if manual_id and manual_id != equipment.equipment_id:
        errors["equipment_id_manual"] = [f"The linked equipment is {equipment.equipment_id}; leave this empty."]
    return equipment.name, equipment.equipment_id, errors


@transaction.atomic
def add_batch_equipment(batch, *, actor, equipment=None, equipment_name="", equipment_id_manual=""):
    """Log a piece of equipment that the batch will use (21 CFR 211.105: equipment
    identified in the batch record). Possible while the batch is pending or in production."""
    if not actor.has_perm("batch_records.add_batchequipment"):
        raise NotPermitted("You do not have permission to add equipment to a batch.")
    batch = lock(batch)
    ensure_batch_open(batch, "add_equipment")
    _check_actor_site(batch, actor)
    if batch.status not in PREPARING:
        raise Conflict(
            f"Cannot add equipment to {batch.batch_id}: the batch is '{batch.status}', and equipment can only be "
            "added while it is 'pending' or 'in_progress'.",
            current_status=batch.status,
            action="add_equipment",
        )
    name, manual_id, errors = _identify(batch, equipment, equipment_name, equipment_id_manual)
    usage = BatchEquipment(batch=batch, equipment=equipment, equipment_name=name, equipment_id_manual=manual_id)
    try:
        usage.full_clean(exclude=["batch", "equipment", *errors], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    usage.save(actor=actor, reason=f"Equipment {_name(usage)} added to {batch.batch_id}")
    return usage


def _record_check(usage, *, actor, action, what, problem_of, evidence_of):
    """Record that `actor` checked one condition of the equipment before use; with a
    registered equipment, the condition must hold on its locked row."""
    batch, usage = _lock_batch_and_usage(usage, action)
    EQUIPMENT_USAGE_WORKFLOW.check(usage, action, actor)
    _require_batch_status(batch, usage, action, PREPARING)
    equipment = _lock_equipment(usage)
    problem = problem_of(equipment) if equipment is not None else None
    if problem:
        raise Conflict(
            f"Cannot verify the {what} of {_label(usage, batch)}: {problem}",
            current_status=usage.status,
            action=action,
            problems=[problem],
        )
    setattr(usage, f"{what}_verified", True)
    setattr(usage, f"{what}_verified_by", actor)
    setattr(usage, f"{what}_verified_at", timezone.now())
    evidence = f" ({evidence_of(equipment)})" if equipment is not None else ""
    usage.save(actor=actor, reason=f"{what.capitalize()} verified{evidence}")
    return usage


@transaction.atomic
def verify_calibration(usage, *, actor):
    """21 CFR 211.68: the calibration status is checked before use; a registered
    equipment's calibration must not be overdue."""
    return _record_check(
        usage,
        actor=actor,
        action="verify_calibration",
        what="calibration",
        problem_of=calibration_problem,
        evidence_of=lambda equipment: f"due {equipment.calibration_due_date}",
    )


@transaction.atomic
def verify_cleaning(usage, *, actor):
    """21 CFR 211.67: the equipment is checked clean before use; a registered equipment's
    last cleaning must still be valid."""
    return _record_check(
        usage,
        actor=actor,
        action="verify_cleaning",
        what="cleaning",
        problem_of=cleaning_problem,
        evidence_of=lambda equipment: f"cleaned {equipment.cleaned_at:%Y-%m-%d %H:%M} UTC",
    )


@transaction.atomic
def start_usage(usage, *, actor):
    """not_started → in_use. Refused (409, every unmet condition in `problems`) unless the
    batch is in production, calibration and cleaning were verified for this use, and a
    registered equipment is available, in calibration and clean now; it is then in use."""
    batch, usage = _lock_batch_and_usage(usage, "start_usage")
    transition = EQUIPMENT_USAGE_WORKFLOW.check(usage, "start_usage", actor)
    problems = []
    if batch.status not in PRODUCING:
        problems.append(f"The batch {batch.batch_id} is '{batch.status}', not 'in_progress'.")
    if not usage.calibration_verified:
        problems.append("The calibration has not been verified for this use.")
    if not usage.cleaning_verified:
        problems.append("The cleaning has not been verified for this use.")
    # Checked again on the locked equipment row: its records may have changed since the
    # verifications (a failed calibration, an expired clean-hold time, another batch).
    equipment = _lock_equipment(usage)
    if equipment is not None:
        problems.extend(usability_problems(equipment))
    if problems:
        raise Conflict(
            f"Cannot start using {_label(usage, batch)}: {' '.join(problems)}",
            current_status=usage.status,
            batch_status=batch.status,
            action="start_usage",
            problems=problems,
        )
    if equipment is not None:
        mark_in_use(equipment, actor=actor, reason=f"In use in {batch.batch_id}")
    usage.status = transition.target
    usage.usage_start = timezone.now()
    usage.started_by = actor
    usage.save(actor=actor, reason="Usage started")
    return usage


@transaction.atomic
def end_usage(usage, *, actor):
    """in_use → ended. A registered equipment is available again and dirty until its next
    cleaning (21 CFR 211.67(b)). Possible whatever the batch's status, so that a batch
    stopped in quarantine or rejected never keeps equipment blocked."""
    batch, usage = _lock_batch_and_usage(usage, "end_usage")
    transition = EQUIPMENT_USAGE_WORKFLOW.check(usage, "end_usage", actor)
    equipment = _lock_equipment(usage)
    usage.status = transition.target
    usage.usage_end = timezone.now()
    usage.ended_by = actor
    usage.save(actor=actor, reason="Usage ended")
    if equipment is not None:
        release_from_use(equipment, actor=actor, reason=f"Use in {batch.batch_id} ended")
    return usage
