"""Business actions on batches: create one from an approved master batch record (a
snapshot), start and complete production.

Lock order, everywhere in batch execution: the batch row first, then its step (or
material, equipment use), so two tablets acting on the same batch queue up instead of
deadlocking.
"""

import copy
import os
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from batch_records.choices import (
    BatchStatus,
    DeviationType,
    MaterialStatus,
    MBRStatus,
)
from batch_records.costing import batch_cost_snapshot
from batch_records.models import BatchMaterial, BatchRecord, BatchStep
from batch_records.workflow_guards import open_materials  # noqa: F401 - part of this module's interface
from batch_records.workflows import BATCH_WORKFLOW
from core.exceptions import Conflict, NotPermitted
from core.quantities import NON_NEGATIVE, POSITIVE, decimal_problem, to_decimal
from core.services import lock
from inventory import reservations

from .deviations import open_batch_deviation
from .flags import refresh_batch_flags
from .guards import MATERIAL_LIMIT, MATERIAL_PLACES, yield_within_limits

# Places of the model fields: quantities of product, of material, and the yield percentage.
QUANTITY_PLACES = 3
QUANTITY_LIMIT = Decimal(10) ** 11
YIELD_PLACES = Decimal("0.01")
YIELD_LIMIT = Decimal(10) ** 5


def clean_quantity(value, *, allow_zero):
    """`value` as a Decimal fit for a product quantity; a ValidationError says what is wrong."""
    sign = NON_NEGATIVE if allow_zero else POSITIVE
    number, problem = decimal_problem(value, places=QUANTITY_PLACES, limit=QUANTITY_LIMIT, sign=sign)
    if problem:
        raise ValidationError(problem)
    return number


def _clean_quantities(**values):
    """{name: Decimal} for quantities that must be > 0 (planned) or ≥ 0 (produced, rejected)."""
    cleaned, errors = {}, {}
    for name, (value, allow_zero) in values.items():
        try:
            cleaned[name] = clean_quantity(value, allow_zero=allow_zero)
        except ValidationError as error:
            errors[name] = error.messages
    return cleaned, errors


# --- creation --------------------------------------------------------------------------


def _check_mbr_usable(mbr):
    """Only an approved MBR that is already effective may be executed (21 CFR 211.186)."""
    if mbr.status != MBRStatus.APPROVED:
        raise Conflict(
            f"Cannot create a batch from {mbr.mbr_id} (version {mbr.version}): it is '{mbr.status}', and a batch "
            "can only be made from an approved master batch record.",
            current_status=mbr.status,
            action="create_batch",
        )
    today = timezone.localdate()
    if mbr.effective_date is None or mbr.effective_date > today:
        when = "has no effective date" if mbr.effective_date is None else f"is effective from {mbr.effective_date}"
        raise Conflict(
            f"Cannot create a batch from {mbr.mbr_id} (version {mbr.version}): it {when}, and a batch can only "
            f"be made from a master batch record already in effect (today is {today}).",
            current_status=mbr.status,
            action="create_batch",
            effective_date=mbr.effective_date,
        )


def _material_quantity(line, quantity_planned):
    """quantity_per_unit × quantity_planned, in Decimal, rounded half-up to 4 places."""
    required = (to_decimal(line["quantity_per_unit"]) * quantity_planned).quantize(MATERIAL_PLACES, ROUND_HALF_UP)
    code = line["material_code"]
    if required <= 0:
        raise ValidationError(
            {"quantity_planned": [f"{code}: the required quantity rounds to 0 at 4 decimal places; plan more."]}
        )
    if required >= MATERIAL_LIMIT:
        raise ValidationError({"quantity_planned": [f"{code}: the required quantity {required} is too large."]})
    return required


def _save_new_batch(batch, *, actor, reason):
    """Insert `batch`; a batch number taken meanwhile by a concurrent creation is a 400."""
    try:
        with transaction.atomic():
            batch.save(actor=actor, reason=reason)
    except IntegrityError as error:
        if BatchRecord.objects.filter(batch_number=batch.batch_number).exists():
            raise ValidationError(
                {"batch_number": [f"Batch number {batch.batch_number} is already used by another batch."]}
            ) from error
        raise


@transaction.atomic
def create_batch(mbr, *, actor, batch_number, lot_number, quantity_planned, site, production_line=""):
    """A pending batch made from `mbr`, with one step per instruction and one material per
    bill-of-materials line copied from it: later changes to the MBR never alter the batch."""
    if not actor.has_perm("batch_records.add_batchrecord"):
        raise NotPermitted("You do not have permission to create a batch.")
    # Locked so that the MBR cannot be superseded or made obsolete while it is copied.
    mbr = lock(mbr)
    _check_mbr_usable(mbr)

    cleaned, errors = _clean_quantities(quantity_planned=(quantity_planned, False))
    if site is None:
        errors["site"] = ["This field is required."]
    elif not actor.is_superuser and not actor.sites.filter(pk=site.pk).exists():
        errors["site"] = [f"You can only create batches for your own sites, and {site.code} is not one of them."]
    if batch_number and BatchRecord.objects.filter(batch_number=batch_number).exists():
        errors["batch_number"] = [f"Batch number {batch_number} is already used by another batch."]
    batch = BatchRecord(
        mbr=mbr,
        site=site,
        batch_number=batch_number,
        lot_number=lot_number,
        production_line=production_line or "",
        quantity_planned=cleaned.get("quantity_planned"),
        yield_limit_min=mbr.yield_limit_min,
        yield_limit_max=mbr.yield_limit_max,
        is_serialized=mbr.is_serialized,
        status=BatchStatus.PENDING,
        # Nothing has happened yet that a reviewer would need to look at (see batch_flags).
        has_deviations=False,
        review_by_exception=True,
    )
    try:
        batch.full_clean(exclude=["batch_id", *errors], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    quantities = [_material_quantity(line, batch.quantity_planned) for line in mbr.bill_of_materials]

    _save_new_batch(batch, actor=actor, reason=f"Created from {mbr.mbr_id} version {mbr.version}")
    snapshot = f"Snapshot of {mbr.mbr_id} version {mbr.version}"
    for instruction in sorted(mbr.manufacturing_instructions, key=lambda step: step["step_number"]):
        BatchStep(
            batch=batch,
            step_number=instruction["step_number"],
            instruction_text=instruction["instruction_text"],
            required_data_fields=copy.deepcopy(instruction.get("required_data_fields", [])),
            specifications=copy.deepcopy(instruction.get("specifications", {})),
            requires_verification=bool(instruction.get("requires_verification", False)),
            requires_separate_start=bool(instruction.get("requires_separate_start", False)),
        ).save(actor=actor, reason=snapshot)
    for line_number, (line, required) in enumerate(zip(mbr.bill_of_materials, quantities, strict=True), start=1):
        BatchMaterial(
            batch=batch,
            line_number=line_number,
            material_code=line["material_code"],
            material_name=line["material_name"],
            unit_of_measure=line["unit_of_measure"],
            quantity_required=required,
        ).save(actor=actor, reason=snapshot)
    return batch


# --- production ------------------------------------------------------------------------


def record_start(batch, act):
    """Steps can be executed from now on; the batch's materials are reserved."""
    batch.started_at = timezone.now()
    act.history_reason = "Production started"
    act.then(lambda: reserve_batch_materials(batch, actor=act.actor))


def reserve_batch_materials(batch, *, actor):
    """The stock a started batch is promised: each pending line of a material kept in the
    inventory reserves, FEFO, what it requires from what other batches leave free
    (inventory.reservations; what is short shows in the batch's availability)."""
    lines = list(batch.materials.filter(status=MaterialStatus.PENDING).order_by("line_number", "id"))
    return reservations.reserve_for_lines(batch, lines, actor=actor)


def start_batch(batch, *, actor):
    """pending → in_progress."""
    return BATCH_WORKFLOW.perform(batch, "start", actor=actor)


def _yield_deviation_text(batch):
    low, high = batch.yield_limit_min, batch.yield_limit_max
    limits = " – ".join(
        [f"{low}%" if low is not None else "no minimum", f"{high}%" if high is not None else "no maximum"]
    )
    return (
        f"Yield {batch.yield_percentage}% is outside the acceptable limits ({limits} of theoretical): "
        f"{batch.quantity_produced} produced of {batch.quantity_planned} planned "
        f"({batch.quantity_rejected} rejected). 21 CFR 211.192: to be investigated before release."
    )


def declared_quantity_limit_percent():
    """The most that quantity_produced + quantity_rejected may be, in percent of the planned
    quantity, before the figure is refused as a mistake rather than recorded."""
    raw = getattr(settings, "EBR_DECLARED_QUANTITY_MAX_PERCENT", None) or os.environ.get(
        "EBR_DECLARED_QUANTITY_MAX_PERCENT", "200"
    )
    try:
        limit = Decimal(str(raw))
    except InvalidOperation as error:
        raise ImproperlyConfigured(f"EBR_DECLARED_QUANTITY_MAX_PERCENT must be a number, not {raw!r}.") from error
    if not limit.is_finite() or not 100 <= limit < YIELD_LIMIT:
        raise ImproperlyConfigured(
            f"EBR_DECLARED_QUANTITY_MAX_PERCENT must be a number from 100 to below {YIELD_LIMIT}, not {raw!r}."
        )
    return limit


def _check_declared_quantity(batch):
    """Seed 000: the quantities declared at completion must account for what was made.

    A serialized batch's figures must equal its unit counts (serials checks that as the
    batch is saved completed). For any batch, produced + rejected beyond the plausible
    limit (EBR_DECLARED_QUANTITY_MAX_PERCENT of planned, 200 by default; 100× planned is a
    typing error, not a yield) is refused with a 400 naming both numbers; between the
    MBR's yield limits and that limit the figure is recorded and opens a yield deviation."""
    declared = batch.quantity_produced + batch.quantity_rejected
    limit = declared_quantity_limit_percent()
    ceiling = batch.quantity_planned * limit / 100
    if declared > ceiling:
        message = (
            f"quantity_produced + quantity_rejected = {declared} is more than {limit.normalize():f}% of the "
            f"{batch.quantity_planned} planned: not a plausible figure for this batch; check the quantities."
        )
        raise ValidationError({"quantity_produced": [message], "quantity_rejected": [message]})


def record_completion(batch, act, *, quantity_produced, quantity_rejected):
    """The yield is computed here, never taken from the client (21 CFR 211.186(b)(7)); a
    yield outside the batch's limits opens a process deviation (21 CFR 211.192)."""
    cleaned, errors = _clean_quantities(
        quantity_produced=(quantity_produced, True),
        quantity_rejected=(quantity_rejected, True),
    )
    if errors:
        raise ValidationError(errors)
    batch.quantity_produced = cleaned["quantity_produced"]
    batch.quantity_rejected = cleaned["quantity_rejected"]
    _check_declared_quantity(batch)
    yield_percentage = (batch.quantity_produced / batch.quantity_planned * 100).quantize(YIELD_PLACES, ROUND_HALF_UP)
    batch.yield_percentage = yield_percentage
    batch.completed_at = timezone.now()
    # Seed 001: the cost is captured once, at completion, and never recomputed.
    for name, value in batch_cost_snapshot(batch).items():
        setattr(batch, name, value)
    act.history_reason = f"Production completed: yield {yield_percentage}%"

    def followup():
        reservations.release_batch_reservations(batch, actor=act.actor, reason=f"{batch.batch_id} completed")
        if not yield_within_limits(batch):
            open_batch_deviation(
                batch,
                actor=act.actor,
                deviation_type=DeviationType.PROCESS_DEVIATION,
                description=_yield_deviation_text(batch),
            )
        act.result = refresh_batch_flags(batch, actor=act.actor, reason="Flags updated at completion")

    act.then(followup)


def complete_batch(batch, *, actor, quantity_produced, quantity_rejected):
    """in_progress → completed once every step is completed, deviated or skipped and every
    material line is consumed or returned (409 listing what is open), with plausible
    declared quantities (400 naming both numbers otherwise)."""
    return BATCH_WORKFLOW.perform(
        batch, "complete", actor=actor, quantity_produced=quantity_produced, quantity_rejected=quantity_rejected
    )
