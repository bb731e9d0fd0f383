"""What QA must look at in an executed batch, and what still forbids its release: one table
of rules (21 CFR 211.22, 211.192; EU GMP Annex 11 §8.2).

Each rule names its kind, the records it looks at, when it holds, one message, and where it
counts:

- in the review list (`review_exceptions`): ALWAYS, WITH_QA (work left undone is part of
  production while the batch is made, an exception once it is with QA), or never (None).
  The batch may be reviewed by exception only when the list is empty (`flags` stores it).
- in the release gate (`unmet_release_conditions`): `blocks_release`. `release_batch`
  refuses with all of them at once.

Both lists are read from the same table in its order (the batch, its deviations, steps,
materials, equipment uses, yield, signatures; record by record), from one read of the batch
and everything in it (`load_batch_contents`, a fixed number of queries).
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, prefetch_related_objects

from batch_records.choices import (
    DEVIATION_SETTLED_STATUSES,
    STEP_TERMINAL_STATUSES,
    BatchStatus,
    EquipmentUsageStatus,
    MaterialStatus,
    StepStatus,
)
from batch_records.models import BatchDeviation, BatchEquipment, BatchMaterial, BatchStep
from core.verification import verify_record

from .guards import material_tolerance_percent, yield_within_limits

# From submission for review on, whatever production left undone is an exception.
WITH_QA_STATUSES = (BatchStatus.UNDER_REVIEW, BatchStatus.QUARANTINED, BatchStatus.RELEASED, BatchStatus.REJECTED)
ALWAYS, WITH_QA = "always", "with_qa"
PERCENT_PLACES = Decimal("0.01")


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


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of a signed record, as the signature rule looks at it."""

    reference: str
    record: object
    signature: object
    valid: bool
    is_latest: bool
    latest: object  # the record's latest signature
    latest_valid: bool


def _signature_checks(batch):
    for reference, record in _signed_records(batch):
        signatures = list(record.signatures.all())
        if not signatures:
            continue
        current = record.content_hash()
        latest_valid = signatures[-1].is_valid_for(current)
        for index, signature in enumerate(signatures):
            valid = signature.is_valid_for(current) if index < len(signatures) - 1 else latest_valid
            yield SignatureCheck(
                reference, record, signature, valid, index == len(signatures) - 1, signatures[-1], latest_valid
            )


def _awaits_verification(step):
    performed = step.status in (StepStatus.COMPLETED, StepStatus.DEVIATED)
    return step.requires_verification and performed and step.verifier_id is None


def _usage_difference(material):
    """How far the quantity used is from the quantity required, in percent (signed)."""
    difference = (material.quantity_used - material.quantity_required) / material.quantity_required * 100
    return difference.quantize(PERCENT_PLACES)


def _outside_tolerance(material, tolerance):
    return (
        material.status == MaterialStatus.CONSUMED
        and material.quantity_used is not None
        and abs(_usage_difference(material)) > tolerance
    )


def _tolerance_message(material, tolerance):
    unit = material.unit_of_measure
    return (
        f"{material.quantity_used} {unit} used against {material.quantity_required} {unit} required "
        f"({_usage_difference(material):+}%; tolerance ±{tolerance}%)."
    )


def _yield_message(batch):
    low = f"{batch.yield_limit_min}%" if batch.yield_limit_min is not None else "no minimum"
    high = f"{batch.yield_limit_max}%" if batch.yield_limit_max is not None else "no maximum"
    return f"Yield {batch.yield_percentage}% is outside its limits ({low} – {high} of theoretical)."


def _signature_message(check):
    if check.latest_valid:
        note = f" (signed again since: {_describe(check.latest)})"
    else:
        note = "; the record changed after its last signature"
    return f"Signature {_describe(check.signature)} no longer matches the signed content{note}."


# --- the rule table --------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What a group of rules looks at: its records, each record's reference and status.
    `context` is computed once per read (e.g. a setting) and passed to every rule."""

    records: Callable
    reference: Callable
    status: Callable
    context: Callable = lambda batch: None


@dataclass(frozen=True)
class Rule:
    kind: str
    subject: Subject
    holds: Callable  # (record, context) -> bool
    message: Callable  # (record, context) -> str
    review: str | None  # ALWAYS, WITH_QA or None (not in the review list)
    blocks_release: bool | Callable  # or (record) -> bool: which of its items block


BATCH = Subject(lambda batch: [batch], lambda batch, record: batch.batch_id, lambda record: record.status)
# The batch again, once its contents are listed: what production gave.
OUTCOME = Subject(lambda batch: [batch], lambda batch, record: batch.batch_id, lambda record: record.status)
DEVIATIONS = Subject(_deviations, lambda batch, deviation: deviation.deviation_id, lambda record: record.status)
STEPS = Subject(_steps, _step_ref, lambda record: record.status)
MATERIALS = Subject(_materials, _material_ref, lambda record: record.status, lambda batch: material_tolerance_percent())
EQUIPMENT = Subject(_equipment, _equipment_ref, lambda record: record.status)
SIGNATURES = Subject(
    _signature_checks, lambda batch, check: check.reference, lambda check: getattr(check.record, "status", None)
)
# The batch's audit trail against its keyed hash chain (core.verification), recomputed only
# where a rule asks for it: at the release gate and in the review QA reads, never in the
# flags kept at each write.
AUDIT_TRAIL = Subject(
    lambda batch: [batch], lambda batch, record: batch.batch_id, lambda record: record.status, verify_record
)
AUDIT_TRAIL_BROKEN = "audit_trail_broken"


def _deviation_message(deviation, context):
    where = f" in step {deviation.batch_step.step_number}" if deviation.batch_step_id else ""
    return (
        f"{deviation.deviation_id} ({deviation.get_deviation_type_display().lower()}{where}) is "
        f"{deviation.status}: {deviation.description}"
    )


def _not_reconciled(material, context):
    return material.status not in (MaterialStatus.CONSUMED, MaterialStatus.RETURNED)


RULES = (
    Rule(
        "production_not_completed",
        BATCH,
        lambda batch, context: batch.completed_at is None,
        lambda batch, context: "Production was never completed: no quantities produced and no yield were recorded.",
        review=WITH_QA,
        blocks_release=True,
    ),
    Rule(
        "deviation",
        DEVIATIONS,
        lambda deviation, context: True,
        _deviation_message,
        review=ALWAYS,
        blocks_release=False,
    ),
    Rule(
        "deviation_not_resolved",
        DEVIATIONS,
        lambda deviation, context: deviation.status not in DEVIATION_SETTLED_STATUSES,
        lambda deviation, context: (
            f"Deviation {deviation.deviation_id} is '{deviation.status}': it must be resolved or closed."
        ),
        review=None,  # every deviation is in the review list already
        blocks_release=True,
    ),
    Rule(
        "step_out_of_spec",
        STEPS,
        lambda step, context: step.status == StepStatus.DEVIATED or step.is_within_spec is False,
        lambda step, context: f"Step {step.step_number} was recorded out of specification: {step.actual_values}.",
        review=ALWAYS,
        blocks_release=False,
    ),
    Rule(
        "step_skipped",
        STEPS,
        lambda step, context: step.status == StepStatus.SKIPPED,
        lambda step, context: f"Step {step.step_number} was skipped: {step.skip_reason}",
        review=ALWAYS,
        blocks_release=False,
    ),
    Rule(
        "step_corrected",
        STEPS,
        lambda step, context: bool(step.correction_count),
        lambda step, context: (
            f"The values of step {step.step_number} were corrected {step.correction_count} time(s) after "
            "completion; the reasons are in its history."
        ),
        review=ALWAYS,
        blocks_release=False,
    ),
    Rule(
        "step_not_performed",
        STEPS,
        lambda step, context: step.status not in STEP_TERMINAL_STATUSES,
        lambda step, context: f"Step {step.step_number} is '{step.status}': it must be completed or skipped.",
        review=WITH_QA,
        blocks_release=True,
    ),
    Rule(
        "step_not_verified",
        STEPS,
        lambda step, context: _awaits_verification(step),
        lambda step, context: f"Step {step.step_number} requires second-person verification and has not been verified.",
        review=WITH_QA,
        blocks_release=True,
    ),
    Rule(
        "material_outside_tolerance",
        MATERIALS,
        _outside_tolerance,
        _tolerance_message,
        review=ALWAYS,
        blocks_release=False,
    ),
    Rule(
        "material_not_verified",
        MATERIALS,
        lambda material, context: material.dispensed_by_id is not None and material.verified_by_id is None,
        lambda material, context: (
            f"Lot {material.lot_number} was dispensed ({material.quantity_dispensed} {material.unit_of_measure}) "
            "and its dispensing was not verified by a second person."
        ),
        review=WITH_QA,
        blocks_release=False,
    ),
    Rule(
        "material_not_consumed_or_returned",
        MATERIALS,
        _not_reconciled,
        lambda material, context: (
            f"Material {material.material_code} (line {material.line_number}) is '{material.status}': "
            "it must be consumed or returned."
        ),
        review=WITH_QA,
        blocks_release=True,
    ),
    Rule(
        "equipment_usage_not_ended",
        EQUIPMENT,
        lambda usage, context: usage.status == EquipmentUsageStatus.IN_USE,
        lambda usage, context: f"In use since {usage.usage_start:%Y-%m-%d %H:%M} UTC; its use has not been ended.",
        review=WITH_QA,
        blocks_release=True,
    ),
    Rule(
        "equipment_not_used",
        EQUIPMENT,
        lambda usage, context: usage.status == EquipmentUsageStatus.NOT_STARTED,
        lambda usage, context: "Logged for the batch but never used.",
        review=WITH_QA,
        blocks_release=False,
    ),
    Rule(
        "yield_outside_limits",
        OUTCOME,
        lambda batch, context: batch.yield_percentage is not None and not yield_within_limits(batch),
        lambda batch, context: _yield_message(batch),
        review=ALWAYS,
        blocks_release=False,
    ),
    # Every signature that no longer matches is looked at; what forbids release is a record
    # whose content changed after it was last signed (an earlier signature superseded by a
    # signed correction does not).
    Rule(
        "invalid_signature",
        SIGNATURES,
        lambda check, context: not check.valid,
        lambda check, context: _signature_message(check),
        review=ALWAYS,
        blocks_release=lambda check: check.is_latest,
    ),
    # Listed first in the review by batch_review (see there).
    Rule(
        AUDIT_TRAIL_BROKEN,
        AUDIT_TRAIL,
        lambda batch, report: not report.intact,
        lambda batch, report: (
            f"The audit trail of {batch.batch_id} does not verify: {report.breaks[0]}. "
            "A record may have been changed outside the application."
        ),
        review=None,
        blocks_release=True,
    ),
)


def _item(kind, reference, message, status=None):
    return {"kind": kind, "reference": reference, "status": status, "message": message}


def _evaluate(batch, applies, for_release=False):
    """The items of the rules `applies(rule)` selects: subject by subject in table order,
    record by record, each record's rules in table order. `for_release`: only the items
    that block release."""
    load_batch_contents(batch)
    items = []
    subjects = list(dict.fromkeys(rule.subject for rule in RULES))
    for subject in subjects:
        rules = [rule for rule in RULES if rule.subject is subject and applies(rule)]
        if not rules:
            continue
        context = subject.context(batch)
        for record in subject.records(batch):
            reference, status = subject.reference(batch, record), subject.status(record)
            items.extend(
                _item(rule.kind, reference, rule.message(record, context), status)
                for rule in rules
                if rule.holds(record, context) and (not for_release or _blocks(rule, record))
            )
    return items


def _blocks(rule, record):
    return rule.blocks_release(record) if callable(rule.blocks_release) else rule.blocks_release


def review_exceptions(batch):
    """Every item of `batch` a QA reviewer must look at; empty: review by exception.

    Loads what it needs unless the caller has prefetched it (see load_batch_contents).
    """
    with_qa = batch.status in WITH_QA_STATUSES
    return _evaluate(batch, lambda rule: rule.review == ALWAYS or (rule.review == WITH_QA and with_qa))


def unmet_release_conditions(batch):
    """Every condition that forbids releasing `batch` now, each with what it concerns."""
    return _evaluate(batch, lambda rule: rule.blocks_release is not False, for_release=True)


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


def batch_review(batch):
    """What the review endpoint shows: the review list, the flag it gives, and the release
    conditions still unmet (empty: the batch may be released)."""
    unmet = unmet_release_conditions(batch)
    # A broken audit trail heads the review list too (verified once, for both lists).
    exceptions = [item for item in unmet if item["kind"] == AUDIT_TRAIL_BROKEN] + review_exceptions(batch)
    return {
        "batch": batch.pk,
        "batch_id": batch.batch_id,
        "status": batch.status,
        "review_by_exception": not exceptions,
        "exceptions": exceptions,
        "unmet_conditions": unmet,
        "reviewed_by": batch.reviewed_by.get_username() if batch.reviewed_by_id else None,
        "reviewed_at": batch.reviewed_at,
    }
