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

from batch_records.models import BatchEquipment
from batch_records.workflow_guards import usage_name as _name
from batch_records.workflows import EQUIPMENT_USAGE_WORKFLOW, PREPARING
from core.exceptions import Conflict, NotPermitted
from core.services import lock
from equipment.services import mark_in_use, release_from_use

from .guards import ensure_batch_open


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


# --- the work of each transition ---------------------------------------------------------


def _record_check(usage, act, what, evidence_of):
    """`actor` checked one condition of the equipment before use (the guard held it on the
    locked equipment row)."""
    setattr(usage, f"{what}_verified", True)
    setattr(usage, f"{what}_verified_by", act.actor)
    setattr(usage, f"{what}_verified_at", timezone.now())
    equipment = usage.equipment if usage.equipment_id is not None else None
    evidence = f" ({evidence_of(equipment)})" if equipment is not None else ""
    act.history_reason = f"{what.capitalize()} verified{evidence}"


def record_calibration_check(usage, act):
    _record_check(usage, act, "calibration", lambda equipment: f"due {equipment.calibration_due_date}")


def record_cleaning_check(usage, act):
    _record_check(usage, act, "cleaning", lambda equipment: f"cleaned {equipment.cleaned_at:%Y-%m-%d %H:%M} UTC")


def record_usage_start(usage, act):
    """A registered equipment is taken into use (its row is locked with the use)."""
    if usage.equipment_id is not None:
        mark_in_use(usage.equipment, actor=act.actor, reason=f"In use in {usage.batch.batch_id}")
    usage.usage_start = timezone.now()
    usage.started_by = act.actor
    act.history_reason = "Usage started"


def record_usage_end(usage, act):
    """A registered equipment is available again and dirty until its next cleaning (21 CFR
    211.67(b))."""
    usage.usage_end = timezone.now()
    usage.ended_by = act.actor
    act.history_reason = "Usage ended"
    if usage.equipment_id is not None:
        act.then(
            lambda: release_from_use(usage.equipment, actor=act.actor, reason=f"Use in {usage.batch.batch_id} ended")
        )


# --- entry points ------------------------------------------------------------------------------


def verify_calibration(usage, *, actor):
    """21 CFR 211.68: the calibration status is checked before use."""
    return EQUIPMENT_USAGE_WORKFLOW.perform(usage, "verify_calibration", actor=actor)


def verify_cleaning(usage, *, actor):
    """21 CFR 211.67: the equipment is checked clean before use."""
    return EQUIPMENT_USAGE_WORKFLOW.perform(usage, "verify_cleaning", actor=actor)


def start_usage(usage, *, actor):
    """not_started → in_use, once every condition of use holds (409 with `problems`)."""
    return EQUIPMENT_USAGE_WORKFLOW.perform(usage, "start_usage", actor=actor)


def end_usage(usage, *, actor):
    """in_use → ended. Possible whatever the batch's production status, so that a batch
    stopped in quarantine never keeps equipment blocked."""
    return EQUIPMENT_USAGE_WORKFLOW.perform(usage, "end_usage", actor=actor)
