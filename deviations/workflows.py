from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .models import DeviationStatus

DEVIATION_WORKFLOW = Workflow(
    Transition(
        "investigate",
        [DeviationStatus.OPEN],
        DeviationStatus.INVESTIGATING,
        "deviations.investigate_deviation",
    ),
    # 21 CFR 211.192: closed only with the investigation's root cause and conclusion written.
    Transition(
        "close",
        [DeviationStatus.INVESTIGATING],
        DeviationStatus.CLOSED,
        "deviations.close_deviation",
        signature=SignatureMeaning.CLOSED,
    ),
)
