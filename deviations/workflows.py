from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .models import DeviationStatus

WORK = "deviations.services"

# The report and its investigation may be written until the deviation is closed.
_CONTENT = ["title", "description", "severity", "site", "root_cause", "conclusion"]

DEVIATION_WORKFLOW = Workflow(
    Transition(
        "investigate",
        [DeviationStatus.OPEN],
        DeviationStatus.INVESTIGATING,
        "deviations.investigate_deviation",
        work=f"{WORK}.record_investigation_started",
        doc="open → investigating (an optional `reason` is kept in the audit trail).",
    ),
    # 21 CFR 211.192: closed only with the investigation's root cause and conclusion written.
    Transition(
        "close",
        [DeviationStatus.INVESTIGATING],
        DeviationStatus.CLOSED,
        "deviations.close_deviation",
        signature=SignatureMeaning.CLOSED,
        work=f"{WORK}.record_closure",
        doc='investigating → closed, signed "closed"; needs the root cause and the conclusion.',
    ),
    editable={DeviationStatus.OPEN: _CONTENT, DeviationStatus.INVESTIGATING: _CONTENT},
    frozen_message="Cannot edit {label}: it is {status}.",
)
