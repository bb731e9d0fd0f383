"""QA review of an executed batch, by exception, and its disposition: submit for review,
document the review, release, reject, quarantine, return to review (21 CFR 211.22,
211.192; EU GMP Annex 11 §8.2, §15).

Two lists are built from one read of the batch and everything in it:

- the review list (`review_exceptions`): everything a reviewer must look at. The batch may
  be reviewed by exception only when it is empty; `batch_flags` stores that flag from it.
- the release gate (`unmet_release_conditions`): everything that still forbids release.
  `release_batch` refuses with all of them at once.

Every action locks the batch row first; the release gate reads the children under that
lock (and locks them too), so nothing recorded meanwhile can slip past it.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from batch_records.choices import (
    DEVIATION_SETTLED_STATUSES,
    STEP_TERMINAL_STATUSES,
    BatchStatus,
    EquipmentUsageStatus,
    MaterialStatus,
    StepStatus,
)
from batch_records.models import BatchDeviation, BatchEquipment, BatchMaterial, BatchStep
from batch_records.workflows import BATCH_WORKFLOW
from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.services import lock, sign
from inventory.services import receive_finished_goods

from .batches import ensure_batch_open, refresh_batch_flags, yield_within_limits
from .materials import material_tolerance_percent

# Review-list kinds: what happened in the batch and needs a reviewer's judgement.
DEVIATION = "deviation"
STEP_OUT_OF_SPEC = "step_out_of_spec"
STEP_SKIPPED = "step_skipped"
STEP_CORRECTED = "step_corrected"
INVALID_SIGNATURE = "invalid_signature"
YIELD_OUTSIDE_LIMITS = "yield_outside_limits"
MATERIAL_OUTSIDE_TOLERANCE = "material_outside_tolerance"
# Work left undone: part of production while the batch is made, an exception once it is
# with QA (and each a release condition where the release rules name it).
PRODUCTION_NOT_COMPLETED = "production_not_completed"
STEP_NOT_PERFORMED = "step_not_performed"
STEP_NOT_VERIFIED = "step_not_verified"
MATERIAL_NOT_VERIFIED = "material_not_verified"
MATERIAL_NOT_RECONCILED = "material_not_consumed_or_returned"
EQUIPMENT_USAGE_NOT_ENDED = "equipment_usage_not_ended"
EQUIPMENT_NOT_USED = "equipment_not_used"
# Release gate only.
DEVIATION_NOT_RESOLVED = "deviation_not_resolved"

# From submission for review on, whatever production left undone is an exception.
WITH_QA = (BatchStatus.UNDER_REVIEW, BatchStatus.QUARANTINED, BatchStatus.RELEASED, BatchStatus.REJECTED)
# Who may document the QA review: the permission only QA reviewers and approvers hold.
REVIEW_PERMISSION = "batch_records.return_to_review_batchrecord"

PERCENT_PLACES = Decimal("0.01")


def _item(kind, reference, message, status=None):
    return {"kind": kind, "reference": reference, "status": status, "message": message}


# --- reading the batch -----------------------------------------------------------------


def load_batch_contents(batch, *, for_update=False):
    """Steps, materials, equipment uses and deviations of `batch`, each with its signatures,
    fetched once (a fixed number of queries, whatever the size of the batch). Relations the
    caller already prefetched (the API's detail prefetch) are not read again.

    `for_update`: the child rows are locked too (the batch row must be locked already).
    """

    def rows(queryset):
        return queryset.select_for_update(of=("self",)) if for_update else queryset

    prefetch_related_objects(
        [batch],
        Prefetch("steps", queryset=rows(BatchStep.objects.order_by("step_number"))),
        "steps__signatures",
        Prefetch("materials", queryset=rows(BatchMaterial.objects.order_by("line_number", "id"))),
        "materials__signatures",
        Prefetch("equipment", queryset=rows(BatchEquipment.objects.order_by("id"))),
        "equipment__signatures",
        Prefetch("deviations", queryset=rows(BatchDeviation.objects.select_related("batch_step"))),
        "deviations__signatures",
        "signatures",
    )
    return batch


def _steps(batch):
    return sorted(batch.steps.all(), key=lambda step: step.step_number)


def _materials(batch):
    return sorted(batch.materials.all(), key=lambda material: (material.line_number, material.pk))


def _equipment(batch):
    return sorted(batch.equipment.all(), key=lambda usage: usage.pk)


def _deviations(batch):
    return sorted(batch.deviations.all(), key=lambda deviation: (deviation.created_at, deviation.pk))


def _step_ref(batch, step):
    return f"{batch.batch_id} step {step.step_number}"


def _material_ref(batch, material):
    return f"{batch.batch_id} material {material.material_code} (line {material.line_number})"


def _equipment_ref(batch, usage):
    name = " ".join(part for part in (usage.equipment_id_manual, usage.equipment_name) if part)
    return f"{batch.batch_id} equipment {name}"


def _signed_records(batch):
    """(reference, record) for the batch and every child that carries signatures."""
    yield batch.batch_id, batch
    for step in _steps(batch):
        yield _step_ref(batch, step), step
    for material in _materials(batch):
        yield _material_ref(batch, material), material
    for usage in _equipment(batch):
        yield _equipment_ref(batch, usage), usage
    for deviation in _deviations(batch):
        yield deviation.deviation_id, deviation


def _describe(signature):
    return f"'{signature.meaning}' by {signature.signer_username} at {signature.signed_at:%Y-%m-%d %H:%M:%S} UTC"


# --- the review list -------------------------------------------------------------------


def _deviation_items(batch):
    for deviation in _deviations(batch):
        where = f" in step {deviation.batch_step.step_number}" if deviation.batch_step_id else ""
        yield _item(
            DEVIATION,
            deviation.deviation_id,
            f"{deviation.deviation_id} ({deviation.get_deviation_type_display().lower()}{where}) is "
            f"{deviation.status}: {deviation.description}",
            deviation.status,
        )


def _step_items(batch, with_qa):
    for step in _steps(batch):
        reference = _step_ref(batch, step)
        if step.status == StepStatus.DEVIATED or step.is_within_spec is False:
            yield _item(
                STEP_OUT_OF_SPEC,
                reference,
                f"Step {step.step_number} was recorded out of specification: {step.actual_values}.",
                step.status,
            )
        if step.status == StepStatus.SKIPPED:
            yield _item(
                STEP_SKIPPED, reference, f"Step {step.step_number} was skipped: {step.skip_reason}", step.status
            )
        if step.correction_count:
            yield _item(
                STEP_CORRECTED,
                reference,
                f"The values of step {step.step_number} were corrected {step.correction_count} time(s) after "
                "completion; the reasons are in its history.",
                step.status,
            )
        if with_qa and step.status not in STEP_TERMINAL_STATUSES:
            yield _item(
                STEP_NOT_PERFORMED,
                reference,
                f"Step {step.step_number} is '{step.status}': it was never completed or skipped.",
                step.status,
            )
        if with_qa and _awaits_verification(step):
            yield _item(
                STEP_NOT_VERIFIED,
                reference,
                f"Step {step.step_number} requires second-person verification and was not verified.",
                step.status,
            )


def _awaits_verification(step):
    performed = step.status in (StepStatus.COMPLETED, StepStatus.DEVIATED)
    return step.requires_verification and performed and step.verifier_id is None


def _usage_difference(material):
    """How far the quantity used is from the quantity required, in percent (signed)."""
    difference = (material.quantity_used - material.quantity_required) / material.quantity_required * 100
    return difference.quantize(PERCENT_PLACES)


def _material_items(batch, with_qa):
    tolerance = material_tolerance_percent()
    for material in _materials(batch):
        reference = _material_ref(batch, material)
        unit = material.unit_of_measure
        if material.status == MaterialStatus.CONSUMED and material.quantity_used is not None:
            difference = _usage_difference(material)
            if abs(difference) > tolerance:
                yield _item(
                    MATERIAL_OUTSIDE_TOLERANCE,
                    reference,
                    f"{material.quantity_used} {unit} used against {material.quantity_required} {unit} required "
                    f"({difference:+}%; tolerance ±{tolerance}%).",
                    material.status,
                )
        if not with_qa:
            continue
        if material.dispensed_by_id is not None and material.verified_by_id is None:
            yield _item(
                MATERIAL_NOT_VERIFIED,
                reference,
                f"Lot {material.lot_number} was dispensed ({material.quantity_dispensed} {unit}) and its dispensing "
                "was not verified by a second person.",
                material.status,
            )
        if material.status not in (MaterialStatus.CONSUMED, MaterialStatus.RETURNED):
            yield _item(
                MATERIAL_NOT_RECONCILED,
                reference,
                f"{material.material_code} is '{material.status}': neither consumed nor returned.",
                material.status,
            )


def _equipment_items(batch, with_qa):
    if not with_qa:
        return
    for usage in _equipment(batch):
        reference = _equipment_ref(batch, usage)
        if usage.status == EquipmentUsageStatus.IN_USE:
            yield _item(
                EQUIPMENT_USAGE_NOT_ENDED,
                reference,
                f"In use since {usage.usage_start:%Y-%m-%d %H:%M} UTC; its use was never ended.",
                usage.status,
            )
        elif usage.status == EquipmentUsageStatus.NOT_STARTED:
            yield _item(
                EQUIPMENT_NOT_USED,
                reference,
                "Logged for the batch but never used.",
                usage.status,
            )


def _signature_items(batch):
    for reference, record in _signed_records(batch):
        signatures = list(record.signatures.all())
        current = record.content_hash()
        latest_valid = bool(signatures) and signatures[-1].is_valid_for(current)
        for signature in signatures:
            if signature.is_valid_for(current):
                continue
            if latest_valid:
                note = f" (signed again since: {_describe(signatures[-1])})"
            else:
                note = "; the record changed after its last signature"
            yield _item(
                INVALID_SIGNATURE,
                reference,
                f"Signature {_describe(signature)} no longer matches the signed content{note}.",
                getattr(record, "status", None),
            )


def _production_items(batch, with_qa):
    if with_qa and batch.completed_at is None:
        yield _item(
            PRODUCTION_NOT_COMPLETED,
            batch.batch_id,
            "Production was never completed: no quantities produced and no yield were recorded.",
            batch.status,
        )


def _yield_items(batch):
    if batch.yield_percentage is None or yield_within_limits(batch):
        return
    low = f"{batch.yield_limit_min}%" if batch.yield_limit_min is not None else "no minimum"
    high = f"{batch.yield_limit_max}%" if batch.yield_limit_max is not None else "no maximum"
    yield _item(
        YIELD_OUTSIDE_LIMITS,
        batch.batch_id,
        f"Yield {batch.yield_percentage}% is outside its limits ({low} – {high} of theoretical).",
        batch.status,
    )


def review_exceptions(batch):
    """Every item of `batch` a QA reviewer must look at; empty: review by exception.

    Loads what it needs unless the caller has prefetched it (see load_batch_contents).
    """
    load_batch_contents(batch)
    with_qa = batch.status in WITH_QA
    return [
        *_production_items(batch, with_qa),
        *_deviation_items(batch),
        *_step_items(batch, with_qa),
        *_material_items(batch, with_qa),
        *_equipment_items(batch, with_qa),
        *_yield_items(batch),
        *_signature_items(batch),
    ]


# --- the release gate ------------------------------------------------------------------


def unmet_release_conditions(batch):
    """Every condition that forbids releasing `batch` now, each with what it concerns."""
    load_batch_contents(batch)
    unmet = []
    # A batch held (quarantined) in production may come back to review unfinished.
    if batch.completed_at is None:
        unmet.append(
            _item(
                PRODUCTION_NOT_COMPLETED,
                batch.batch_id,
                f"Production of {batch.batch_id} was never completed (no quantities, no yield).",
                batch.status,
            )
        )
    unmet.extend(
        _item(
            STEP_NOT_PERFORMED,
            _step_ref(batch, step),
            f"Step {step.step_number} is '{step.status}': it must be completed or skipped.",
            step.status,
        )
        for step in _steps(batch)
        if step.status not in STEP_TERMINAL_STATUSES
    )
    for deviation in _deviations(batch):
        if deviation.status not in DEVIATION_SETTLED_STATUSES:
            unmet.append(
                _item(
                    DEVIATION_NOT_RESOLVED,
                    deviation.deviation_id,
                    f"Deviation {deviation.deviation_id} is '{deviation.status}': it must be resolved or closed.",
                    deviation.status,
                )
            )
    for material in _materials(batch):
        if material.status not in (MaterialStatus.CONSUMED, MaterialStatus.RETURNED):
            unmet.append(
                _item(
                    MATERIAL_NOT_RECONCILED,
                    _material_ref(batch, material),
                    f"Material {material.material_code} (line {material.line_number}) is '{material.status}': "
                    "it must be consumed or returned.",
                    material.status,
                )
            )
    for usage in _equipment(batch):
        if usage.status == EquipmentUsageStatus.IN_USE:
            unmet.append(
                _item(
                    EQUIPMENT_USAGE_NOT_ENDED,
                    _equipment_ref(batch, usage),
                    f"The use of {_equipment_ref(batch, usage)} has not been ended.",
                    usage.status,
                )
            )
    for step in _steps(batch):
        if _awaits_verification(step):
            unmet.append(
                _item(
                    STEP_NOT_VERIFIED,
                    _step_ref(batch, step),
                    f"Step {step.step_number} requires second-person verification and has not been verified.",
                    step.status,
                )
            )
    # A signature superseded by a later one (a signed correction) is in the review list; what
    # forbids release is a record whose content changed after it was last signed.
    for reference, record in _signed_records(batch):
        signatures = list(record.signatures.all())
        if signatures and not signatures[-1].is_valid_for(record.content_hash()):
            unmet.append(
                _item(
                    INVALID_SIGNATURE,
                    reference,
                    f"{reference} changed after its last signature ({_describe(signatures[-1])}): "
                    "the signed content no longer matches the record.",
                    getattr(record, "status", None),
                )
            )
    return unmet


def execution_roles_of(batch, user):
    """What `user` did in the execution of `batch` (performed, verified, dispensed, corrected,
    used equipment...), as short phrases; empty when they had no hand in it."""
    load_batch_contents(batch)
    done = []
    for step in _steps(batch):
        if step.operator_id == user.pk:
            done.append(f"performed step {step.step_number}")
        if step.verifier_id == user.pk:
            done.append(f"verified step {step.step_number}")
    for material in _materials(batch):
        for field, verb in (
            ("dispensed_by_id", "dispensed"),
            ("verified_by_id", "verified"),
            ("consumed_by_id", "consumed"),
        ):
            if getattr(material, field) == user.pk:
                done.append(f"{verb} material {material.material_code}")
    for usage in _equipment(batch):
        fields = ("started_by_id", "ended_by_id", "calibration_verified_by_id", "cleaning_verified_by_id")
        if any(getattr(usage, field) == user.pk for field in fields):
            done.append(f"used or checked {_equipment_ref(batch, usage)}")
    for reference, record in _signed_records(batch):
        if record is batch or isinstance(record, BatchDeviation):
            continue  # QA's own signatures (review, deviations) are not execution
        for signature in record.signatures.all():
            if signature.signer_id == user.pk:
                done.append(f"signed '{signature.meaning}' on {reference}")
    return list(dict.fromkeys(done))


# --- actions ---------------------------------------------------------------------------


def _required_reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["This action needs the reason why."]})
    return reason


@transaction.atomic
def submit_batch_for_review(batch, *, actor):
    """completed → under_review: production hands the batch record to QA."""
    batch = lock(batch)
    ensure_batch_open(batch, "submit_for_review")
    BATCH_WORKFLOW.apply(batch, "submit_for_review", actor)
    batch.save(actor=actor, reason="Submitted for QA review")
    # From now on, work left undone counts as an exception (see review_exceptions).
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated at submission for review")


@transaction.atomic
def record_batch_review(batch, *, actor, password, comment="", username=None):
    """QA documents its review of a batch under review: signed "reviewed" (21 CFR 211.192).
    The batch keeps its status; the release is a separate decision."""
    batch = lock(batch)
    ensure_batch_open(batch, "review")
    if not actor.has_perm(REVIEW_PERMISSION):
        raise NotPermitted("You do not have permission to review this record.")
    if batch.status != BatchStatus.UNDER_REVIEW:
        raise Conflict(
            f"Cannot review {batch.batch_id}: action 'review' is not allowed from status '{batch.status}' "
            "(only a batch under review is reviewed).",
            current_status=batch.status,
            action="review",
        )
    batch.reviewed_by = actor
    batch.reviewed_at = timezone.now()
    batch.save(actor=actor, reason=comment or "QA review documented")
    sign(batch, signer=actor, password=password, meaning=SignatureMeaning.REVIEWED, comment=comment, username=username)
    return batch


@transaction.atomic
def release_batch(batch, *, actor, password, comment="", username=None):
    """under_review → released, signed "released" by a QA approver independent of the
    batch's execution (21 CFR 211.22), once every release condition is met."""
    batch = lock(batch)
    ensure_batch_open(batch, "release")
    transition = BATCH_WORKFLOW.check(batch, "release", actor)
    load_batch_contents(batch, for_update=True)
    involvement = execution_roles_of(batch, actor)
    if involvement:
        raise NotPermitted(
            f"You cannot release {batch.batch_id}: you took part in its execution ({'; '.join(involvement)}). "
            "A batch is released by a QA approver independent of its manufacture (21 CFR 211.22).",
            involvement=involvement,
        )
    unmet = unmet_release_conditions(batch)
    if unmet:
        raise Conflict(
            f"Cannot release {batch.batch_id}: {len(unmet)} release condition(s) not met: "
            + " ".join(condition["message"] for condition in unmet),
            current_status=batch.status,
            action="release",
            unmet_conditions=unmet,
        )
    batch.status = transition.target
    batch.released_by = actor
    batch.release_date = timezone.now()
    batch.save(actor=actor, reason=comment or "Released by QA")
    sign(batch, signer=actor, password=password, meaning=SignatureMeaning.RELEASED, comment=comment, username=username)
    # The quantity produced enters stock as a released finished-goods lot, in this transaction.
    receive_finished_goods(batch, actor=actor)
    return batch


@transaction.atomic
def reject_batch(batch, *, actor, reason, password, comment="", username=None):
    """under_review|quarantined → rejected, with the reason and a signature "rejected"."""
    batch = lock(batch)
    ensure_batch_open(batch, "reject")
    BATCH_WORKFLOW.apply(batch, "reject", actor)
    reason = _required_reason(reason)
    batch.disposition_reason = reason
    batch.save(actor=actor, reason=f"Rejected: {reason}")
    sign(
        batch,
        signer=actor,
        password=password,
        meaning=SignatureMeaning.REJECTED,
        comment=comment or reason,
        username=username,
    )
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated at rejection")


@transaction.atomic
def quarantine_batch(batch, *, actor, reason):
    """in_progress|completed|under_review → quarantined: the batch is held, with the reason."""
    batch = lock(batch)
    ensure_batch_open(batch, "quarantine")
    BATCH_WORKFLOW.apply(batch, "quarantine", actor)
    reason = _required_reason(reason)
    batch.disposition_reason = reason
    batch.save(actor=actor, reason=f"Quarantined: {reason}")
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated at quarantine")


@transaction.atomic
def return_batch_to_review(batch, *, actor, reason):
    """quarantined → under_review: the hold is lifted, with the reason (the quarantine
    reason stays in the history)."""
    batch = lock(batch)
    ensure_batch_open(batch, "return_to_review")
    BATCH_WORKFLOW.apply(batch, "return_to_review", actor)
    reason = _required_reason(reason)
    batch.disposition_reason = ""
    batch.save(actor=actor, reason=f"Returned to review: {reason}")
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated on return to review")


def batch_review(batch):
    """What the review endpoint shows: the review list, the flag it gives, and the release
    conditions still unmet (empty: the batch may be released)."""
    exceptions = review_exceptions(batch)
    return {
        "batch": batch.pk,
        "batch_id": batch.batch_id,
        "status": batch.status,
        "review_by_exception": not exceptions,
        "exceptions": exceptions,
        "unmet_conditions": unmet_release_conditions(batch),
        "reviewed_by": batch.reviewed_by.get_username() if batch.reviewed_by_id else None,
        "reviewed_at": batch.reviewed_at,
    }
