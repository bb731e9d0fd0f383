"""The state machines of SPEC §3, declared once. Services apply them under a row lock;
the API and the admin list `allowed_actions` from them. Anything not here is refused."""

from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.workflow import Transition, Workflow, lock_row

from .choices import (
    BatchDeviationStatus,
    BatchStatus,
    EquipmentUsageStatus,
    MaterialStatus,
    MBRStatus,
    StepStatus,
)

APP = "batch_records"

MBR_WORKFLOW = Workflow(
    Transition("submit", [MBRStatus.DRAFT], MBRStatus.IN_REVIEW, f"{APP}.submit_masterbatchrecord"),
    Transition(
        "return_to_draft",
        [MBRStatus.IN_REVIEW],
        MBRStatus.DRAFT,
        f"{APP}.return_masterbatchrecord",
        reason_required=True,
    ),
    Transition(
        "approve",
        [MBRStatus.IN_REVIEW],
        MBRStatus.APPROVED,
        f"{APP}.approve_masterbatchrecord",
        signature=SignatureMeaning.APPROVED,
    ),
    Transition("supersede", [MBRStatus.APPROVED], MBRStatus.SUPERSEDED, f"{APP}.supersede_masterbatchrecord"),
    Transition(
        "obsolete",
        [MBRStatus.APPROVED, MBRStatus.SUPERSEDED],
        MBRStatus.OBSOLETE,
        f"{APP}.obsolete_masterbatchrecord",
        signature=SignatureMeaning.OBSOLETED,
        reason_required=True,
    ),
    # Creates a new draft; the approved record itself keeps its status.
    Transition("new_version", [MBRStatus.APPROVED], None, f"{APP}.add_masterbatchrecord"),
)

BATCH_WORKFLOW = Workflow(
    Transition("start", [BatchStatus.PENDING], BatchStatus.IN_PROGRESS, f"{APP}.start_batchrecord"),
    Transition("complete", [BatchStatus.IN_PROGRESS], BatchStatus.COMPLETED, f"{APP}.complete_batchrecord"),
    Transition(
        "submit_for_review",
        [BatchStatus.COMPLETED],
        BatchStatus.UNDER_REVIEW,
        f"{APP}.submit_for_review_batchrecord",
    ),
    Transition(
        "release",
        [BatchStatus.UNDER_REVIEW],
        BatchStatus.RELEASED,
        f"{APP}.release_batchrecord",
        signature=SignatureMeaning.RELEASED,
    ),
    Transition(
        "reject",
        [BatchStatus.UNDER_REVIEW, BatchStatus.QUARANTINED, BatchStatus.ABORTED],
        BatchStatus.REJECTED,
        f"{APP}.reject_batchrecord",
        signature=SignatureMeaning.REJECTED,
        reason_required=True,
    ),
    Transition(
        "quarantine",
        [BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED, BatchStatus.UNDER_REVIEW],
        BatchStatus.QUARANTINED,
        f"{APP}.quarantine_batchrecord",
        reason_required=True,
    ),
    Transition(
        "return_to_review",
        [BatchStatus.QUARANTINED],
        BatchStatus.UNDER_REVIEW,
        f"{APP}.return_to_review_batchrecord",
        reason_required=True,
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
)

# --- batch steps: the lock and the guards of the declared step actions ----------------------


def lock_step_with_batch(step):
    """Lock the batch row, then the step (the one lock order of batch execution), and refuse
    any change once the batch is released or rejected."""
    from .models import BatchRecord
    from .services.guards import ensure_batch_open

    batch = BatchRecord.objects.select_for_update().get(pk=step.batch_id)
    step = lock_row(step)
    step.batch = batch
    ensure_batch_open(batch, "record", step)
    return step


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


STEP_WORKFLOW = Workflow(
    Transition("start", [StepStatus.PENDING], StepStatus.IN_PROGRESS, f"{APP}.start_batchstep"),
    # The target of `complete` is decided by the specifications: completed or deviated.
    Transition(
        "complete",
        [StepStatus.IN_PROGRESS],
        StepStatus.COMPLETED,
        f"{APP}.complete_batchstep",
        signature=SignatureMeaning.PERFORMED,
    ),
    Transition(
        "verify",
        [StepStatus.COMPLETED, StepStatus.DEVIATED],
        None,
        f"{APP}.verify_batchstep",
        signature=SignatureMeaning.VERIFIED,
    ),
    Transition(
        "skip",
        [StepStatus.PENDING],
        StepStatus.SKIPPED,
        f"{APP}.skip_batchstep",
        signature=SignatureMeaning.SKIPPED,
        reason_required=True,
    ),
    Transition(
        "correct",
        [StepStatus.COMPLETED, StepStatus.DEVIATED],
        None,
        f"{APP}.correct_batchstep",
        signature=SignatureMeaning.CORRECTED,
        reason_required=True,
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
    lock=lock_step_with_batch,
)

BATCH_DEVIATION_WORKFLOW = Workflow(
    Transition(
        "investigate",
        [BatchDeviationStatus.OPEN],
        BatchDeviationStatus.INVESTIGATING,
        f"{APP}.investigate_batchdeviation",
    ),
    Transition(
        "resolve",
        [BatchDeviationStatus.INVESTIGATING],
        BatchDeviationStatus.RESOLVED,
        f"{APP}.resolve_batchdeviation",
        signature=SignatureMeaning.RESOLVED,
    ),
    Transition(
        "close",
        [BatchDeviationStatus.RESOLVED],
        BatchDeviationStatus.CLOSED,
        f"{APP}.close_batchdeviation",
        signature=SignatureMeaning.CLOSED,
    ),
)

MATERIAL_WORKFLOW = Workflow(
    Transition(
        "dispense",
        [MaterialStatus.PENDING],
        MaterialStatus.DISPENSED,
        f"{APP}.dispense_batchmaterial",
        signature=SignatureMeaning.DISPENSED,
    ),
    Transition(
        "verify",
        [MaterialStatus.DISPENSED],
        MaterialStatus.VERIFIED,
        f"{APP}.verify_batchmaterial",
        signature=SignatureMeaning.VERIFIED,
    ),
    Transition("consume", [MaterialStatus.VERIFIED], MaterialStatus.CONSUMED, f"{APP}.consume_batchmaterial"),
    Transition(
        "return",
        [MaterialStatus.DISPENSED, MaterialStatus.VERIFIED],
        MaterialStatus.RETURNED,
        f"{APP}.return_batchmaterial",
        reason_required=True,
    ),
)

EQUIPMENT_USAGE_WORKFLOW = Workflow(
    Transition(
        "verify_calibration",
        [EquipmentUsageStatus.NOT_STARTED],
        None,
        f"{APP}.verify_calibration_batchequipment",
    ),
    Transition(
        "verify_cleaning",
        [EquipmentUsageStatus.NOT_STARTED],
        None,
        f"{APP}.verify_cleaning_batchequipment",
    ),
    Transition(
        "start_usage",
        [EquipmentUsageStatus.NOT_STARTED],
        EquipmentUsageStatus.IN_USE,
        f"{APP}.start_usage_batchequipment",
    ),
    Transition(
        "end_usage",
        [EquipmentUsageStatus.IN_USE],
        EquipmentUsageStatus.ENDED,
        f"{APP}.end_usage_batchequipment",
    ),
)
