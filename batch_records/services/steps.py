"""Business actions on the steps of a batch: start, complete (signed "performed"),
verify (second person), skip and correct (signed, with a reason).

Each action locks the batch row first, then the step (the one lock order of batch
execution), re-checks statuses on what it locked, and signs after the change so that the
signature's hash covers the values recorded.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batch_records.choices import STEP_TERMINAL_STATUSES, BatchStatus, DeviationType, StepStatus
from batch_records.models import BatchRecord, BatchStep
from batch_records.specifications import clean_actual_values, evaluate_specifications
from batch_records.workflows import STEP_WORKFLOW
from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.services import lock, sign

from .deviations import open_batch_deviation
from .flags import refresh_batch_flags
from .guards import ensure_batch_open

# Steps are executed while the batch is in production; recorded values may still be
# corrected after completion, until the batch goes to QA review.
EXECUTING = (BatchStatus.IN_PROGRESS,)
CORRECTABLE = (BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED)


def _lock_batch_and_step(step, action):
    batch = BatchRecord.objects.select_for_update().get(pk=step.batch_id)
    step = lock(step)
    ensure_batch_open(batch, action, step)
    return batch, step


def _label(step, batch):
    return f"step {step.step_number} of {batch.batch_id}"


def _require_batch_status(batch, step, action, allowed):
    if batch.status not in allowed:
        wanted = " or ".join(f"'{status}'" for status in allowed)
        raise Conflict(
            f"Cannot {action} {_label(step, batch)}: the batch is '{batch.status}', and this is only possible "
            f"while it is {wanted}.",
            current_status=step.status,
            batch_status=batch.status,
            action=action,
        )


def _sign(step, *, actor, meaning, password, comment, username):
    sign(step, signer=actor, password=password, meaning=meaning, comment=comment, username=username)


def _excursion_text(step, batch, excursions):
    details = "; ".join(excursion.describe() for excursion in excursions)
    return f"Parameter excursion in {_label(step, batch)} ({step.instruction_text[:80]}): {details}."


def _evaluate(step, actual_values):
    """Type the values against the step's data fields and judge them against its specifications."""
    values = clean_actual_values(step.required_data_fields, actual_values)
    excursions = evaluate_specifications(step.specifications, values)
    return values, excursions


@transaction.atomic
def start_step(step, *, actor):
    """pending → in_progress, in step-number order: every lower step must be completed,
    deviated or skipped first."""
    batch, step = _lock_batch_and_step(step, "start")
    transition = STEP_WORKFLOW.check(step, "start", actor)
    _require_batch_status(batch, step, "start", EXECUTING)
    blocking = list(
        batch.steps.filter(step_number__lt=step.step_number)
        .exclude(status__in=STEP_TERMINAL_STATUSES)
        .order_by("step_number")
        .values_list("step_number", flat=True)
    )
    if blocking:
        listed = ", ".join(str(number) for number in blocking)
        raise Conflict(
            f"Cannot start {_label(step, batch)}: step(s) {listed} must be completed, deviated or skipped first.",
            current_status=step.status,
            action="start",
            blocking_steps=blocking,
        )
    step.status = transition.target
    step.started_at = timezone.now()
    step.operator = actor
    step.save(actor=actor, reason="Step started")
    return step


@transaction.atomic
def complete_step(step, *, actor, actual_values, password, comment="", username=None):
    """in_progress → completed (or deviated when out of spec), signed "performed" by the
    operator who records the values. An excursion opens a parameter_excursion deviation."""
    batch, step = _lock_batch_and_step(step, "complete")
    # The target is decided by the specifications: completed, or deviated.
    STEP_WORKFLOW.check(step, "complete", actor)
    _require_batch_status(batch, step, "complete", EXECUTING)
    values, excursions = _evaluate(step, actual_values)
    now = timezone.now()
    step.actual_values = values
    step.is_within_spec = not excursions
    step.status = StepStatus.COMPLETED if step.is_within_spec else StepStatus.DEVIATED
    # Any operator may finish a step another started: who signs is who performed it.
    step.operator = actor
    step.operator_signed_at = now
    step.completed_at = now
    step.save(actor=actor, reason=comment or ("Step performed" if not excursions else "Step performed out of spec"))
    _sign(step, actor=actor, meaning=SignatureMeaning.PERFORMED, password=password, comment=comment, username=username)
    if excursions:
        open_batch_deviation(
            batch,
            actor=actor,
            deviation_type=DeviationType.PARAMETER_EXCURSION,
            description=_excursion_text(step, batch, excursions),
            batch_step=step,
        )
        # Only an excursion can change the batch's flags here: a step performed within spec
        # on a batch in production adds nothing to its review list (and this is the hot
        # path of every tablet; the refresh reads all of the batch's children).
        refresh_batch_flags(batch, actor=actor, reason=f"Step {step.step_number} {step.status}")
    return step


def record_step(step, act, *, actual_values):
    """The work of the declared `record` action (batch_records.workflows): pending →
    completed or deviated in one call, started and performed by the same operator at the
    same server time. The workflow locks, guards, saves, signs "performed", then runs the
    follow-ups: an excursion opens its parameter_excursion deviation after the signature."""
    batch = step.batch
    values, excursions = _evaluate(step, actual_values)
    now = timezone.now()
    step.actual_values = values
    step.is_within_spec = not excursions
    step.status = StepStatus.COMPLETED if step.is_within_spec else StepStatus.DEVIATED
    step.operator = act.actor
    step.started_at = now
    step.operator_signed_at = now
    step.completed_at = now
    act.history_reason = act.comment or ("Step performed" if not excursions else "Step performed out of spec")
    if excursions:

        def open_excursion_deviation():
            open_batch_deviation(
                batch,
                actor=act.actor,
                deviation_type=DeviationType.PARAMETER_EXCURSION,
                description=_excursion_text(step, batch, excursions),
                batch_step=step,
            )
            refresh_batch_flags(batch, actor=act.actor, reason=f"Step {step.step_number} {step.status}")

        act.then(open_excursion_deviation)


def recorded_values_of(step, user, corrected_step_ids=None):
    """Whether `user` recorded the values of `step` (performed or corrected it): such a user
    can never be its second-person verifier. `corrected_step_ids`, when given, are the steps
    the user corrected (read once for many steps)."""
    if step.operator_id == user.pk:
        return True
    if corrected_step_ids is not None:
        return step.pk in corrected_step_ids
    return step.signatures.filter(meaning=SignatureMeaning.CORRECTED, signer=user).exists()


def next_steps(batch, user):
    """The steps of `batch` that `user` can act on now, each with the actions allowed to them,
    in step-number order: the steps in progress, the next pending step (every lower step done),
    and the steps awaiting a second-person verification `user` may give. None while the batch
    is not executing (nor for a user without any of these actions)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    from core.models import Signature
    from core.workflow import Facts

    if batch.status not in CORRECTABLE:
        return []
    open_steps = Q(status__in=(StepStatus.PENDING, StepStatus.IN_PROGRESS))
    awaiting_verification = Q(
        status__in=(StepStatus.COMPLETED, StepStatus.DEVIATED), requires_verification=True, verifier__isnull=True
    )
    candidates = list(
        batch.steps.filter(open_steps | awaiting_verification).select_related("operator").order_by("step_number")
    )
    first_pending = next((step for step in candidates if step.status == StepStatus.PENDING), None)
    corrected = set(
        Signature.objects.filter(
            content_type=ContentType.objects.get_for_model(BatchStep),
            object_id__in=[step.pk for step in candidates],
            meaning=SignatureMeaning.CORRECTED,
            signer=user,
        ).values_list("object_id", flat=True)
    )
    facts = Facts()
    found = []
    for step in candidates:
        step.batch = batch
        if step.status == StepStatus.PENDING and step is not first_pending:
            continue  # a later pending step waits for the lower ones
        actions = STEP_WORKFLOW.allowed_actions(step, user, facts)
        if step.status == StepStatus.PENDING and any(
            other.step_number < step.step_number and other.status == StepStatus.IN_PROGRESS for other in candidates
        ):
            # A lower step is still in progress: this one can be neither started nor recorded yet.
            actions = [action for action in actions if action == "skip"]
        if step.status in (StepStatus.COMPLETED, StepStatus.DEVIATED):
            # Only the verification is outstanding here, and never by who recorded the values.
            mine = recorded_values_of(step, user, corrected)
            actions = [action for action in actions if action == "verify" and not mine]
        if batch.status != BatchStatus.IN_PROGRESS:
            actions = [action for action in actions if action == "verify"]
        if actions:
            found.append((step, actions))
    return found


@transaction.atomic
def verify_step(step, *, actor, password, comment="", username=None):
    """Second-person verification (21 CFR 211.188(b)(11)) of a completed or deviated step
    that requires it, signed "verified" by someone who did not record its values."""
    batch, step = _lock_batch_and_step(step, "verify")
    STEP_WORKFLOW.apply(step, "verify", actor)
    _require_batch_status(batch, step, "verify", CORRECTABLE)
    if not step.requires_verification:
        raise Conflict(
            f"Cannot verify {_label(step, batch)}: this step does not require second-person verification.",
            current_status=step.status,
            action="verify",
        )
    if step.verifier_id is not None:
        raise Conflict(
            f"Cannot verify {_label(step, batch)}: it was already verified by {step.verifier.get_username()} "
            f"at {step.verifier_signed_at:%Y-%m-%d %H:%M:%S} UTC.",
            current_status=step.status,
            action="verify",
        )
    if recorded_values_of(step, actor):
        raise NotPermitted(
            f"You recorded the values of {_label(step, batch)}: its verifier must be someone else "
            "(second-person verification)."
        )
    step.verifier = actor
    step.verifier_signed_at = timezone.now()
    step.save(actor=actor, reason=comment or "Step verified")
    _sign(step, actor=actor, meaning=SignatureMeaning.VERIFIED, password=password, comment=comment, username=username)
    return step


@transaction.atomic
def skip_step(step, *, actor, reason, password, comment="", username=None):
    """pending → skipped, with a reason and a signature "skipped"; the batch can then no
    longer be reviewed by exception."""
    batch, step = _lock_batch_and_step(step, "skip")
    transition = STEP_WORKFLOW.check(step, "skip", actor)
    _require_batch_status(batch, step, "skip", EXECUTING)
    if not (reason or "").strip():
        raise ValidationError({"reason": ["A skipped step needs the reason why."]})
    step.status = transition.target
    step.skip_reason = reason.strip()
    step.save(actor=actor, reason=reason)
    _sign(
        step,
        actor=actor,
        meaning=SignatureMeaning.SKIPPED,
        password=password,
        comment=comment or reason,
        username=username,
    )
    refresh_batch_flags(batch, actor=actor, reason=f"Step {step.step_number} skipped")
    return step


@transaction.atomic
def correct_step(step, *, actor, actual_values, reason, password, comment="", username=None):
    """Correct the recorded values of a completed or deviated step (EU GMP Annex 11 §9:
    a change to GMP data has a reason and stays traceable).

    The history keeps the old values with the reason; the earlier signatures no longer
    match the record and show `valid: false`; a verification must be given again. A value
    newly out of spec opens a parameter_excursion deviation; a deviation already opened stays
    open for QA whatever the correction.
    """
    batch, step = _lock_batch_and_step(step, "correct")
    STEP_WORKFLOW.apply(step, "correct", actor)
    _require_batch_status(batch, step, "correct", CORRECTABLE)
    if not (reason or "").strip():
        raise ValidationError({"reason": ["A correction needs the reason why."]})
    values, excursions = _evaluate(step, actual_values)
    if values == step.actual_values:
        raise ValidationError({"actual_values": ["These are the values already recorded: nothing to correct."]})
    was_within_spec = step.is_within_spec
    step.actual_values = values
    step.is_within_spec = not excursions
    step.status = StepStatus.COMPLETED if step.is_within_spec else StepStatus.DEVIATED
    step.correction_count += 1
    step.verifier = None
    step.verifier_signed_at = None
    step.save(actor=actor, reason=f"Correction: {reason.strip()}")
    _sign(
        step,
        actor=actor,
        meaning=SignatureMeaning.CORRECTED,
        password=password,
        comment=comment or reason,
        username=username,
    )
    if excursions and was_within_spec is not False:
        open_batch_deviation(
            batch,
            actor=actor,
            deviation_type=DeviationType.PARAMETER_EXCURSION,
            description=_excursion_text(step, batch, excursions) + f" Recorded by correction: {reason.strip()}",
            batch_step=step,
        )
    refresh_batch_flags(batch, actor=actor, reason=f"Step {step.step_number} corrected")
    return step
