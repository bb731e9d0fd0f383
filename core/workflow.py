"""One declarative table per state machine, and the one path that executes it.

A transition is declared once, in the app's `workflows.py`:

    STEP_WORKFLOW = Workflow(
        Transition(
            "skip",
            sources=[StepStatus.PENDING],
            target=StepStatus.SKIPPED,
            permission="batch_records.skip_batchstep",   # held through a role group
            guards=[batch_is(EXECUTING)],                 # prerequisites, separation of duties
            reason_required=True,                         # 400 naming `reason` without one
            signature=SignatureMeaning.SKIPPED,           # the meaning signed (None: unsigned)
            work="batch_records.services.steps.record_skip",  # does the work, see below
        ),
        lock=lock_with_batch,               # how the row (and its parents) are locked
        editable={StepStatus.PENDING: []},  # content fields editable per state
    )

`workflow.perform(record, action, actor=..., password=..., reason=..., **data)` runs it, in
one transaction, in this order (the order the error a client sees depends on):

1. lock the row (`select_for_update`, or the workflow's `lock`, which locks parents first);
2. the permission (403), then the state (409) — who may act is checked before the state so
   that a user without the permission learns nothing about the record;
3. the guards, in their declared order: each is `guard(record, user, facts)` and returns
   None, or the refusal to raise (a `Conflict` for 409, a `NotPermitted` for 403);
4. the reason, when required (400 naming `reason`);
5. the work: `work(record, act, **data)` validates the input (400 naming the field),
   changes the record's fields (not its status) and whatever else the action records; it
   may set `act.history_reason`, `act.result`, `act.save = False` (nothing of the record
   itself changes) and register follow-ups with `act.then(callable)`;
6. the declared target status (or, where several are declared, checks the work chose one);
7. the save, with history (the change reason names the reason given);
8. the signature with the declared meaning: the password is verified and the hash taken on
   the record as saved, so a refused signature rolls the whole action back;
9. the follow-ups (effects on other records that come after the signature).

`workflow.allowed_actions(record, user)` offers exactly the transitions whose state,
permission and guards pass for this user (the password is not checked, nor the input).
The API generates one POST route per transition (`AuditedViewSet.workflow`) and the admin
one action per transition (`core.admin.transition_admin_action`) from the same table.

Guards receive `facts`, a per-request memo (`facts.get(key, loader)`), so that computing
`allowed_actions` for the 200 steps of one batch reads each shared fact once.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.module_loading import import_string

from .exceptions import InvalidTransition, NotPermitted

REASON_MESSAGE = "This action needs the reason why."


class Facts:
    """A memo shared by the guards of one request: `get(key, loader)` calls `loader()` once.
    `locking`: the guards run inside `perform`, whose reads should lock what they judge."""

    def __init__(self, locking=False):
        self.locking = locking
        self._values = {}

    def get(self, key, loader):
        if key not in self._values:
            self._values[key] = loader()
        return self._values[key]


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple
    # The status after the action. None: the action records something but keeps the status;
    # a tuple: the work chooses one of them (e.g. completed or deviated, by specification).
    target: object
    permission: str  # "app_label.codename", held through a role group
    signature: str | None = None  # the meaning signed, where the action is signed
    reason_required: bool = False
    label: str = field(default="")
    doc: str = ""  # what the action does, for the API documentation of its route
    guards: tuple = ()  # guard(record, user, facts) -> None or the DomainError to raise
    work: object = None  # callable or dotted path: work(record, act, **data)

    def __post_init__(self):
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "guards", tuple(self.guards))
        if isinstance(self.target, list):
            object.__setattr__(self, "target", tuple(self.target))
        if not self.label:
            object.__setattr__(self, "label", self.action.replace("_", " ").capitalize())

    @property
    def targets(self):
        """The statuses the record may have after the action."""
        if self.target is None:
            return ()
        return self.target if isinstance(self.target, tuple) else (self.target,)

    def work_function(self):
        if isinstance(self.work, str):
            return import_string(self.work)
        return self.work


class Act:
    """What the work of one transition sees and leaves for `perform` to finish."""

    def __init__(self, transition, actor, reason, comment):
        self.transition = transition
        self.actor = actor
        self.reason = reason
        self.comment = comment
        self.history_reason = None
        self.result = None  # returned instead of the record (e.g. a new version)
        self.save = True
        self.followups = []

    def then(self, followup):
        """Run `followup()` after the signature, in the same transaction."""
        self.followups.append(followup)


def lock_row(record, action=None):
    """`record` read again under a row lock held until the transaction ends. A workflow's
    own `lock(record, action)` may lock parents first and refuse (e.g. a final batch)."""
    return type(record).objects.select_for_update().get(pk=record.pk)


class Workflow:
    def __init__(self, *transitions, field="status", lock=None, editable=None, frozen_message=None, read_related=()):
        self.field = field
        # Relations the guards read, joined when a list judges many records at once.
        self.read_related = tuple(read_related)
        # The 409 refusing a content change in a status not editable ({label}, {status}).
        self.frozen_message = frozen_message
        self.transitions = {transition.action: transition for transition in transitions}
        self.lock = lock or lock_row
        # {status: [field names]}: the content fields a client may change in each status;
        # a status not listed allows no content change.
        self.editable = {status: tuple(names) for status, names in (editable or {}).items()}

    def __getitem__(self, action):
        return self.transitions[action]

    def __iter__(self):
        return iter(self.transitions.values())

    def __contains__(self, action):
        return action in self.transitions

    @property
    def has_guards(self):
        """Whether what it allows depends on the record beyond its status: guards, or a
        role check widened per record (`may`)."""
        return any(transition.guards for transition in self) or type(self).may is not Workflow.may

    def status_of(self, record):
        return getattr(record, self.field)

    def can(self, record, action):
        transition = self.transitions.get(action)
        return transition is not None and self.status_of(record) in transition.sources

    def may(self, record, transition, user):
        """Whether `user` holds the role for `transition` on `record` (subclasses widen it)."""
        return user.has_perm(transition.permission)

    def check(self, record, action, user=None):
        """Refuse an action not allowed for the user (403) or from the record's status (409)."""
        transition = self.transitions.get(action)
        # Who may act is checked before what state the record is in: a user without the
        # permission learns nothing about the record's status.
        if transition is not None and user is not None and not self.may(record, transition, user):
            raise NotPermitted(f"You do not have permission to {action.replace('_', ' ')} this record.")
        if not self.can(record, action):
            raise InvalidTransition(record, action)
        return transition

    def refusal(self, record, action, user, facts=None):
        """The first refusal of `action` on `record` for `user` (permission, state, guards),
        or None when it would be allowed (the input and password are not judged here)."""
        try:
            transition = self.check(record, action, user)
        except (InvalidTransition, NotPermitted) as error:
            return error
        facts = facts if facts is not None else Facts()
        for guard in transition.guards:
            refused = guard(record, user, facts)
            if refused is not None:
                return refused
        return None

    def apply(self, record, action, user=None):
        """Check and move the record to the action's target status (not saved). For moves
        made as a consequence of another action (an MBR superseded by the approval of its
        next version), which have no work, guard or signature of their own."""
        transition = self.check(record, action, user)
        if len(transition.targets) == 1:
            setattr(record, self.field, transition.targets[0])
        return transition

    def perform(self, record, action, *, actor, password=None, username=None, comment="", reason=None, **data):
        """Run `action` on `record` as declared (see the module docstring); returns the
        record as changed (or what the work set as `act.result`)."""
        with transaction.atomic():
            record = self.lock(record, action)
            transition = self.check(record, action, actor)
            facts = Facts(locking=True)
            for guard in transition.guards:
                refused = guard(record, actor, facts)
                if refused is not None:
                    raise refused
            reason = (reason or "").strip() if reason is not None else None
            if transition.reason_required and not reason:
                raise ValidationError({"reason": [REASON_MESSAGE]})
            act = Act(transition, actor, reason, comment or "")
            status_before = self.status_of(record)
            work = transition.work_function()
            if work is not None:
                work(record, act, **data)
            elif data:
                raise TypeError(f"{action} takes no input, got {sorted(data)}")
            targets = transition.targets
            if len(targets) == 1:
                setattr(record, self.field, targets[0])
            elif targets and self.status_of(record) not in targets:
                raise RuntimeError(f"{action}: the work left status {self.status_of(record)!r}, not one of {targets}")
            elif not targets and self.status_of(record) != status_before:
                # Only the table moves a record: a work setting a status by hand is a bug.
                raise RuntimeError(f"{action} keeps the status, but its work set {self.status_of(record)!r}")
            if act.save:
                record.save(actor=actor, reason=act.history_reason or reason or comment or transition.label)
            if transition.signature:
                from .services import sign  # the kernel's signing service

                sign(
                    record,
                    signer=actor,
                    password=password,
                    meaning=transition.signature,
                    comment=comment or reason,
                    username=username,
                )
            for followup in act.followups:
                followup()
            return act.result if act.result is not None else record

    def allowed_actions(self, record, user, facts=None):
        """The actions `user` may take on `record` now: state, permission and guards pass."""
        facts = facts if facts is not None else Facts()
        return [action for action in self.transitions if self.refusal(record, action, user, facts) is None]

    def actions_for_status(self, status, user):
        """The actions offered from `status` by state and permission alone (for workflows
        without guards, whose answer depends on nothing else)."""
        return [
            transition.action
            for transition in self.transitions.values()
            if status in transition.sources and user.has_perm(transition.permission)
        ]

    def editable_fields(self, record):
        return self.editable.get(self.status_of(record), ())

    def check_editable(self, record, changed, *, label=None):
        """Refuse a content change in a status that allows none (409), or of a field the
        status does not allow (400 naming it)."""
        from .exceptions import Conflict

        allowed = self.editable_fields(record)
        if not allowed:
            status = self.status_of(record)
            label = label or getattr(record, "display_id", None) or str(record.pk)
            editable = " or ".join(sorted(s for s, names in self.editable.items() if names))
            message = self.frozen_message or (
                "Cannot edit {label}: content can only change in {editable}, and it is '{status}'."
            )
            raise Conflict(
                message.format(label=label, status=status, editable=editable),
                current_status=status,
                action="update",
            )
        unknown = sorted(set(changed) - set(allowed))
        if unknown:
            raise ValidationError({name: ["This field cannot be changed."] for name in unknown})

    def permissions(self):
        return sorted({transition.permission for transition in self.transitions.values()})


# --- content: creation and edits, through the same table ------------------------------------


def _clean(record, given):
    """Validate `record` on the fields given (the others are defaults or generated), with
    messages naming the field; constraints are left to the database and the services."""
    excluded = [field.name for field in record._meta.fields if field.name not in given]
    record.full_clean(exclude=excluded)


def create_record(model, *, actor, reason=None, **data):
    """A new `model` record from `data`, validated and saved with history, in one transaction."""
    with transaction.atomic():
        record = model(**data)
        _clean(record, data)
        record.save(actor=actor, reason=reason)
        return record


def edit_record(record, workflow, *, actor, reason=None, **changes):
    """Change the content of `record` under its row lock, in a status its workflow declares
    editable (409 otherwise) and only the fields it declares (400 naming the others)."""
    with transaction.atomic():
        record = workflow.lock(record, "update")
        workflow.check_editable(record, changes)
        for name, value in changes.items():
            setattr(record, name, value)
        _clean(record, changes)
        record.save(actor=actor, reason=reason)
        return record
