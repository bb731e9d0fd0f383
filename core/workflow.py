"""One declarative table per state machine.

Each app declares its transitions once, e.g.

    BATCH_WORKFLOW = Workflow(
        Transition("start", sources=["pending"], target="in_progress",
                   permission="batch_records.start_batchrecord"),
        ...
    )

Services call `workflow.apply(record, "start")` inside their transaction (after locking the
row); the API and the admin ask `workflow.allowed_actions(record, user)` what to offer.
Anything not in the table is not a transition.
"""

from dataclasses import dataclass, field

from .exceptions import InvalidTransition, NotPermitted


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple
    target: str | None  # None: the action records something but keeps the status
    permission: str  # "app_label.codename", held through a role group
    signature: str | None = None  # the meaning signed, where the action is signed
    reason_required: bool = False
    label: str = field(default="")

    def __post_init__(self):
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.label:
            object.__setattr__(self, "label", self.action.replace("_", " ").capitalize())


class Workflow:
    def __init__(self, *transitions, field="status"):
        self.field = field
        self.transitions = {transition.action: transition for transition in transitions}

    def __getitem__(self, action):
        return self.transitions[action]

    def __iter__(self):
        return iter(self.transitions.values())

    def status_of(self, record):
        return getattr(record, self.field)

    def can(self, record, action):
        transition = self.transitions.get(action)
        return transition is not None and self.status_of(record) in transition.sources

    def check(self, record, action, user=None):
        """Refuse an action not allowed from the record's status (409) or for the user (403)."""
        transition = self.transitions.get(action)
        # Who may act is checked before what state the record is in: a user without the
        # permission learns nothing about the record's status.
        if transition is not None and user is not None and not user.has_perm(transition.permission):
            raise NotPermitted(f"You do not have permission to {action.replace('_', ' ')} this record.")
        if not self.can(record, action):
            raise InvalidTransition(record, action)
        return transition

    def apply(self, record, action, user=None):
        """Check and move the record to the action's target status (not saved)."""
        transition = self.check(record, action, user)
        if transition.target is not None:
            setattr(record, self.field, transition.target)
        return transition

    def allowed_actions(self, record, user):
        return self.actions_for_status(self.status_of(record), user)

    def actions_for_status(self, status, user):
        return [
            transition.action
            for transition in self.transitions.values()
            if status in transition.sources and user.has_perm(transition.permission)
        ]

    def permissions(self):
        return sorted({transition.permission for transition in self.transitions.values()})
