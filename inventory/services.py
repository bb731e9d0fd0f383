"""Business actions on materials' lots and their ledger (21 CFR 211.84, 211.87, 211.184).

One rule holds everywhere: a lot's `quantity_on_hand` is the sum of its movements. Every
change goes through `record_movement`, which locks the lot row, appends the movement and
saves the lot in the caller's transaction; nothing else writes the quantity.

Lock order (the one of batch execution, extended): the batch row, then the batch
material, then the lots in primary-key order. Dispensing locks every usable lot of the
material at the site before it plans, so two dispenses of the same material queue up on
the lots and never both take the last kilogram.
"""

from collections import namedtuple
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from batch_records.specifications import to_decimal
from core import units
from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.services import lock, sign

from .choices import LotStatus, MovementKind
from .conf import require_inventory_lots
from .models import BatchMaterialLot, Lot, LotMovement, Material
from .workflows import LOT_WORKFLOW

QUANTITY_PLACES = Decimal("0.0001")
QUANTITY_LIMIT = Decimal(10) ** 12
PRICE_LIMIT = Decimal(10) ** 10
LOT_NUMBER_LENGTH = 50  # BatchMaterial.lot_number keeps a readable summary of the lots drawn
FINISHED_GOODS_UNIT = "unit"

Draw = namedtuple("Draw", ["lot", "quantity"])
# What a dispense drew: the lot number summary, and the quantity in the unit the material
# is kept in (None when it drew from no lot).
Drawn = namedtuple("Drawn", ["lot_number", "stock_quantity", "stock_unit"])


# --- values ----------------------------------------------------------------------------


def format_quantity(value):
    """A quantity as the API shows it: a Decimal string with 4 places."""
    return str(Decimal(value).quantize(QUANTITY_PLACES))


def clean_quantity(value, *, field, signed=False, limit=QUANTITY_LIMIT):
    """`value` as a Decimal with at most 4 places: > 0, or ≠ 0 when `signed`; else a 400
    naming `field`."""
    number = value if isinstance(value, Decimal) else to_decimal(value)
    problem = None
    if number is None or not number.is_finite():
        problem = "must be a decimal number"
    elif number == 0 or (number < 0 and not signed):
        problem = "must not be 0" if signed else "must be greater than 0"
    elif abs(number) >= limit:
        problem = f"must be less than {limit}" if not signed else f"must be between -{limit} and {limit}"
    elif number != number.quantize(QUANTITY_PLACES):
        problem = "must have at most 4 decimal places"
    if problem:
        raise ValidationError({field: [problem]})
    return number.quantize(QUANTITY_PLACES)


def clean_price(value, *, field="unit_price"):
    number = value if isinstance(value, Decimal) else to_decimal(value)
    problem = None
    if number is None or not number.is_finite():
        problem = "must be a decimal number"
    elif number < 0:
        problem = "must not be negative"
    elif number >= PRICE_LIMIT:
        problem = f"must be less than {PRICE_LIMIT}"
    elif number != number.quantize(QUANTITY_PLACES):
        problem = "must have at most 4 decimal places"
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


# --- planning: which lots a quantity is drawn from --------------------------------------


def fefo_key(lot):
    """First expired, first out; lots without an expiry date last; then by lot ID
    (numerically: LOT-9999 before LOT-10000)."""
    return (lot.expiry_date is None, lot.expiry_date or date.max, len(lot.lot_id), lot.lot_id)


def usable_lots(material_code, *, site, for_update=False):
    """The lots of `material_code` at `site` that may be dispensed now, in FEFO order:
    released, not past their expiry date (expiry_date ≥ today), with stock on hand."""
    today = timezone.localdate()
    queryset = Lot.objects.filter(
        Q(expiry_date__isnull=True) | Q(expiry_date__gte=today),
        material__code=material_code,
        site=site,
        status=LotStatus.RELEASED,
        quantity_on_hand__gt=0,
    ).select_related("material")
    if for_update:
        # Locked in primary-key order by everyone: no two dispenses deadlock.
        queryset = queryset.select_for_update(of=("self",)).order_by("pk")
    return sorted(queryset, key=fefo_key)


def _shortage(material_code, required, available, *, lot=None):
    shortage = required - available
    where = f" in lot {lot.lot_id}" if lot is not None else " in released, unexpired lots at this site"
    extra = {"lot": lot.lot_id} if lot is not None else {}
    return Conflict(
        f"Not enough {material_code}{where}: {format_quantity(required)} required, "
        f"{format_quantity(available)} available, {format_quantity(shortage)} short.",
        code="insufficient_stock",
        material_code=material_code,
        required=format_quantity(required),
        available=format_quantity(available),
        shortage=format_quantity(shortage),
        **extra,
    )


def _unusable(lot, material_code, today):
    """Why `lot` may not be dispensed as `material_code` (a 409), or None."""
    if lot.material.code != material_code:
        return Conflict(
            f"Lot {lot.lot_id} is material {lot.material.code}, not {material_code}.",
            code="wrong_material",
            lot=lot.lot_id,
            lot_status=lot.status,
            lot_material_code=lot.material.code,
            material_code=material_code,
        )
    if lot.status != LotStatus.RELEASED:
        return Conflict(
            f"Lot {lot.lot_id} of {material_code} is '{lot.status}': only released lots may be used (21 CFR 211.84).",
            code="lot_not_released",
            lot=lot.lot_id,
            lot_status=lot.status,
            material_code=material_code,
        )
    if is_past_expiry(lot, today):
        return Conflict(
            f"Lot {lot.lot_id} of {material_code} expired on {lot.expiry_date} (status '{lot.status}'): "
            "an expired lot may not be used (21 CFR 211.87).",
            code="lot_expired",
            lot=lot.lot_id,
            lot_status=LotStatus.EXPIRED,
            expiry_date=lot.expiry_date.isoformat(),
            material_code=material_code,
        )
    return None


def _clean_lot_plan(lot_plan, quantity):
    """[(lot_id, quantity)] from a plan [{"lot", "quantity"}]; 400 naming the bad entry."""
    if not isinstance(lot_plan, (list, tuple)) or not lot_plan:
        raise ValidationError({"lot_plan": ["A lot plan is a non-empty list of {lot, quantity}."]})
    entries, seen = [], set()
    for index, entry in enumerate(lot_plan):
        lot_id = entry.get("lot") if isinstance(entry, dict) else None
        if not isinstance(lot_id, str) or not lot_id.strip():
            raise ValidationError({f"lot_plan[{index}].lot": ["The lot ID (e.g. LOT-0001) is required."]})
        lot_id = lot_id.strip()
        if lot_id in seen:
            raise ValidationError({f"lot_plan[{index}].lot": [f"Lot {lot_id} is named twice in the plan."]})
        seen.add(lot_id)
        entries.append((lot_id, clean_quantity(entry.get("quantity"), field=f"lot_plan[{index}].quantity")))
    total = sum((planned for _, planned in entries), Decimal(0))
    if quantity is not None and total != quantity:
        raise ValidationError(
            {"lot_plan": [f"The plan draws {format_quantity(total)}, not the {format_quantity(quantity)} dispensed."]}
        )
    return entries


def plan_lots(material_code, quantity, *, site, lot_plan=None, for_update=False):
    """The lots `quantity` of `material_code` is drawn from at `site`, as [Draw(lot,
    quantity)] in the order drawn.

    Without a plan, FEFO (seed 001, auto-FIFO by earliest expiry): released, unexpired lots,
    earliest expiry first, ties by lot ID. With an explicit plan [{"lot", "quantity"}],
    each lot is checked: another material, not released, or past expiry is a 409 naming
    the lot and its status. Not enough stock is a 409 with the material code and the
    quantities required, available and short. Changes nothing.
    """
    quantity = clean_quantity(quantity, field="quantity")
    if lot_plan is None:
        lots = usable_lots(material_code, site=site, for_update=for_update)
        available = sum((lot.quantity_on_hand for lot in lots), Decimal(0))
        if available < quantity:
            raise _shortage(material_code, quantity, available)
        draws, remaining = [], quantity
        for lot in lots:
            if remaining <= 0:
                break
            taken = min(remaining, lot.quantity_on_hand)
            draws.append(Draw(lot, taken))
            remaining -= taken
        return draws

    entries = _clean_lot_plan(lot_plan, quantity)
    queryset = Lot.objects.filter(lot_id__in=[lot_id for lot_id, _ in entries], site=site).select_related("material")
    if for_update:
        queryset = queryset.select_for_update(of=("self",)).order_by("pk")
    lots = {lot.lot_id: lot for lot in queryset}
    today = timezone.localdate()
    draws = []
    for index, (lot_id, planned) in enumerate(entries):
        lot = lots.get(lot_id)
        if lot is None:
            raise ValidationError({f"lot_plan[{index}].lot": [f"There is no lot {lot_id} at site {site.code}."]})
        refusal = _unusable(lot, material_code, today)
        if refusal is not None:
            raise refusal
        if lot.quantity_on_hand < planned:
            raise _shortage(material_code, planned, lot.quantity_on_hand, lot=lot)
        draws.append(Draw(lot, planned))
    return draws


# --- dispensing from lots and returning to them -----------------------------------------


def to_stock_unit(stock_material, quantity, unit, *, field="quantity"):
    """`quantity` in `unit` (a bill-of-materials line's) as a quantity of the unit
    `stock_material` is kept in, exactly at the ledger's 4 places (core.units): 1.5 g of a
    material kept in kg is 0.0015 kg. A unit that does not convert, or a quantity finer
    than the ledger records, is a 400 naming `field`."""
    try:
        return units.convert_exactly(
            quantity, unit, stock_material.unit_of_measure, places=QUANTITY_PLACES, density=stock_material.density
        )
    except units.UnitError as error:
        raise ValidationError({field: [str(error)]}) from error


def _lot_plan_in_stock_unit(lot_plan, stock_material, unit):
    """The plan with each entry's quantity (given in the line's unit) in the stock unit."""
    if not isinstance(lot_plan, (list, tuple)):
        return lot_plan
    converted = []
    for index, entry in enumerate(lot_plan):
        if not isinstance(entry, dict):
            converted.append(entry)
            continue
        field = f"lot_plan[{index}].quantity"
        quantity = clean_quantity(entry.get("quantity"), field=field)
        converted.append({**entry, "quantity": to_stock_unit(stock_material, quantity, unit, field=field)})
    return converted


def dispense_source_errors(lot_number, lot_plan, auto):
    """Field errors unless exactly one of lot_number, lot_plan, auto says where from."""
    given = [name for name, value in (("lot_number", lot_number), ("lot_plan", lot_plan), ("auto", auto)) if value]
    if not given:
        return {
            "lot_number": [
                "The lot number of the material dispensed is required (or a lot_plan, or auto: true for FEFO)."
            ]
        }
    if len(given) > 1:
        message = f"Give one of lot_number, lot_plan or auto, not {' and '.join(given)}."
        return {name: [message] for name in given}
    return {}


def lot_summary(lot_ids, limit=LOT_NUMBER_LENGTH):
    """'LOT-0003, LOT-0004' — shortened to 'LOT-0003, LOT-0004 +5 more' to fit `limit`."""
    text = ", ".join(lot_ids)
    if len(text) <= limit:
        return text
    for shown in range(len(lot_ids) - 1, 0, -1):
        text = f"{', '.join(lot_ids[:shown])} +{len(lot_ids) - shown} more"
        if len(text) <= limit:
            return text
    return f"{len(lot_ids)} lots"[:limit]


def draw_lots_for_dispense(batch, material, *, actor, quantity, lot_number="", lot_plan=None, auto=False):
    """Take `quantity` of `material`'s code out of stock for the batch: from the lot named
    by `lot_number` (a one-lot plan), an explicit `lot_plan`, or FEFO (`auto`). Writes a
    consumption movement per lot and the allocations (in draw order), and returns the
    lot number summary for the batch material. The batch and material rows are locked
    by the caller; any refusal rolls the whole dispense back.

    A `lot_number` that names no lot in the inventory is refused (400) for a material kept
    in the inventory (a Material with its code), and for every material while
    EBR_REQUIRE_INVENTORY_LOTS is on; otherwise (a material not yet under inventory control)
    it is kept as free text and draws nothing.

    `quantity` (and a plan's quantities) are in the line's unit of measure; the lots are
    drawn in the unit the material is kept in, converted exactly (core.units).
    """
    code = material.material_code
    stock_material = Material.objects.filter(code=code).first()
    line_quantity = quantity
    if stock_material is not None:
        quantity = to_stock_unit(stock_material, quantity, material.unit_of_measure)
        lot_plan = _lot_plan_in_stock_unit(lot_plan, stock_material, material.unit_of_measure) if lot_plan else None
    if auto:
        draws = plan_lots(code, quantity, site=batch.site, for_update=True)
    elif lot_plan:
        draws = plan_lots(code, quantity, site=batch.site, lot_plan=lot_plan, for_update=True)
    else:
        known = Lot.objects.filter(lot_id=lot_number).values_list("site_id", flat=True).first()
        if known is None:
            if stock_material is not None or require_inventory_lots():
                raise ValidationError(
                    {
                        "lot_number": [
                            f"There is no lot {lot_number} in the inventory: {code} is dispensed from released "
                            "inventory lots only (21 CFR 211.84). Name a lot ID (e.g. LOT-0001), give a lot_plan, "
                            "or use auto: true."
                        ]
                    }
                )
            return Drawn(lot_number, None, "")
        if known != batch.site_id:
            raise ValidationError({"lot_number": [f"There is no lot {lot_number} at site {batch.site.code}."]})
        draws = plan_lots(
            code, quantity, site=batch.site, lot_plan=[{"lot": lot_number, "quantity": quantity}], for_update=True
        )
    where = f"{batch.batch_id} {code} (line {material.line_number})"
    stock_unit = draws[0].lot.material.unit_of_measure
    if not units.same_unit(stock_unit, material.unit_of_measure):
        # Both units where they differ: what the operator weighed, and what left the lots.
        where = f"{where}: {line_quantity} {material.unit_of_measure} = {quantity} {stock_unit}"
    for sequence, draw in enumerate(draws, start=1):
        record_movement(
            draw.lot,
            kind=MovementKind.CONSUMPTION,
            quantity=-draw.quantity,
            actor=actor,
            reason=f"Dispensed to {where}",
            batch=batch,
            batch_material=material,
        )
        BatchMaterialLot(batch_material=material, lot=draw.lot, sequence=sequence, quantity=draw.quantity).save(
            actor=actor, reason=f"Drawn for {where}"
        )
    return Drawn(lot_summary([draw.lot.lot_id for draw in draws]), quantity, stock_unit)


def return_drawn_lots(material, *, actor, reason):
    """Put back into their lots what `material` drew and has not yet returned, as return
    movements (the batch and material rows are locked by the caller)."""
    allocations = list(
        BatchMaterialLot.objects.filter(batch_material=material).select_related("lot").order_by("lot_id")
    )
    for allocation in allocations:
        remaining = allocation.quantity - allocation.quantity_returned
        if remaining <= 0:
            continue
        record_movement(
            allocation.lot,
            kind=MovementKind.RETURN,
            quantity=remaining,
            actor=actor,
            reason=f"Returned from {material.batch.batch_id} {material.material_code}: {reason}",
            batch=material.batch,
            batch_material=material,
        )
        allocation.quantity_returned = allocation.quantity
        allocation.save(actor=actor, reason=f"Returned: {reason}")
    return allocations


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
