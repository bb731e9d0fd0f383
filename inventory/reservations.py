"""Reservations: the stock a started batch is promised (21 CFR 211.101: components charged
to a batch are the ones set aside for it; stock is never promised twice).

When a batch starts, each material line of a material kept in the inventory reserves what
it requires (converted to the material's unit) in the released, unexpired lots at the
batch's site, first expiry first out, from what other reservations leave free. A line that
finds less reserves what there is: the batch's availability shows the rest as short, and a
later receipt can be drawn at dispense if nobody else has reserved it meanwhile.

What any batch may draw from a lot, or be shown as available, is its quantity on hand less
the open reservations of every other line. Dispensing a line closes its reservations
(drawn, or given back when it drew from other lots); cancel, abort, completion and
rejection give back whatever is still open.

Locks: reservations are made under the row locks of the lots (primary-key order, after the
batch row), the same locks a dispense takes, so two starts or a start and a dispense
queue up and never promise the same kilogram twice. Closing a reservation only frees
stock and needs no lot lock.
"""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from core import units

from .choices import LotStatus
from .models import Lot, LotReservation, Material
from .services import QUANTITY_PLACES

ZERO = Decimal(0)


def _fefo_key(lot):
    # The order of inventory.allocation.fefo_key (which builds on this module).
    from .allocation import fefo_key

    return fefo_key(lot)


def promised_elsewhere(lot_ids, *, excluding=None):
    """{lot pk: quantity still promised} by the open reservations on `lot_ids`, except those
    of the batch material line `excluding` (its own promise is its to draw)."""
    queryset = LotReservation.objects.filter(lot_id__in=list(lot_ids), quantity_open__gt=0)
    if excluding is not None:
        queryset = queryset.exclude(batch_material_id=excluding.pk)
    rows = queryset.values("lot_id").annotate(total=Sum("quantity_open"))
    return defaultdict(lambda: ZERO, {row["lot_id"]: row["total"] for row in rows})


def promised_outside_batch(lot_ids, batch):
    """{lot pk: quantity} promised to other batches than `batch`."""
    rows = (
        LotReservation.objects.filter(lot_id__in=list(lot_ids), quantity_open__gt=0)
        .exclude(batch_id=batch.pk)
        .values("lot_id")
        .annotate(total=Sum("quantity_open"))
    )
    return defaultdict(lambda: ZERO, {row["lot_id"]: row["total"] for row in rows})


def _required_in_stock_unit(line, stock_material):
    """The line's required quantity in the material's unit, or None if it does not convert
    exactly (then nothing is reserved; the dispense will say why)."""
    try:
        return units.convert_exactly(
            line.quantity_required,
            line.unit_of_measure,
            stock_material.unit_of_measure,
            places=QUANTITY_PLACES,
            density=stock_material.density,
        )
    except units.UnitError:
        return None


def reserve_for_lines(batch, lines, *, actor):
    """At start: reserve, FEFO, what each of the batch's `lines` (its pending material
    lines, in line order) requires, for those of a material kept in the inventory. Locks
    the usable lots of those materials (pk order) before reading what is free. Returns
    {line pk: quantity short} for lines only partly (or not) covered."""
    stock_materials = {m.code: m for m in Material.objects.filter(code__in={line.material_code for line in lines})}
    lines = [line for line in lines if line.material_code in stock_materials]
    if not lines:
        return {}
    today = timezone.localdate()
    lots = list(
        Lot.objects.filter(
            Q(expiry_date__isnull=True) | Q(expiry_date__gte=today),
            material__code__in=stock_materials,
            site_id=batch.site_id,
            status=LotStatus.RELEASED,
            quantity_on_hand__gt=0,
        )
        .select_related("material")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    promised = promised_elsewhere([lot.pk for lot in lots])
    by_code = defaultdict(list)
    for lot in sorted(lots, key=_fefo_key):
        by_code[lot.material.code].append(lot)
    short = {}
    for line in lines:
        required = _required_in_stock_unit(line, stock_materials[line.material_code])
        if required is None:
            continue
        remaining = required
        for lot in by_code[line.material_code]:
            if remaining <= 0:
                break
            free = lot.quantity_on_hand - promised[lot.pk]
            if free <= 0:
                continue
            taken = min(free, remaining)
            LotReservation(lot=lot, batch=batch, batch_material=line, quantity=taken, quantity_open=taken).save(
                actor=actor, reason=f"Reserved for {batch.batch_id} {line.material_code} (line {line.line_number})"
            )
            promised[lot.pk] += taken
            remaining -= taken
        if remaining > 0:
            short[line.pk] = remaining
    return short


def close_reservations(queryset, *, actor, reason):
    """Set every open reservation of `queryset` to 0 (drawn or given back), with history."""
    for reservation in queryset.filter(quantity_open__gt=0).order_by("pk"):
        reservation.quantity_open = ZERO
        reservation.save(update_fields=["quantity_open"], actor=actor, reason=reason)


def close_line_reservations(line, *, actor, reason):
    close_reservations(LotReservation.objects.filter(batch_material_id=line.pk), actor=actor, reason=reason)


def release_batch_reservations(batch, *, actor, reason):
    """Give back whatever `batch` still has reserved (cancel, abort, completion, rejection)."""
    close_reservations(LotReservation.objects.filter(batch_id=batch.pk), actor=actor, reason=reason)


def open_reservations_by_line(batch):
    """{line pk: quantity still reserved} for the lines of `batch`."""
    rows = (
        LotReservation.objects.filter(batch_id=batch.pk, quantity_open__gt=0)
        .values("batch_material_id")
        .annotate(total=Sum("quantity_open"))
    )
    return {row["batch_material_id"]: row["total"] for row in rows}
