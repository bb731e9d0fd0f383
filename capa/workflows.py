from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .models import CAPAStatus


class OwnedWorkflow(Workflow):
    """A workflow in which the record's owner may take some actions whatever their role:
    the person who owns a CAPA starts the work on it."""

    def __init__(self, *transitions, owner_actions=(), **kwargs):
        super().__init__(*transitions, **kwargs)
        self.owner_actions = frozenset(owner_actions)

    def _acts_as_owner(self, record, action, user):
        return user is not None and action in self.owner_actions and record.owner_id == user.pk

    def check(self, record, action, user=None):
        if self._acts_as_owner(record, action, user):
            user = None  # the owner needs no role permission for this action
        return super().check(record, action, user)

    def allowed_actions(self, record, user):
        return [
            transition.action
            for transition in self
            if self.status_of(record) in transition.sources
            and (user.has_perm(transition.permission) or self._acts_as_owner(record, transition.action, user))
        ]


CAPA_WORKFLOW = OwnedWorkflow(
    Transition("start", [CAPAStatus.OPEN], CAPAStatus.IN_PROGRESS, "capa.start_capa"),
    Transition(
        "check_effectiveness",
        [CAPAStatus.IN_PROGRESS],
        CAPAStatus.EFFECTIVENESS_CHECK,
        "capa.check_effectiveness_capa",
    ),
    # ICH Q10 3.2.2: a CAPA closes on the evidence that its actions were effective.
    Transition(
        "close",
        [CAPAStatus.EFFECTIVENESS_CHECK],
        CAPAStatus.CLOSED,
        "capa.close_capa",
        signature=SignatureMeaning.CLOSED,
    ),
    owner_actions=["start"],
)
