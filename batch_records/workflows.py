"""The state machines of SPEC §3, declared once and executed from here (`core.workflow`):
each transition names its states, role permission, guards, reason, signature meaning and
the service function that does its work. Anything not here is refused.

Lock order, everywhere in batch execution: the batch row first, then its step (or material,
equipment use, deviation), then a registered equipment; a released or rejected batch
refuses everything before any other check.
"""

from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.workflow import Transition, Workflow, lock_row

from . import workflow_guards as guards
from .choices import (
    BatchDeviationStatus,
    BatchStatus,
    EquipmentUsageStatus,
    MaterialStatus,
    MBRStatus,
    StepStatus,
)

APP = "batch_records"
SERVICES = "batch_records.services"

# Steps are executed while the batch is in production; recorded values may still be
# corrected after completion, until the batch goes to QA review.
EXECUTING = (BatchStatus.IN_PROGRESS,)
CORRECTABLE = (BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED)
# Material is dispensed while the batch is in production. Verification, consumption and
# returns reconcile what was dispensed and may still be recorded once production has
# completed, until the batch goes to QA review (release needs every material consumed or
# returned); a quarantined batch may still send unused material back.
DISPENSING = (BatchStatus.IN_PROGRESS,)
RECONCILING = (BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED)
RETURNING = (BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED, BatchStatus.QUARANTINED)
# Equipment is planned for and checked while the batch is pending or in production, and
# used only in production.
PREPARING = (BatchStatus.PENDING, BatchStatus.IN_PROGRESS)
PRODUCING = (BatchStatus.IN_PROGRESS,)


def lock_batch(batch, action):
    batch = lock_row(batch)
    refused = guards.batch_final_refusal(batch, action)
    if refused is not None:
        raise refused
    return batch


def lock_with_batch(record, action):
    """The record's batch, then the record, locked in that order; nothing changes in a
    final batch."""
    from .models import BatchRecord

    batch = BatchRecord.objects.select_for_update().get(pk=record.batch_id)
    record = lock_row(record)
    record.batch = batch
    refused = guards.batch_final_refusal(batch, action, record)
    if refused is not None:
        raise refused
    return record


def lock_usage(usage, action):
    """The batch, the use, then its registered equipment (two batches reaching for the same
    equipment queue up on it)."""
    from equipment.models import Equipment

    usage = lock_with_batch(usage, action)
    if usage.equipment_id is not None:
        usage.equipment = Equipment.objects.select_for_update().get(pk=usage.equipment_id)
    return usage


MBR_WORKFLOW = Workflow(
    Transition(
        "submit",
        [MBRStatus.DRAFT],
        MBRStatus.IN_REVIEW,
        f"{APP}.submit_masterbatchrecord",
        work=f"{SERVICES}.mbr.check_submitted_content",
        doc="draft → in_review: the content must be complete and valid.",
    ),
    Transition(
        "return_to_draft",
        [MBRStatus.IN_REVIEW],
        MBRStatus.DRAFT,
        f"{APP}.return_masterbatchrecord",
        reason_required=True,
        doc="in_review → draft, with the `reason`, so that the author can rework it.",
    ),
    Transition(
        "approve",
        [MBRStatus.IN_REVIEW],
        MBRStatus.APPROVED,
        f"{APP}.approve_masterbatchrecord",
        signature=SignatureMeaning.APPROVED,
        guards=[guards.approver_not_author],
        work=f"{SERVICES}.mbr.record_approval",
        doc='in_review → approved, signed "approved" by someone other than the author; other approved '
        "versions of the product are superseded.",
    ),
    Transition(
        "supersede",
        [MBRStatus.APPROVED],
        MBRStatus.SUPERSEDED,
        f"{APP}.supersede_masterbatchrecord",
        doc="approved → superseded by hand (an optional `reason`).",
    ),
    Transition(
        "obsolete",
        [MBRStatus.APPROVED, MBRStatus.SUPERSEDED],
        MBRStatus.OBSOLETE,
        f"{APP}.obsolete_masterbatchrecord",
        signature=SignatureMeaning.OBSOLETED,
        reason_required=True,
        doc='approved|superseded → obsolete, with the `reason`, signed "obsoleted".',
    ),
    # Creates a new draft; the approved record itself keeps its status.
    Transition(
        "new_version",
        [MBRStatus.APPROVED],
        None,
        f"{APP}.add_masterbatchrecord",
        guards=[guards.no_open_version],
        work=f"{SERVICES}.mbr.make_new_version",
        doc="A draft copy of an approved MBR with the next version number (201, the new draft).",
    ),
)

BATCH_WORKFLOW = Workflow(
    Transition(
        "start",
        [BatchStatus.PENDING],
        BatchStatus.IN_PROGRESS,
        f"{APP}.start_batchrecord",
        work=f"{SERVICES}.batches.record_start",
        doc="pending → in_progress: production starts and steps can be executed.",
    ),
    Transition(
        "complete",
        [BatchStatus.IN_PROGRESS],
        BatchStatus.COMPLETED,
        f"{APP}.complete_batchrecord",
        guards=[guards.nothing_left_open],
        work=f"{SERVICES}.batches.record_completion",
        doc="in_progress → completed with the quantities produced and rejected. The yield is computed here "
        "(outside its limits it opens a process deviation); 409 with `open_steps` and `open_materials` while "
        "steps or material lines remain open.",
    ),
    Transition(
        "submit_for_review",
        [BatchStatus.COMPLETED],
        BatchStatus.UNDER_REVIEW,
        f"{APP}.submit_for_review_batchrecord",
        work=f"{SERVICES}.review.record_submission",
        doc="completed → under_review: the batch record goes to QA.",
    ),
    # QA documents its review; the batch keeps its status (the release is a separate decision).
    # The permission is one only QA reviewers and approvers hold.
    # The permission is one only QA reviewers and approvers hold.
    Transition(
        "review",
        [BatchStatus.UNDER_REVIEW],
        None,
        f"{APP}.return_to_review_batchrecord",
        signature=SignatureMeaning.REVIEWED,
        work=f"{SERVICES}.review.record_review",
    ),
    Transition(
        "release",
        [BatchStatus.UNDER_REVIEW],
        BatchStatus.RELEASED,
        f"{APP}.release_batchrecord",
        signature=SignatureMeaning.RELEASED,
        guards=[guards.releaser_independent, guards.release_conditions_met],
        work=f"{SERVICES}.review.record_release",
        doc='under_review → released, signed "released" by a QA approver who had no hand in the batch\'s '
        "execution (403 otherwise); 409 with every unmet condition in `unmet_conditions`.",
    ),
    Transition(
        "reject",
        [BatchStatus.UNDER_REVIEW, BatchStatus.QUARANTINED, BatchStatus.ABORTED],
        BatchStatus.REJECTED,
        f"{APP}.reject_batchrecord",
        signature=SignatureMeaning.REJECTED,
        reason_required=True,
        work=f"{SERVICES}.review.record_rejection",
        doc='under_review|quarantined|aborted → rejected, with the `reason`, signed "rejected".',
    ),
    Transition(
        "quarantine",
        [BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED, BatchStatus.UNDER_REVIEW],
        BatchStatus.QUARANTINED,
        f"{APP}.quarantine_batchrecord",
        reason_required=True,
        work=f"{SERVICES}.review.record_quarantine",
        doc="in_progress|completed|under_review → quarantined, with the `reason`.",
    ),
    Transition(
        "return_to_review",
        [BatchStatus.QUARANTINED],
        BatchStatus.UNDER_REVIEW,
        f"{APP}.return_to_review_batchrecord",
        reason_required=True,
        work=f"{SERVICES}.review.record_return_to_review",
        doc="quarantined → under_review, with the `reason`.",
    ),
    # A batch that will not be made is cancelled before it starts; one that cannot be
    # finished is aborted, its materials returned or written off, and QA then rejects it.
    Transition(
        "cancel",
        [BatchStatus.PENDING],
        BatchStatus.CANCELLED,
        f"{APP}.cancel_batchrecord",
        signature=SignatureMeaning.CANCELLED,
        reason_required=True,
        work="batch_records.services.stops.record_cancellation",
        doc='pending → cancelled, with the `reason`, signed "cancelled"; the batch is kept in the records.',
    ),
    Transition(
        "abort",
        [BatchStatus.IN_PROGRESS],
        BatchStatus.ABORTED,
        f"{APP}.abort_batchrecord",
        signature=SignatureMeaning.ABORTED,
        reason_required=True,
        work="batch_records.services.stops.record_abort",
        doc='in_progress → aborted, with the `reason`, signed "aborted": dispensed materials go back to their '
        "lots (or are written off: `write_off`, line numbers), reservations are released; QA then rejects it.",
    ),
    lock=lock_batch,
    editable={BatchStatus.PENDING: ["batch_number", "lot_number", "quantity_planned", "site"]},
    frozen_message="Cannot edit {label}: a batch can only be edited while pending, and it is '{status}'.",
)


# --- the one-call `record` of a step (start and complete in one transaction) ---------------


def _step_label(step):
    return f"{step.batch.batch_id} step {step.step_number}"


def step_batch_in_production(step, user, facts):
    """Steps are performed while their batch is in progress."""
    status = facts.get(("batch_status", step.batch_id), lambda: step.batch.status)
    if status != BatchStatus.IN_PROGRESS:
        return Conflict(
            f"Cannot record {_step_label(step)}: the batch is '{status}', and this is only possible "
            f"while it is '{BatchStatus.IN_PROGRESS}'.",
            current_status=step.status,
            batch_status=status,
            action="record",
        )
    return None


def step_recordable_in_one_call(step, user, facts):
    """A step the MBR marks `requires_separate_start` (a timed step) is started, then completed."""
    if step.requires_separate_start:
        return Conflict(
            f"Cannot record {_step_label(step)} in one call: its master batch record requires a separate "
            "start (start it, then complete it).",
            current_status=step.status,
            action="record",
        )
    return None


def step_previous_steps_done(step, user, facts):
    """Steps are performed in step-number order: every lower step completed, deviated or skipped."""
    from .choices import STEP_TERMINAL_STATUSES

    open_numbers = facts.get(
        ("open_step_numbers", step.batch_id),
        lambda: list(
            type(step)
            .objects.filter(batch_id=step.batch_id)
            .exclude(status__in=STEP_TERMINAL_STATUSES)
            .order_by("step_number")
            .values_list("step_number", flat=True)
        ),
    )
    blocking = [number for number in open_numbers if number < step.step_number]
    if blocking:
        listed = ", ".join(str(number) for number in blocking)
        return Conflict(
            f"Cannot record {_step_label(step)}: step(s) {listed} must be completed, deviated or skipped first.",
            current_status=step.status,
            action="record",
            blocking_steps=blocking,
        )
    return None


def may_also_start_steps(step, user, facts):
    """`record` starts the step too: the operator needs the permission to start steps."""
    if not user.has_perm(f"{APP}.start_batchstep"):
        return NotPermitted("You do not have permission to record this record.")
    return None


def _step_batch_is(action, wanted):
    return guards.batch_is(action, wanted, guards.step_label)


STEP_WORKFLOW = Workflow(
    Transition(
        "start",
        [StepStatus.PENDING],
        StepStatus.IN_PROGRESS,
        f"{APP}.start_batchstep",
        guards=[guards.batch_open("start"), _step_batch_is("start", EXECUTING), guards.earlier_steps_done],
        work=f"{SERVICES}.steps.record_start",
        doc="pending → in_progress, in step order (409 with `blocking_steps` otherwise).",
    ),
    # The target of `complete` is decided by the specifications: completed or deviated.
    Transition(
        "complete",
        [StepStatus.IN_PROGRESS],
        [StepStatus.COMPLETED, StepStatus.DEVIATED],
        f"{APP}.complete_batchstep",
        signature=SignatureMeaning.PERFORMED,
        guards=[guards.batch_open("complete"), _step_batch_is("complete", EXECUTING)],
        work=f"{SERVICES}.steps.record_values",
        doc="in_progress → completed, or deviated when a value is out of specification (which opens a "
        'deviation), signed "performed".',
    ),
    Transition(
        "verify",
        [StepStatus.COMPLETED, StepStatus.DEVIATED],
        None,
        f"{APP}.verify_batchstep",
        signature=SignatureMeaning.VERIFIED,
        guards=[
            guards.batch_open("verify"),
            _step_batch_is("verify", CORRECTABLE),
            guards.step_requires_verification,
            guards.step_not_yet_verified,
            guards.step_verifier_independent,
        ],
        work=f"{SERVICES}.steps.record_verification",
        doc='Second-person verification, signed "verified" by someone who did not record the values (403 otherwise).',
    ),
    Transition(
        "skip",
        [StepStatus.PENDING],
        StepStatus.SKIPPED,
        f"{APP}.skip_batchstep",
        signature=SignatureMeaning.SKIPPED,
        reason_required=True,
        guards=[guards.batch_open("skip"), _step_batch_is("skip", EXECUTING)],
        work=f"{SERVICES}.steps.record_skip",
        doc='pending → skipped, with the `reason`, signed "skipped".',
    ),
    Transition(
        "correct",
        [StepStatus.COMPLETED, StepStatus.DEVIATED],
        [StepStatus.COMPLETED, StepStatus.DEVIATED],
        f"{APP}.correct_batchstep",
        signature=SignatureMeaning.CORRECTED,
        reason_required=True,
        guards=[guards.batch_open("correct"), _step_batch_is("correct", CORRECTABLE)],
        work=f"{SERVICES}.steps.record_correction",
        doc='Correct recorded values, with the `reason`, signed "corrected"; earlier signatures become invalid '
        "and the verification must be given again.",
    ),
    # One call per step on the tablet: started and completed in one transaction, signed
    # "performed"; out of spec the step is deviated and a parameter_excursion deviation opened.
    Transition(
        "record",
        [StepStatus.PENDING],
        [StepStatus.COMPLETED, StepStatus.DEVIATED],
        f"{APP}.complete_batchstep",
        signature=SignatureMeaning.PERFORMED,
        doc="pending → completed (or deviated out of spec) in one call: `actual_values`, `password`, "
        '`comment`; signed "performed". Refused (409) for a step the MBR marks `requires_separate_start`.',
        guards=[
            may_also_start_steps,
            step_batch_in_production,
            step_recordable_in_one_call,
            step_previous_steps_done,
        ],
        work="batch_records.services.steps.record_step",
    ),
    lock=lock_with_batch,
    read_related=["batch", "verifier"],
)

BATCH_DEVIATION_WORKFLOW = Workflow(
    Transition(
        "investigate",
        [BatchDeviationStatus.OPEN],
        BatchDeviationStatus.INVESTIGATING,
        f"{APP}.investigate_batchdeviation",
        guards=[guards.batch_open("investigate")],
        work=f"{SERVICES}.deviations.record_investigation_started",
        doc="open → investigating: QA takes up the deviation.",
    ),
    Transition(
        "resolve",
        [BatchDeviationStatus.INVESTIGATING],
        BatchDeviationStatus.RESOLVED,
        f"{APP}.resolve_batchdeviation",
        signature=SignatureMeaning.RESOLVED,
        guards=[guards.batch_open("resolve")],
        work=f"{SERVICES}.deviations.record_resolution",
        doc='investigating → resolved with the `root_cause` (links and impact optional), signed "resolved".',
    ),
    Transition(
        "close",
        [BatchDeviationStatus.RESOLVED],
        BatchDeviationStatus.CLOSED,
        f"{APP}.close_batchdeviation",
        signature=SignatureMeaning.CLOSED,
        guards=[guards.batch_open("close")],
        work=f"{SERVICES}.deviations.record_closure",
        doc='resolved → closed, signed "closed".',
    ),
    lock=lock_with_batch,
    read_related=["batch"],
)


def _material_batch_is(action, wanted):
    return guards.batch_is(action, wanted, guards.material_label)


MATERIAL_WORKFLOW = Workflow(
    Transition(
        "dispense",
        [MaterialStatus.PENDING],
        MaterialStatus.DISPENSED,
        f"{APP}.dispense_batchmaterial",
        signature=SignatureMeaning.DISPENSED,
        guards=[guards.batch_open("dispense"), _material_batch_is("dispense", DISPENSING)],
        work=f"{SERVICES}.materials.record_dispense",
        doc='pending → dispensed: the quantity weighed out from inventory lots, signed "dispensed".',
    ),
    Transition(
        "verify",
        [MaterialStatus.DISPENSED],
        MaterialStatus.VERIFIED,
        f"{APP}.verify_batchmaterial",
        signature=SignatureMeaning.VERIFIED,
        guards=[
            guards.batch_open("verify"),
            _material_batch_is("verify", RECONCILING),
            guards.material_verifier_independent,
        ],
        work=f"{SERVICES}.materials.record_verification",
        doc='dispensed → verified by a second person, signed "verified" (403 for who dispensed it).',
    ),
    Transition(
        "consume",
        [MaterialStatus.VERIFIED],
        MaterialStatus.CONSUMED,
        f"{APP}.consume_batchmaterial",
        guards=[guards.batch_open("consume"), _material_batch_is("consume", RECONCILING)],
        work=f"{SERVICES}.materials.record_consumption",
        doc="verified → consumed with the `quantity_used` (outside tolerance it opens a deviation).",
    ),
    Transition(
        "return",
        [MaterialStatus.DISPENSED, MaterialStatus.VERIFIED],
        MaterialStatus.RETURNED,
        f"{APP}.return_batchmaterial",
        reason_required=True,
        guards=[guards.batch_open("return"), _material_batch_is("return", RETURNING)],
        work=f"{SERVICES}.materials.record_return",
        doc="dispensed|verified → returned to its lots, with the `reason`.",
    ),
    lock=lock_with_batch,
    read_related=["batch"],
)


EQUIPMENT_USAGE_WORKFLOW = Workflow(
    Transition(
        "verify_calibration",
        [EquipmentUsageStatus.NOT_STARTED],
        None,
        f"{APP}.verify_calibration_batchequipment",
        guards=[
            guards.batch_open("verify_calibration"),
            guards.usage_batch_is("verify_calibration", PREPARING),
            guards.equipment_condition("verify_calibration", "calibration", guards.calibration_problem),
        ],
        work=f"{SERVICES}.equipment_usage.record_calibration_check",
        doc="21 CFR 211.68: the calibration is checked before use (a registered equipment's must not be overdue).",
    ),
    Transition(
        "verify_cleaning",
        [EquipmentUsageStatus.NOT_STARTED],
        None,
        f"{APP}.verify_cleaning_batchequipment",
        guards=[
            guards.batch_open("verify_cleaning"),
            guards.usage_batch_is("verify_cleaning", PREPARING),
            guards.equipment_condition("verify_cleaning", "cleaning", guards.cleaning_problem),
        ],
        work=f"{SERVICES}.equipment_usage.record_cleaning_check",
        doc="21 CFR 211.67: the equipment is checked clean before use (a registered equipment's cleaning must "
        "still be valid).",
    ),
    Transition(
        "start_usage",
        [EquipmentUsageStatus.NOT_STARTED],
        EquipmentUsageStatus.IN_USE,
        f"{APP}.start_usage_batchequipment",
        guards=[guards.batch_open("start_usage"), guards.usage_may_start(PRODUCING)],
        work=f"{SERVICES}.equipment_usage.record_usage_start",
        doc="not_started → in_use (409 with every unmet condition in `problems`).",
    ),
    Transition(
        "end_usage",
        [EquipmentUsageStatus.IN_USE],
        EquipmentUsageStatus.ENDED,
        f"{APP}.end_usage_batchequipment",
        guards=[guards.batch_open("end_usage")],
        work=f"{SERVICES}.equipment_usage.record_usage_end",
        doc="in_use → ended: a registered equipment is available again, and dirty.",
    ),
    lock=lock_usage,
    read_related=["batch", "equipment"],
)
