"""The guards of batch execution's transitions (see `core.workflow`): each is
`guard(record, user, facts)` and returns None, or the refusal (409 Conflict, 403
NotPermitted) with the message the client sees.

They run twice from the same code: under the row locks in `Workflow.perform`, and for
`allowed_actions` on what a read loaded (the batch of a step, the equipment of a use,
through `facts` once per request rather than once per row).
"""

from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning

from .choices import MATERIAL_RECONCILED_STATUSES, STEP_TERMINAL_STATUSES, MBRStatus
from .models import BatchStep
from .services.guards import batch_final_refusal, record_label  # noqa: F401 - the one final-batch rule
from .services.review_rules import execution_roles_of, load_batch_contents, unmet_release_conditions


def batch_of(record, facts):
    """The batch of a child record: the one its lock (or its read) attached, else read once."""
    if "batch" in record._state.fields_cache:
        return record.batch
    from .models import BatchRecord

    return facts.get(("batch", record.batch_id), lambda: BatchRecord.objects.get(pk=record.batch_id))


def batch_open(action):
    """Nothing in a released or rejected batch changes."""

    def guard(record, user, facts):
        return batch_final_refusal(batch_of(record, facts), action, record)

    return guard


def own_batch_open(action):
    def guard(batch, user, facts):
        return batch_final_refusal(batch, action)

    return guard


def batch_status_refusal(batch, action, wanted, message, record):
    if batch.status in wanted:
        return None
    listed = " or ".join(f"'{status}'" for status in wanted)
    return Conflict(
        message.format(action=action.replace("_", " "), batch=batch, wanted=listed),
        current_status=record.status,
        batch_status=batch.status,
        action=action,
    )


def batch_is(action, wanted, label):
    """The batch must be in one of `wanted` (e.g. in production to execute a step).
    `label(record, batch)` names the record in the message."""

    def guard(record, user, facts):
        batch = batch_of(record, facts)
        message = (
            f"Cannot {{action}} {label(record, batch)}: the batch is '{{batch.status}}', and this is only possible "
            "while it is {wanted}."
        )
        return batch_status_refusal(batch, action, wanted, message, record)

    return guard


# --- steps -------------------------------------------------------------------------------


def step_label(step, batch):
    return f"step {step.step_number} of {batch.batch_id}"


def _batch_step_statuses(batch_id, facts):
    """{step_number: status} of a batch's steps, read once per request (the step guards and
    the batch's completion guard share it)."""
    return facts.get(
        ("step statuses", batch_id),
        lambda: dict(BatchStep.objects.filter(batch_id=batch_id).values_list("step_number", "status")),
    )


def _step_statuses(step, facts):
    return _batch_step_statuses(step.batch_id, facts)


def earlier_steps_done(step, user, facts):
    """Steps run in order: every lower step completed, deviated or skipped first."""
    statuses = _step_statuses(step, facts)
    blocking = sorted(
        number
        for number, status in statuses.items()
        if number < step.step_number and status not in STEP_TERMINAL_STATUSES
    )
    if not blocking:
        return None
    listed = ", ".join(str(number) for number in blocking)
    batch = batch_of(step, facts)
    return Conflict(
        f"Cannot start {step_label(step, batch)}: step(s) {listed} must be completed, deviated or skipped first.",
        current_status=step.status,
        action="start",
        blocking_steps=blocking,
    )


def step_requires_verification(step, user, facts):
    if step.requires_verification:
        return None
    return Conflict(
        f"Cannot verify {step_label(step, batch_of(step, facts))}: this step does not require second-person "
        "verification.",
        current_status=step.status,
        action="verify",
    )


def step_not_yet_verified(step, user, facts):
    if step.verifier_id is None:
        return None
    return Conflict(
        f"Cannot verify {step_label(step, batch_of(step, facts))}: it was already verified by "
        f"{step.verifier.get_username()} at {step.verifier_signed_at:%Y-%m-%d %H:%M:%S} UTC.",
        current_status=step.status,
        action="verify",
    )


def _steps_corrected_by(user, step, facts):
    """The steps of the batch whose values `user` corrected (signed "corrected")."""
    from django.contrib.contenttypes.models import ContentType

    from core.models import Signature

    def load():
        step_ids = BatchStep.objects.filter(batch_id=step.batch_id).values("pk")
        return set(
            Signature.objects.filter(
                content_type=ContentType.objects.get_for_model(BatchStep),
                object_id__in=step_ids,
                meaning=SignatureMeaning.CORRECTED,
                signer=user,
            ).values_list("object_id", flat=True)
        )

    return facts.get(("corrected by", user.pk, step.batch_id), load)


def step_verifier_independent(step, user, facts):
    """21 CFR 211.188(b)(11): the verifier did not record the values (nor correct them)."""
    if step.operator_id != user.pk and step.pk not in _steps_corrected_by(user, step, facts):
        return None
    return NotPermitted(
        f"You recorded the values of {step_label(step, batch_of(step, facts))}: its verifier must be someone else "
        "(second-person verification)."
    )


# --- materials -----------------------------------------------------------------------------


def material_label(material, batch):
    return f"material {material.material_code} (line {material.line_number}) of {batch.batch_id}"


def material_verifier_independent(material, user, facts):
    """21 CFR 211.101(d): each component dispensed is verified by a second person."""
    if material.dispensed_by_id != user.pk:
        return None
    return NotPermitted(
        f"You dispensed {material_label(material, batch_of(material, facts))}: its verifier must be someone else "
        "(second-person verification)."
    )


# --- equipment uses --------------------------------------------------------------------------


def usage_name(usage):
    return " ".join(part for part in (usage.equipment_id_manual, usage.equipment_name) if part)


def usage_label(usage, batch):
    return f"{usage_name(usage)} in {batch.batch_id}"


def usage_batch_is(action, wanted):
    def guard(usage, user, facts):
        batch = batch_of(usage, facts)
        message = (
            f"Cannot {{action}} for {usage_label(usage, batch)}: the batch is '{{batch.status}}', and this "
            "is only possible while it is {wanted}."
        )
        return batch_status_refusal(batch, action, wanted, message, usage)

    return guard


def equipment_of(usage):
    """The registered equipment of a use (locked with it by `perform`), or None."""
    if usage.equipment_id is None:
        return None
    return usage.equipment


def equipment_condition(action, what, problem_of):
    """A registered equipment's calibration (or cleaning) must hold to verify it."""

    def guard(usage, user, facts):
        equipment = equipment_of(usage)
        problem = problem_of(equipment) if equipment is not None else None
        if not problem:
            return None
        return Conflict(
            f"Cannot verify the {what} of {usage_label(usage, batch_of(usage, facts))}: {problem}",
            current_status=usage.status,
            action=action,
            problems=[problem],
        )

    return guard


def usage_may_start(producing):
    """Every condition of use at once, in `problems`: the batch in production, calibration
    and cleaning verified for this use, a registered equipment usable now."""

    def guard(usage, user, facts):
        from equipment.services import usability_problems

        batch = batch_of(usage, facts)
        problems = []
        if batch.status not in producing:
            problems.append(f"The batch {batch.batch_id} is '{batch.status}', not 'in_progress'.")
        if not usage.calibration_verified:
            problems.append("The calibration has not been verified for this use.")
        if not usage.cleaning_verified:
            problems.append("The cleaning has not been verified for this use.")
        equipment = equipment_of(usage)
        if equipment is not None:
            problems.extend(usability_problems(equipment))
        if not problems:
            return None
        return Conflict(
            f"Cannot start using {usage_label(usage, batch)}: {' '.join(problems)}",
            current_status=usage.status,
            batch_status=batch.status,
            action="start_usage",
            problems=problems,
        )

    return guard


# --- batches ------------------------------------------------------------------------------------


def open_materials(batch):
    """[{line_number, material_code, status}] of the material lines not yet reconciled:
    pending, or dispensed/verified but neither consumed nor returned."""
    return list(
        batch.materials.exclude(status__in=MATERIAL_RECONCILED_STATUSES)
        .order_by("line_number", "id")
        .values("line_number", "material_code", "status")
    )


def nothing_left_open(batch, user, facts):
    """A batch completes once every step is done and every material line is consumed or
    returned: the 409 listing every step not done and every material line not reconciled.

    A batch completed with a line still pending could then be neither dispensed, returned
    nor released (SPEC §3: no batch may reach a state from which neither release nor
    rejection can follow); the shop floor settles each line first: consume what was used,
    return what was not, and abort the batch if it cannot be finished."""
    statuses = _batch_step_statuses(batch.pk, facts)
    open_steps = sorted(number for number, status in statuses.items() if status not in STEP_TERMINAL_STATUSES)
    materials = open_materials(batch)
    if not open_steps and not materials:
        return None
    problems = []
    if open_steps:
        listed = ", ".join(str(number) for number in open_steps)
        problems.append(f"step(s) {listed} are not completed, deviated or skipped")
    if materials:
        listed = ", ".join(f"{row['line_number']} ({row['material_code']}, {row['status']})" for row in materials)
        problems.append(f"material line(s) {listed} are not consumed or returned")
    return Conflict(
        f"Cannot complete {batch.batch_id}: {'; '.join(problems)}.",
        current_status=batch.status,
        action="complete",
        open_steps=open_steps,
        open_materials=materials,
    )


def _contents(batch, facts):
    return facts.get(("contents", batch.pk), lambda: load_batch_contents(batch, for_update=facts.locking))


def releaser_independent(batch, user, facts):
    """21 CFR 211.22: released by a QA approver who had no hand in the batch's execution."""
    involvement = execution_roles_of(_contents(batch, facts), user)
    if not involvement:
        return None
    return NotPermitted(
        f"You cannot release {batch.batch_id}: you took part in its execution ({'; '.join(involvement)}). "
        "A batch is released by a QA approver independent of its manufacture (21 CFR 211.22).",
        involvement=involvement,
    )


def release_conditions_met(batch, user, facts):
    unmet = unmet_release_conditions(_contents(batch, facts))
    if not unmet:
        return None
    return Conflict(
        f"Cannot release {batch.batch_id}: {len(unmet)} release condition(s) not met: "
        + " ".join(condition["message"] for condition in unmet),
        current_status=batch.status,
        action="release",
        unmet_conditions=unmet,
    )


# --- master batch records ---------------------------------------------------------------------------


# Versions of a product still being written or reviewed: one revision at a time.
MBR_OPEN_STATUSES = (MBRStatus.DRAFT, MBRStatus.IN_REVIEW)


def may_approve(mbr, user):
    """Separation of duties (21 CFR 211.186(a)): no one approves a record they wrote,
    whatever roles or superuser status they hold."""
    return user.pk != mbr.author_id


def mbr_label(mbr):
    return f"{mbr.mbr_id} (version {mbr.version})"


def approver_not_author(mbr, user, facts):
    if may_approve(mbr, user):
        return None
    return NotPermitted(f"{mbr.mbr_id} was written by you: its approver must be someone other than its author.")


def no_open_version(mbr, user, facts):
    """One revision of a product at a time."""
    from .models import MasterBatchRecord

    siblings = MasterBatchRecord.objects.filter(product_code=mbr.product_code).order_by("pk")
    if facts.locking:
        siblings = siblings.select_for_update()
    open_version = next((sibling for sibling in siblings if sibling.status in MBR_OPEN_STATUSES), None)
    if open_version is None:
        return None
    return Conflict(
        f"Cannot create a new version of {mbr.mbr_id}: {mbr_label(open_version)} of product "
        f"{mbr.product_code} is already being revised (status '{open_version.status}').",
        current_status=mbr.status,
        action="new_version",
    )


# --- equipment conditions -----------------------------------------------------------------------


def calibration_problem(equipment):
    """Why the calibration of `equipment` cannot be relied on today, or None (21 CFR 211.68)."""
    if not equipment.calibration_overdue():
        return None
    if equipment.calibration_due_date is None:
        return f"{equipment.equipment_id} has no valid calibration (none recorded, or the last one failed)."
    return f"{equipment.equipment_id}: calibration was due on {equipment.calibration_due_date} and is overdue."


def cleaning_problem(equipment):
    """Why `equipment` is not clean enough to use now, or None (21 CFR 211.67)."""
    from equipment.models import CleaningStatus

    if equipment.cleaning_valid():
        return None
    if equipment.cleaning_status != CleaningStatus.CLEAN or equipment.cleaned_at is None:
        return f"{equipment.equipment_id} is not clean."
    return (
        f"{equipment.equipment_id}: its cleaning of {equipment.cleaned_at:%Y-%m-%d %H:%M} UTC has expired "
        f"(valid {equipment.cleaning_validity_hours} h after cleaning)."
    )
