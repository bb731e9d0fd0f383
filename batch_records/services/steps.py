"""Business actions on the steps of a batch: start, complete (signed "performed"),
verify (second person), skip and correct (signed, with a reason).

The transitions are declared in `workflows.STEP_WORKFLOW` (states, permissions, guards,
reasons, meanings) and run by its `perform`, which locks the batch row first, then the
step, and signs after the change so that the signature's hash covers the values recorded.
The functions here are their work, and the entry points other code calls.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone

from batch_records.choices import BatchStatus, DeviationType, StepStatus
from batch_records.models import BatchStep
from batch_records.specifications import clean_actual_values, evaluate_specifications
from batch_records.workflow_guards import step_label as _label
from batch_records.workflows import CORRECTABLE, STEP_WORKFLOW
from core.models import SignatureMeaning

from .deviations import open_batch_deviation
from .flags import refresh_batch_flags


def _excursion_text(step, batch, excursions):
    details = "; ".join(excursion.describe() for excursion in excursions)
    return f"Parameter excursion in {_label(step, batch)} ({step.instruction_text[:80]}): {details}."


def _evaluate(step, actual_values):
    """Type the values against the step's data fields and judge them against its specifications."""
    values = clean_actual_values(step.required_data_fields, actual_values)
    excursions = evaluate_specifications(step.specifications, values)
    return values, excursions


# --- the work of each transition ---------------------------------------------------------


def record_start(step, act):
    step.started_at = timezone.now()
    step.operator = act.actor
    act.history_reason = "Step started"


def record_values(step, act, *, actual_values):
    """The operator records the values; out of spec, the step is deviated and a
    parameter_excursion deviation is opened."""
    batch = step.batch
    values, excursions = _evaluate(step, actual_values)
    now = timezone.now()
    step.actual_values = values
    step.is_within_spec = not excursions
    step.status = StepStatus.COMPLETED if step.is_within_spec else StepStatus.DEVIATED
    # Any operator may finish a step another started: who signs is who performed it.
    step.operator = act.actor
    step.operator_signed_at = now
    step.completed_at = now
    act.history_reason = act.comment or ("Step performed" if not excursions else "Step performed out of spec")
    if excursions:

        def open_deviation():
            open_batch_deviation(
                batch,
                actor=act.actor,
                deviation_type=DeviationType.PARAMETER_EXCURSION,
                description=_excursion_text(step, batch, excursions),
                batch_step=step,
            )
            # Only an excursion can change the batch's flags here: a step performed within
            # spec on a batch in production adds nothing to its review list (and this is the
            # hot path of every tablet; the refresh reads all of the batch's children).
            refresh_batch_flags(batch, actor=act.actor, reason=f"Step {step.step_number} {step.status}")

        act.then(open_deviation)


def record_verification(step, act):
    step.verifier = act.actor
    step.verifier_signed_at = timezone.now()
    act.history_reason = act.comment or "Step verified"


def record_skip(step, act):
    """The batch can then no longer be reviewed by exception."""
    step.skip_reason = act.reason
    act.history_reason = act.reason
    act.then(lambda: refresh_batch_flags(step.batch, actor=act.actor, reason=f"Step {step.step_number} skipped"))


def record_correction(step, act, *, actual_values):
    """EU GMP Annex 11 §9: a change to GMP data has a reason and stays traceable.

    The history keeps the old values with the reason; the earlier signatures no longer
    match the record and show `valid: false`; a verification must be given again. A value
    newly out of spec opens a parameter_excursion deviation; a deviation already opened stays
    open for QA whatever the correction.
    """
    batch = step.batch
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
    act.history_reason = f"Correction: {act.reason}"

    def followup():
        if excursions and was_within_spec is not False:
            open_batch_deviation(
                batch,
                actor=act.actor,
                deviation_type=DeviationType.PARAMETER_EXCURSION,
                description=_excursion_text(step, batch, excursions) + f" Recorded by correction: {act.reason}",
                batch_step=step,
            )
        refresh_batch_flags(batch, actor=act.actor, reason=f"Step {step.step_number} corrected")

    act.then(followup)


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


# --- entry points ------------------------------------------------------------------------------


def start_step(step, *, actor):
    """pending → in_progress, in step-number order."""
    return STEP_WORKFLOW.perform(step, "start", actor=actor)


def complete_step(step, *, actor, actual_values, password, comment="", username=None):
    """in_progress → completed (or deviated when out of spec), signed "performed"."""
    return STEP_WORKFLOW.perform(
        step,
        "complete",
        actor=actor,
        actual_values=actual_values,
        password=password,
        comment=comment,
        username=username,
    )


def verify_step(step, *, actor, password, comment="", username=None):
    """Second-person verification (21 CFR 211.188(b)(11)), signed "verified"."""
    return STEP_WORKFLOW.perform(step, "verify", actor=actor, password=password, comment=comment, username=username)


def skip_step(step, *, actor, reason, password, comment="", username=None):
    """pending → skipped, with a reason and a signature "skipped"."""
    return STEP_WORKFLOW.perform(
        step, "skip", actor=actor, reason=reason, password=password, comment=comment, username=username
    )


def correct_step(step, *, actor, actual_values, reason, password, comment="", username=None):
    """Correct the recorded values of a completed or deviated step, signed "corrected"."""
    return STEP_WORKFLOW.perform(
        step,
        "correct",
        actor=actor,
        actual_values=actual_values,
        reason=reason,
        password=password,
        comment=comment,
        username=username,
    )
