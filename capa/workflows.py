from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .models import CAPAStatus

WORK = "capa.services"


class OwnedWorkflow(Workflow):
    """A workflow in which the record's owner may take some actions whatever their role:
    the person who owns a CAPA starts the work on it."""

    def __init__(self, *transitions, owner_actions=(), **kwargs):
        super().__init__(*transitions, **kwargs)
        self.owner_actions = frozenset(owner_actions)

    def may(self, record, transition, user):
        if transition.action in self.owner_actions and record.owner_id == user.pk:
            return True
        return super().may(record, transition, user)


# The plan and its result are written until the CAPA is closed.
_CONTENT = ["title", "description", "action_plan", "effectiveness_result", "site", "owner", "due_date", "deviation"]

CAPA_WORKFLOW = OwnedWorkflow(
    Transition(
        "start",
        [CAPAStatus.OPEN],
        CAPAStatus.IN_PROGRESS,
        "capa.start_capa",
        work=f"{WORK}.record_start",
        doc="open → in_progress, by the CAPA's owner or a user with the role.",
    ),
    Transition(
        "check_effectiveness",
        [CAPAStatus.IN_PROGRESS],
        CAPAStatus.EFFECTIVENESS_CHECK,
        "capa.check_effectiveness_capa",
        work=f"{WORK}.record_effectiveness_check",
        doc="in_progress → effectiveness_check; the action plan must be written.",
    ),
    # ICH Q10 3.2.2: a CAPA closes on the evidence that its actions were effective.
    Transition(
        "close",
        [CAPAStatus.EFFECTIVENESS_CHECK],
        CAPAStatus.CLOSED,
        "capa.close_capa",
        signature=SignatureMeaning.CLOSED,
        work=f"{WORK}.record_closure",
        doc='effectiveness_check → closed, signed "closed"; needs the effectiveness result.',
    ),
    owner_actions=["start"],
    editable=dict.fromkeys((CAPAStatus.OPEN, CAPAStatus.IN_PROGRESS, CAPAStatus.EFFECTIVENESS_CHECK), _CONTENT),
    frozen_message="Cannot edit {label}: it is {status}.",
)
