"""The state machines of SPEC §3, declared once. Services apply them under a row lock;
the API and the admin list `allowed_actions` from them. Anything not here is refused."""

from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

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
        [BatchStatus.UNDER_REVIEW, BatchStatus.QUARANTINED],
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
)

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
