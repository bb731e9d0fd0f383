"""The state machine of a serialized unit, declared once. Services apply it under a row
lock; the API and the admin list `allowed_actions` from it. Anything not here is refused."""

from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .choices import SerialStatus

APP = "serials"

SERIAL_WORKFLOW = Workflow(
    # Performs the current step; the unit becomes completed after its last open step.
    Transition(
        "advance",
        [SerialStatus.IN_PROGRESS],
        None,
        f"{APP}.advance_serialnumber",
        signature=SignatureMeaning.PERFORMED,
    ),
    Transition(
        "advance_to_step",
        [SerialStatus.IN_PROGRESS],
        None,
        f"{APP}.advance_to_step_serialnumber",
        reason_required=True,
    ),
    Transition(
        "waive_step",
        [SerialStatus.IN_PROGRESS],
        None,
        f"{APP}.waive_step_serialnumber",
        signature=SignatureMeaning.WAIVED,
        reason_required=True,
    ),
    Transition(
        "scrap",
        [SerialStatus.IN_PROGRESS],
        SerialStatus.SCRAPPED,
        f"{APP}.scrap_serialnumber",
        reason_required=True,
    ),
    Transition(
        "force_complete",
        [SerialStatus.IN_PROGRESS],
        SerialStatus.COMPLETED,
        f"{APP}.force_complete_serialnumber",
        signature=SignatureMeaning.FORCE_COMPLETED,
    ),
)
