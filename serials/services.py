"""Business actions on serialized units: generate them when their batch starts, perform
their steps (signed "performed"), move them past optional steps, waive a step (signed
"waived"), scrap, force-complete (signed "force_completed"); and the batch's unit counts.

Lock order, as everywhere in batch execution: the batch row first, then the serial; the
rows of a serial's steps and waivers are only written under the serial's lock.
"""

import json
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from batch_records.choices import BatchStatus, DeviationType
from batch_records.models import BatchRecord
from batch_records.services.deviations import open_batch_deviation
from batch_records.specifications import clean_actual_values, evaluate_specifications
from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.quantities import to_decimal
from core.services import lock, sign

from .choices import STEP_DONE_STATES, SerialStatus, SerialStepState
from .models import SerialNumber, SerialStepOverride, SerialStepStatus
from .workflows import SERIAL_WORKFLOW

# One row per unit and per unit step is written in the start transaction of the batch.
MAX_UNITS_PER_BATCH = 10_000

# The refusals of force-completion, word for word as clients expect them (400).
FORCE_COMPLETE_SCRAPPED = "Cannot force-complete a scrapped serial"
FORCE_COMPLETE_ALREADY_COMPLETED = "Serial is already completed"
FORCE_COMPLETE_NOTHING_INCOMPLETE = "Serial has no incomplete required steps — use normal completion"
# The audit event of a force-completion: the history reason starts with it.
FORCE_COMPLETED_EVENT = "serial_force_completed"


def _plain(number):
    """'10' for Decimal('10.000'), '2.5' for Decimal('2.500')."""
    return format(number.normalize(), "f")


def _plural(count, noun):
    return f"{count} {noun}" + ("" if count == 1 else "s")


def optional_step_numbers(batch):
    """The step numbers that the batch's MBR marks `"optional": true` (absent: required).

    Batch steps do not copy the flag; the MBR a batch was made from is approved, and an
    approved MBR's content never changes, so the flag is read there.
    """
    return frozenset(
        instruction["step_number"]
        for instruction in batch.mbr.manufacturing_instructions
        if isinstance(instruction, dict) and instruction.get("optional") is True
    )


def incomplete_required_steps(serial, batch=None):
    """The unit's step statuses that still stand between it and completion: the step is not
    optional, has no active waiver, and is neither completed nor waived (step order)."""
    batch = batch or serial.batch
    optional = optional_step_numbers(batch)
    waived = set(serial.overrides.filter(active=True).values_list("step_id", flat=True))
    return [
        status
        for status in serial.step_statuses.select_related("step").order_by("step_index")
        if status.status not in STEP_DONE_STATES
        and status.step_id not in waived
        and status.step.step_number not in optional
    ]


# --- generation ------------------------------------------------------------------------


def _unit_count(batch):
    quantity = batch.quantity_planned
    if quantity != quantity.to_integral_value():
        raise ValidationError(
            {
                "quantity_planned": [
                    f"A serialized batch is made of whole units, and {_plain(quantity)} is not a whole number."
                ]
            }
        )
    units = int(quantity)
    if units > MAX_UNITS_PER_BATCH:
        raise ValidationError(
            {"quantity_planned": [f"A serialized batch has at most {MAX_UNITS_PER_BATCH} units; plan smaller batches."]}
        )
    return units


@transaction.atomic
def generate_serials(batch, *, actor):
    """One serial per planned unit of a serialized batch, each with a status per batch step
    and standing at its first step. Idempotent: a batch that has serials keeps them.

    Runs in the transaction that starts the batch (see serials.signals); the serial IDs
    come from the locked `SN` counter, so concurrent starts never share a number.
    """
    batch = lock(batch)
    if not batch.is_serialized:
        return []
    existing = list(SerialNumber.objects.filter(batch_id=batch.pk))
    if existing:
        return existing
    units = _unit_count(batch)
    steps = list(batch.steps.order_by("step_number"))
    if not steps:
        raise ValidationError({"steps": [f"{batch.batch_id} has no steps: its units cannot be tracked."]})
    reason = f"Generated at the start of {batch.batch_id}"
    serials = []
    for _ in range(units):
        serial = SerialNumber(batch=batch, status=SerialStatus.IN_PROGRESS, current_step_index=0)
        serial.save(actor=actor, reason=reason)
        for index, step in enumerate(steps):
            SerialStepStatus(
                serial=serial,
                step=step,
                step_index=index,
                status=SerialStepState.IN_PROGRESS if index == 0 else SerialStepState.PENDING,
            ).save(actor=actor, reason=reason)
        serials.append(serial)
    return serials


# --- guards shared by the actions --------------------------------------------------------


def _lock_batch_and_serial(serial):
    batch = BatchRecord.objects.select_for_update().get(pk=serial.batch_id)
    serial = lock(serial)
    serial.batch = batch
    return batch, serial


def _require_batch_in_progress(batch, serial, action):
    if batch.status != BatchStatus.IN_PROGRESS:
        raise Conflict(
            f"Cannot {action.replace('_', ' ')} {serial.serial_id}: its batch {batch.batch_id} is "
            f"'{batch.status}', and units are processed only while their batch is in progress.",
            current_status=serial.status,
            batch_status=batch.status,
            action=action,
        )


def _required_reason(reason, message):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [message]})
    return reason


def _status_at_step(serial, batch, step_number):
    status = serial.step_statuses.select_related("step").filter(step__step_number=step_number).first()
    if status is None:
        raise ValidationError({"step_number": [f"{batch.batch_id} has no step {step_number}."]})
    return status


def _move_past(serial, index, *, actor, reason, now):
    """Put the unit at its next step after `index` that is neither completed nor waived;
    with none left the unit is completed. Answers that step status, or None."""
    following = (
        serial.step_statuses.select_related("step")
        .filter(step_index__gt=index)
        .exclude(status__in=STEP_DONE_STATES)
        .order_by("step_index")
        .first()
    )
    if following is None:
        serial.status = SerialStatus.COMPLETED
        serial.current_step_index = -1
        serial.completed_at = now
        return None
    following.status = SerialStepState.IN_PROGRESS
    following.save(actor=actor, reason=reason)
    serial.current_step_index = following.step_index
    return following


def _where_now(following):
    return "unit completed" if following is None else f"now at step {following.step.step_number}"


# --- actions -----------------------------------------------------------------------------


@transaction.atomic
def advance_serial(serial, *, actor, actual_values, password, step_number=None, comment="", username=None):
    """Perform the unit's current step: values typed and judged like a batch step's, signed
    "performed"; the unit moves to its next open step, or is completed after the last.

    `step_number`, when given, is the step the operator means: if the unit is no longer
    there (another tablet performed it meanwhile, or a request is replayed), it is a 409
    rather than values recorded against the next step.

    A value out of spec is recorded as such and opens a parameter_excursion deviation on
    the batch (21 CFR 211.192); the unit goes on, and QA decides on it (scrap, release).
    """
    batch, serial = _lock_batch_and_serial(serial)
    SERIAL_WORKFLOW.check(serial, "advance", actor)
    _require_batch_in_progress(batch, serial, "advance")
    current = serial.step_statuses.select_related("step").get(step_index=serial.current_step_index)
    step = current.step
    if step_number is not None and step_number != step.step_number:
        raise Conflict(
            f"Cannot perform step {step_number} of {serial.serial_id}: the unit is at step {step.step_number}.",
            current_status=serial.status,
            current_step_number=step.step_number,
            action="advance",
        )
    values = clean_actual_values(step.required_data_fields, actual_values)
    excursions = evaluate_specifications(step.specifications, values)
    now = timezone.now()
    current.status = SerialStepState.COMPLETED
    current.actual_values = values
    current.is_within_spec = not excursions
    current.performed_by = actor
    current.performed_at = now
    current.save(actor=actor, reason=comment or ("Performed" if not excursions else "Performed out of spec"))
    following = _move_past(serial, current.step_index, actor=actor, reason=f"Step {step.step_number} done", now=now)
    serial.save(actor=actor, reason=f"Step {step.step_number} performed; {_where_now(following)}")
    sign(
        current, signer=actor, password=password, meaning=SignatureMeaning.PERFORMED, comment=comment, username=username
    )
    if excursions:
        details = "; ".join(excursion.describe() for excursion in excursions)
        open_batch_deviation(
            batch,
            actor=actor,
            deviation_type=DeviationType.PARAMETER_EXCURSION,
            description=(
                f"Parameter excursion on unit {serial.serial_id} in step {step.step_number} of {batch.batch_id} "
                f"({step.instruction_text[:80]}): {details}."
            ),
            batch_step=step,
        )
    return serial


@transaction.atomic
def advance_serial_to_step(serial, *, actor, step_number, reason):
    """Move the unit forward to `step_number`, past steps it does not need.

    Only forward; every step passed over (the current one included) must be completed,
    waived or optional, else 409 with `blocking_steps`. Passed-over optional steps stay
    `pending`: the device history record shows them as not performed.
    """
    batch, serial = _lock_batch_and_serial(serial)
    SERIAL_WORKFLOW.check(serial, "advance_to_step", actor)
    _require_batch_in_progress(batch, serial, "advance_to_step")
    reason = _required_reason(reason, "Moving a unit past steps needs the reason why.")
    target = _status_at_step(serial, batch, step_number)
    statuses = list(serial.step_statuses.select_related("step").order_by("step_index"))
    current = next(status for status in statuses if status.step_index == serial.current_step_index)
    here = current.step.step_number
    if target.step_index <= current.step_index:
        where = "already at it" if target.step_index == current.step_index else f"at step {here}"
        raise Conflict(
            f"Cannot advance {serial.serial_id} to step {step_number}: the unit is {where}, and a unit "
            "only moves forward.",
            current_status=serial.status,
            current_step_number=here,
            action="advance_to_step",
        )
    if target.status in STEP_DONE_STATES:
        raise Conflict(
            f"Cannot advance {serial.serial_id} to step {step_number}: that step is already {target.status} "
            "for this unit.",
            current_status=serial.status,
            action="advance_to_step",
        )
    optional = optional_step_numbers(batch)
    waived = set(serial.overrides.filter(active=True).values_list("step_id", flat=True))
    passed = [status for status in statuses if current.step_index <= status.step_index < target.step_index]
    blocking = [
        status.step.step_number
        for status in passed
        if status.status not in STEP_DONE_STATES
        and status.step_id not in waived
        and status.step.step_number not in optional
    ]
    if blocking:
        listed = ", ".join(str(number) for number in blocking)
        raise Conflict(
            f"Cannot advance {serial.serial_id} to step {step_number}: step(s) {listed} are required and "
            "neither completed nor waived for this unit.",
            current_status=serial.status,
            action="advance_to_step",
            blocking_steps=blocking,
        )
    for status in passed:
        if status.status == SerialStepState.IN_PROGRESS:
            status.status = SerialStepState.PENDING
            status.save(actor=actor, reason=f"Passed over, not performed: {reason}")
    target.status = SerialStepState.IN_PROGRESS
    target.save(actor=actor, reason=f"Moved here from step {here}: {reason}")
    serial.current_step_index = target.step_index
    serial.save(actor=actor, reason=f"Advanced from step {here} to step {step_number}: {reason}")
    return serial


@transaction.atomic
def waive_serial_step(serial, *, actor, step_number, reason, password, comment="", username=None):
    """Waive one step for this unit: a SerialStepOverride with the reason, signed "waived";
    the step becomes `waived`. Waiving the unit's current step moves it on (and completes
    it when nothing is left)."""
    batch, serial = _lock_batch_and_serial(serial)
    SERIAL_WORKFLOW.check(serial, "waive_step", actor)
    _require_batch_in_progress(batch, serial, "waive_step")
    reason = _required_reason(reason, "A waiver needs the reason why the step is not needed for this unit.")
    status = _status_at_step(serial, batch, step_number)
    if status.status in STEP_DONE_STATES:
        raise Conflict(
            f"Cannot waive step {step_number} for {serial.serial_id}: it is already {status.status}.",
            current_status=serial.status,
            step_status=status.status,
            action="waive_step",
        )
    override = SerialStepOverride(serial=serial, step=status.step, reason=reason, active=True)
    override.save(actor=actor, reason=f"Step {step_number} waived for {serial.serial_id}: {reason}")
    status.status = SerialStepState.WAIVED
    status.save(actor=actor, reason=f"Waived: {reason}")
    if status.step_index == serial.current_step_index:
        following = _move_past(
            serial, status.step_index, actor=actor, reason=f"Step {step_number} waived", now=timezone.now()
        )
        serial.save(actor=actor, reason=f"Step {step_number} waived; {_where_now(following)}")
    sign(
        override,
        signer=actor,
        password=password,
        meaning=SignatureMeaning.WAIVED,
        comment=comment or reason,
        username=username,
    )
    return serial


@transaction.atomic
def scrap_serial(serial, *, actor, reason):
    """in_progress → scrapped, with the reason; the unit counts as rejected for its batch."""
    batch, serial = _lock_batch_and_serial(serial)
    SERIAL_WORKFLOW.apply(serial, "scrap", actor)
    _require_batch_in_progress(batch, serial, "scrap")
    reason = _required_reason(reason, "Scrapping a unit needs the reason why.")
    serial.scrapped_reason = reason
    serial.scrapped_at = timezone.now()
    serial.scrapped_by = actor
    serial.save(actor=actor, reason=f"Scrapped: {reason}")
    return serial


@transaction.atomic
def force_complete_serial(serial, *, actor, password, reason=None, comment="", username=None):
    """Complete the unit although required steps are not done (e.g. the customer accepts a
    partly processed unit), signed "force_completed". Irreversible.

    Refused (400) for a scrapped or completed unit, and for a unit with no incomplete
    required step (it is completed by advancing it). The history reason names the steps
    bypassed: `serial_force_completed {"incomplete_step_ids": [...]}`.
    """
    batch, serial = _lock_batch_and_serial(serial)
    transition = SERIAL_WORKFLOW["force_complete"]
    if not actor.has_perm(transition.permission):
        raise NotPermitted("You do not have permission to force-complete this serial.")
    if serial.status == SerialStatus.SCRAPPED:
        raise ValidationError(FORCE_COMPLETE_SCRAPPED, code="serial_scrapped")
    if serial.status == SerialStatus.COMPLETED:
        raise ValidationError(FORCE_COMPLETE_ALREADY_COMPLETED, code="serial_completed")
    _require_batch_in_progress(batch, serial, "force_complete")
    incomplete = incomplete_required_steps(serial, batch)
    if not incomplete:
        raise ValidationError(FORCE_COMPLETE_NOTHING_INCOMPLETE, code="no_incomplete_required_steps")
    SERIAL_WORKFLOW.apply(serial, "force_complete", actor)
    step_ids = [status.step_id for status in incomplete]
    now = timezone.now()
    serial.current_step_index = -1
    serial.completed_at = now
    serial.force_completed = True
    serial.force_completed_by = actor
    serial.force_completed_at = now
    serial.force_completed_reason = (reason or "").strip()
    serial.incomplete_step_ids = step_ids
    serial.save(actor=actor, reason=f"{FORCE_COMPLETED_EVENT} {json.dumps({'incomplete_step_ids': step_ids})}")
    sign(
        serial,
        signer=actor,
        password=password,
        meaning=SignatureMeaning.FORCE_COMPLETED,
        comment=comment or serial.force_completed_reason,
        username=username,
    )
    return serial


# --- the batch's units -------------------------------------------------------------------


def serial_progress(batch):
    """{total, completed, force_completed, scrapped, in_progress} for the units of `batch`;
    force-completed units count as completed (and are also counted on their own)."""
    return SerialNumber.objects.filter(batch_id=batch.pk).aggregate(
        total=Count("id"),
        completed=Count("id", filter=Q(status=SerialStatus.COMPLETED)),
        force_completed=Count("id", filter=Q(force_completed=True)),
        scrapped=Count("id", filter=Q(status=SerialStatus.SCRAPPED)),
        in_progress=Count("id", filter=Q(status=SerialStatus.IN_PROGRESS)),
    )


def check_serialized_completion(batch, quantity_produced, quantity_rejected):
    """A serialized batch completes with the quantities its units say: `quantity_produced`
    equal to the completed units, `quantity_rejected` to the scrapped ones, and no unit
    still in progress (each unit's record must be closed). ValidationError (400) otherwise."""
    if not batch.is_serialized:
        return
    progress = serial_progress(batch)
    errors = {}
    declared = (
        ("quantity_produced", quantity_produced, progress["completed"], "completed"),
        ("quantity_rejected", quantity_rejected, progress["scrapped"], "scrapped"),
    )
    for field, value, count, what in declared:
        number = value if isinstance(value, Decimal) else to_decimal(value)
        if number is None:
            errors[field] = ["must be a decimal number"]
        elif number != count:
            errors[field] = [f"{field} {_plain(number)} does not match {_plural(count, f'{what} serial')}"]
    if progress["in_progress"]:
        open_units = list(
            SerialNumber.objects.filter(batch_id=batch.pk, status=SerialStatus.IN_PROGRESS)
            .order_by("id")
            .values_list("serial_id", flat=True)[:10]
        )
        listed = ", ".join(open_units) + (", …" if progress["in_progress"] > len(open_units) else "")
        errors["serials"] = [
            f"{_plural(progress['in_progress'], 'serial')} still in progress ({listed}): complete, force-complete "
            "or scrap each unit before completing the batch."
        ]
    if errors:
        raise ValidationError(errors)
