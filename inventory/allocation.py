"""Allocation: which lots a quantity is drawn from (FEFO: first expiry, first out) and
drawing them for a batch material line, or returning them (21 CFR 211.84, 211.184).

Lock order (the one of batch execution, extended): the batch row, then the batch
material, then the lots in primary-key order. Dispensing locks every usable lot of the
material at the site before it plans, so two dispenses of the same material queue up on
the lots and never both take the last kilogram.
"""

from collections import namedtuple
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from core import units
from core.exceptions import Conflict

from .choices import LotStatus, MovementKind
from .conf import require_inventory_lots
from .models import BatchMaterialLot, Lot, Material
from .reservations import close_line_reservations, promised_elsewhere
from .services import QUANTITY_PLACES, clean_quantity, format_quantity, is_past_expiry, record_movement

LOT_NUMBER_LENGTH = 50  # BatchMaterial.lot_number keeps a readable summary of the lots drawn
Draw = namedtuple("Draw", ["lot", "quantity"])
# What a dispense drew: the lot number summary, and the quantity in the unit the material
# is kept in (None when it drew from no lot).
Drawn = namedtuple("Drawn", ["lot_number", "stock_quantity", "stock_unit"])


# --- planning: which lots a quantity is drawn from --------------------------------------


def fefo_key(lot):
    """First expired, first out; lots without an expiry date last; then by lot ID
    (numerically: LOT-9999 before LOT-10000)."""
    return (lot.expiry_date is None, lot.expiry_date or date.max, len(lot.lot_id), lot.lot_id)


def usable_lot_queryset(site):
    """The lots at `site` that may be dispensed now: released, not past their expiry date
    (expiry_date ≥ today), with stock on hand."""
    return Lot.objects.filter(
        Q(expiry_date__isnull=True) | Q(expiry_date__gte=timezone.localdate()),
        site=site,
        status=LotStatus.RELEASED,
        quantity_on_hand__gt=0,
    ).select_related("material")


def usable_lots(material_code, *, site, for_update=False):
    """The usable lots of `material_code` at `site` (usable_lot_queryset), in FEFO order."""
    queryset = usable_lot_queryset(site).filter(material__code=material_code)
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


def plan_lots(material_code, quantity, *, site, lot_plan=None, for_update=False, drawn_by=None):
    """The lots `quantity` of `material_code` is drawn from at `site`, as [Draw(lot,
    quantity)] in the order drawn.

    What a lot can give is its quantity on hand less what is reserved for other batch
    material lines than `drawn_by` (inventory.reservations): stock promised to another
    batch is never drawn.

    Without a plan, FEFO (seed 001, auto-FIFO by earliest expiry): released, unexpired lots,
    earliest expiry first, ties by lot ID. With an explicit plan [{"lot", "quantity"}],
    each lot is checked: another material, not released, or past expiry is a 409 naming
    the lot and its status. Not enough stock is a 409 with the material code and the
    quantities required, available and short. Changes nothing.
    """
    quantity = clean_quantity(quantity, field="quantity")
    if lot_plan is None:
        lots = usable_lots(material_code, site=site, for_update=for_update)
        promised = promised_elsewhere([lot.pk for lot in lots], excluding=drawn_by)
        free = [(lot, lot.quantity_on_hand - promised[lot.pk]) for lot in lots]
        free = [(lot, quantity_free) for lot, quantity_free in free if quantity_free > 0]
        available = sum((quantity_free for _, quantity_free in free), Decimal(0))
        if available < quantity:
            raise _shortage(material_code, quantity, available)
        draws, remaining = [], quantity
        for lot, quantity_free in free:
            if remaining <= 0:
                break
            taken = min(remaining, quantity_free)
            draws.append(Draw(lot, taken))
            remaining -= taken
        return draws

    entries = _clean_lot_plan(lot_plan, quantity)
    queryset = Lot.objects.filter(lot_id__in=[lot_id for lot_id, _ in entries], site=site).select_related("material")
    if for_update:
        queryset = queryset.select_for_update(of=("self",)).order_by("pk")
    lots = {lot.lot_id: lot for lot in queryset}
    promised = promised_elsewhere([lot.pk for lot in lots.values()], excluding=drawn_by)
    today = timezone.localdate()
    draws = []
    for index, (lot_id, planned) in enumerate(entries):
        lot = lots.get(lot_id)
        if lot is None:
            raise ValidationError({f"lot_plan[{index}].lot": [f"There is no lot {lot_id} at site {site.code}."]})
        refusal = _unusable(lot, material_code, today)
        if refusal is not None:
            raise refusal
        free = lot.quantity_on_hand - promised[lot.pk]
        if free < planned:
            raise _shortage(material_code, planned, max(free, Decimal(0)), lot=lot)
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
        draws = plan_lots(code, quantity, site=batch.site, for_update=True, drawn_by=material)
    elif lot_plan:
        draws = plan_lots(code, quantity, site=batch.site, lot_plan=lot_plan, for_update=True, drawn_by=material)
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
            code,
            quantity,
            site=batch.site,
            lot_plan=[{"lot": lot_number, "quantity": quantity}],
            for_update=True,
            drawn_by=material,
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
    # The line's promise is kept: what it reserved is now drawn (or given back where it drew
    # from other lots).
    close_line_reservations(material, actor=actor, reason=f"Dispensed to {where}")
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
