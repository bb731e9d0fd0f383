"""The equipment state machines, declared once.

`EQUIPMENT_WORKFLOW` holds the actions offered on the equipment API. `EQUIPMENT_USAGE_WORKFLOW`
holds the two moves that only batch execution makes (equipment taken into and released
from a batch); they are applied by `services.mark_in_use` / `services.release_from_use`,
whose callers have already checked the acting user's batch permission.
"""

from core.workflow import Transition, Workflow

from .models import EquipmentStatus

# Equipment in a batch cannot be calibrated, cleaned or have its status changed until the
# batch releases it (21 CFR 211.67, 211.182: the use log must match what happened to it).
NOT_IN_USE = [EquipmentStatus.AVAILABLE, EquipmentStatus.MAINTENANCE, EquipmentStatus.OUT_OF_SERVICE]

WORK = "equipment.services"
SETTABLE_STATUSES = [EquipmentStatus.AVAILABLE, EquipmentStatus.MAINTENANCE, EquipmentStatus.OUT_OF_SERVICE]
EQUIPMENT_WORKFLOW = Workflow(
    # A pass keeps the status; a fail moves the equipment to maintenance.
    Transition(
        "record_calibration",
        NOT_IN_USE,
        NOT_IN_USE,
        "equipment.calibrate_equipment",
        work=f"{WORK}.log_calibration",
    ),
    Transition(
        "record_cleaning",
        NOT_IN_USE,
        None,
        "equipment.clean_equipment",
        work=f"{WORK}.log_cleaning",
    ),
    # The target status comes from the request body (available, maintenance, out_of_service).
    Transition(
        "set_status",
        NOT_IN_USE,
        SETTABLE_STATUSES,
        "equipment.change_equipment",
        reason_required=True,
        work=f"{WORK}.choose_status",
    ),
    editable=dict.fromkeys(NOT_IN_USE, ["name", "equipment_type", "site", "cleaning_validity_hours"]),
    frozen_message="Cannot edit {label} while it is in use in a batch.",
)

# Moves made as a consequence of a batch action (`Workflow.apply`): permissions name what
# the calling batch action needs; the equipment services do not check them again (the
# caller did, and a QA rejection may release equipment too).
EQUIPMENT_USAGE_WORKFLOW = Workflow(
    Transition(
        "mark_in_use",
        [EquipmentStatus.AVAILABLE],
        EquipmentStatus.IN_USE,
        "batch_records.start_usage_batchequipment",
    ),
    Transition(
        "release_from_use",
        [EquipmentStatus.IN_USE],
        EquipmentStatus.AVAILABLE,
        "batch_records.end_usage_batchequipment",
    ),
)
