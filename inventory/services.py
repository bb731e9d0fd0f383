"""Business actions on materials' lots and their ledger (21 CFR 211.84, 211.87, 211.184).

One rule holds everywhere: a lot's `quantity_on_hand` is the sum of its movements. Every
change goes through `record_movement`, which locks the lot row, appends the movement and
saves the lot in the caller's transaction; nothing else writes the quantity.

Which lots a quantity is drawn from (FEFO) and dispensing from them are in
`inventory.allocation`; this module is a lot's lifecycle: receipt, adjustment, release,
rejection, expiry, and the finished goods a batch produces.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.quantities import NON_NEGATIVE, NON_ZERO, POSITIVE, decimal_problem
from core.services import lock, sign

from .choices import LotStatus, MovementKind
from .models import Lot, LotMovement, Material
from .workflows import LOT_WORKFLOW

QUANTITY_PLACES = Decimal("0.0001")
QUANTITY_LIMIT = Decimal(10) ** 12
PRICE_LIMIT = Decimal(10) ** 10
FINISHED_GOODS_UNIT = "unit"


# --- values ----------------------------------------------------------------------------


def format_quantity(value):
    """A quantity as the API shows it: a Decimal string with 4 places."""
    return str(Decimal(value).quantize(QUANTITY_PLACES))


def clean_quantity(value, *, field, signed=False, limit=QUANTITY_LIMIT):
    """`value` as a Decimal with at most 4 places: > 0, or ≠ 0 when `signed`; else a 400
    naming `field`."""
    number, problem = decimal_problem(value, places=4, limit=limit, sign=NON_ZERO if signed else POSITIVE)
    if problem:
        raise ValidationError({field: [problem]})
    return number.quantize(QUANTITY_PLACES)


def clean_price(value, *, field="unit_price"):
    number, problem = decimal_problem(value, places=4, limit=PRICE_LIMIT, sign=NON_NEGATIVE)
    if problem:
        raise ValidationError({field: [problem]})
    return number.quantize(QUANTITY_PLACES)


def _check_site(actor, site):
    if site is None:
        raise ValidationError({"site": ["This field is required."]})
    if not actor.is_superuser and not actor.sites.filter(pk=site.pk).exists():
        raise ValidationError({"site": [f"You can only act for your own sites, and {site.code} is not one of them."]})


def _required_reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["This action needs the reason why."]})
    return reason


# --- the ledger ------------------------------------------------------------------------


@transaction.atomic
def record_movement(lot, *, kind, quantity, actor, reason="", batch=None, batch_material=None):
    """Append one movement to `lot`'s ledger and move its quantity on hand by `quantity`
    (signed), under the lot's row lock. The only writer of `quantity_on_hand`."""
    lot = lock(lot)
    balance = lot.quantity_on_hand + quantity
    if balance < 0:
        raise Conflict(
            f"Cannot take {format_quantity(-quantity)} from lot {lot.lot_id}: only "
            f"{format_quantity(lot.quantity_on_hand)} is on hand.",
            code="insufficient_stock",
            lot=lot.lot_id,
            quantity_on_hand=format_quantity(lot.quantity_on_hand),
        )
    LotMovement(
        lot=lot,
        kind=kind,
        quantity=quantity,
        balance_after=balance,
        batch=batch,
        batch_material=batch_material,
        actor=actor,
        reason=reason,
    ).save()
    lot.quantity_on_hand = balance
    lot.save(update_fields=["quantity_on_hand"], actor=actor, reason=reason or f"{kind} {quantity:+}")
    return lot


# --- receipt, adjustment, disposition ---------------------------------------------------


@transaction.atomic
def receive_lot(*, actor, material, site, supplier, quantity, expiry_date, supplier_lot="", unit_price=0, reason=""):
    """A lot received from a supplier: it enters quarantine until QA releases it
    (21 CFR 211.82(b), 211.84(a)); its quantity comes in as a receipt movement."""
    if not actor.has_perm("inventory.add_lot"):
        raise NotPermitted("You do not have permission to receive lots.")
    errors = {}
    try:
        _check_site(actor, site)
    except ValidationError as error:
        errors.update(error.message_dict)
    if material is None:
        errors["material"] = ["This field is required."]
    if not (supplier or "").strip():
        errors["supplier"] = ["The supplier of the lot is required."]
    if expiry_date is None:
        errors["expiry_date"] = ["A received lot needs its expiry (or retest) date (21 CFR 211.87)."]
    elif expiry_date < timezone.localdate():
        errors["expiry_date"] = [f"{expiry_date} is in the past: an expired lot cannot be received into stock."]
    cleaned = {}
    for name, clean in (
        ("quantity", lambda: clean_quantity(quantity, field="quantity")),
        ("unit_price", lambda: clean_price(unit_price)),
    ):
        try:
            cleaned[name] = clean()
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    lot = Lot(
        material=material,
        site=site,
        supplier=supplier.strip(),
        supplier_lot=(supplier_lot or "").strip(),
        expiry_date=expiry_date,
        unit_price=cleaned["unit_price"],
        status=LotStatus.QUARANTINE,
    )
    lot.save(actor=actor, reason=reason or f"Received from {lot.supplier}")
    return record_movement(
        lot,
        kind=MovementKind.RECEIPT,
        quantity=cleaned["quantity"],
        actor=actor,
        reason=reason or f"Received {cleaned['quantity']} {material.unit_of_measure} from {lot.supplier}",
    )


@transaction.atomic
def adjust_lot(lot, *, actor, quantity, reason):
    """A stock correction (count, spillage, write-off) of `quantity` (signed), with the
    reason, as an adjustment movement. The quantity on hand never goes below 0."""
    lot = lock(lot)
    LOT_WORKFLOW.check(lot, "adjust", actor)
    errors = {}
    try:
        reason = _required_reason(reason)
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        quantity = clean_quantity(quantity, field="quantity", signed=True)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    if lot.quantity_on_hand + quantity < 0:
        raise Conflict(
            f"Cannot adjust {lot.lot_id} by {format_quantity(quantity)}: only {format_quantity(lot.quantity_on_hand)} "
            "is on hand, and a lot never holds less than 0.",
            current_status=lot.status,
            action="adjust",
            quantity_on_hand=format_quantity(lot.quantity_on_hand),
        )
    return record_movement(lot, kind=MovementKind.ADJUSTMENT, quantity=quantity, actor=actor, reason=reason)


def is_past_expiry(lot, today=None):
    return lot.expiry_date is not None and lot.expiry_date < (today or timezone.localdate())


@transaction.atomic
def release_lot(lot, *, actor, password, comment="", username=None):
    """quarantine → released by the quality unit, signed "released" (21 CFR 211.84)."""
    lot = lock(lot)
    transition = LOT_WORKFLOW.check(lot, "release", actor)
    if is_past_expiry(lot):
        raise Conflict(
            f"Cannot release {lot.lot_id}: it expired on {lot.expiry_date}.",
            current_status=lot.status,
            action="release",
            expiry_date=lot.expiry_date.isoformat(),
        )
    lot.status = transition.target
    lot.released_by = actor
    lot.released_at = timezone.now()
    lot.save(actor=actor, reason=comment or "Released for use by QA")
    sign(lot, signer=actor, password=password, meaning=SignatureMeaning.RELEASED, comment=comment, username=username)
    return lot


@transaction.atomic
def reject_lot(lot, *, actor, reason, password, comment="", username=None):
    """quarantine|released → rejected, with the reason, signed "rejected" (21 CFR 211.84(e))."""
    lot = lock(lot)
    transition = LOT_WORKFLOW.check(lot, "reject", actor)
    reason = _required_reason(reason)
    lot.status = transition.target
    lot.disposition_reason = reason
    lot.save(actor=actor, reason=f"Rejected: {reason}")
    sign(
        lot,
        signer=actor,
        password=password,
        meaning=SignatureMeaning.REJECTED,
        comment=comment or reason,
        username=username,
    )
    return lot


@transaction.atomic
def expire_lot(lot, *, actor, reason=""):
    """quarantine|released → expired, once its expiry date has passed."""
    lot = lock(lot)
    transition = LOT_WORKFLOW.check(lot, "expire", actor)
    if not is_past_expiry(lot):
        when = "has no expiry date" if lot.expiry_date is None else f"expires on {lot.expiry_date}"
        raise Conflict(
            f"Cannot expire {lot.lot_id}: it {when}, which has not passed.",
            current_status=lot.status,
            action="expire",
        )
    lot.status = transition.target
    lot.disposition_reason = (reason or "").strip()
    lot.save(actor=actor, reason=lot.disposition_reason or f"Expired on {lot.expiry_date}")
    return lot


# --- finished goods ----------------------------------------------------------------------


def _product_material(batch, actor):
    """The Material of the batch's product code, created on first production."""
    mbr = batch.mbr
    material = Material.objects.filter(code=mbr.product_code).first()
    if material is not None:
        return material
    try:
        with transaction.atomic():
            material = Material(code=mbr.product_code, name=mbr.product_name, unit_of_measure=FINISHED_GOODS_UNIT)
            material.save(actor=actor, reason=f"Product of {mbr.mbr_id}, first produced by {batch.batch_id}")
    except IntegrityError:
        # Made meanwhile by the release of another batch of the same product.
        material = Material.objects.get(code=mbr.product_code)
    return material


@transaction.atomic
def receive_finished_goods(batch, *, actor):
    """At release, the quantity produced becomes a released finished-goods lot of the
    product (its lot ID from the counter; supplier: the site; supplier lot: the batch's lot
    number), valued at the batch's unit cost, with a production movement. The batch's
    "released" signature covers it. Once per batch; nothing when nothing was produced."""
    existing = Lot.objects.filter(produced_by_batch=batch).first()
    if existing is not None:
        return existing
    produced = batch.quantity_produced
    if produced is None or produced <= 0:
        return None
    material = _product_material(batch, actor)
    lot = Lot(
        material=material,
        site=batch.site,
        supplier=batch.site.name,
        supplier_lot=batch.lot_number,
        expiry_date=None,
        status=LotStatus.RELEASED,
        unit_price=batch.unit_cost or Decimal(0),
        produced_by_batch=batch,
        released_by=actor,
        released_at=batch.release_date or timezone.now(),
    )
    lot.save(actor=actor, reason=f"Finished goods of {batch.batch_id}, released with the batch")
    return record_movement(
        lot,
        kind=MovementKind.PRODUCTION,
        quantity=Decimal(produced).quantize(QUANTITY_PLACES),
        actor=actor,
        reason=f"Produced by {batch.batch_id} (lot {batch.lot_number})",
        batch=batch,
    )
