"""The cost snapshot of a batch, taken once at completion and stored on it (seed 001: later
price changes never alter a completed batch's cost).

- Material: for each material line, the quantity costed is what the batch kept of what it
  drew, as known at completion: `quantity_used` once consumed, else `quantity_dispensed`
  while dispensed or verified, 0 when pending or returned. That usage is allocated to the
  lots drawn in dispense order (each allocation up to what it drew, less what went back)
  and priced at each lot's `unit_price`. A line that drew from no lot (a free-text lot,
  where allowed) is priced at its Material's `standard_cost` (0 if unknown).
- Labour: the hours of every step executed (completed_at − started_at) × EBR_LABOUR_HOURLY_RATE.
- Overhead: (material + labour) × EBR_OVERHEAD_PERCENT / 100.
- Each of material, labour and overhead is rounded half-up to 2 places; the total is their
  sum; the unit cost is total / quantity_produced rounded the same way (null when nothing
  was produced).
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Prefetch

from core.exceptions import Conflict
from inventory.conf import labour_hourly_rate, overhead_percent
from inventory.models import BatchMaterialLot, Material

from .choices import MaterialStatus
from .models import BatchMaterial

CENTS = Decimal("0.01")
COST_LIMIT = Decimal(10) ** 18  # the stored fields hold 18 digits before the point
MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)
ZERO = Decimal(0)


def money(value):
    return Decimal(value).quantize(CENTS, rounding=ROUND_HALF_UP)


def costed_usage(material):
    """The quantity of one batch material line that its cost is made of (see above), in
    the unit its lots are priced in: the stock unit where the line drew from lots in
    another unit (1.5 g of a material kept and priced in kg costs 0.0015 × the kg price)."""
    in_stock_unit = bool(material.stock_unit_of_measure)
    if material.status == MaterialStatus.CONSUMED:
        used = material.stock_quantity_used if in_stock_unit else material.quantity_used
        return used or ZERO
    if material.status in (MaterialStatus.DISPENSED, MaterialStatus.VERIFIED):
        dispensed = material.stock_quantity_dispensed if in_stock_unit else material.quantity_dispensed
        return dispensed or ZERO
    return ZERO


def line_material_cost(material, allocations, standard_cost=ZERO):
    """The unrounded cost of `material`'s usage, allocated to its lots in dispense order."""
    usage = costed_usage(material)
    if not allocations:
        return usage * standard_cost
    cost, remaining = ZERO, usage
    for allocation in sorted(allocations, key=lambda row: row.sequence):
        if remaining <= 0:
            break
        portion = min(remaining, allocation.quantity - allocation.quantity_returned)
        if portion > 0:
            cost += portion * allocation.lot.unit_price
            remaining -= portion
    return cost


def step_hours(step):
    if step.started_at is None or step.completed_at is None or step.completed_at <= step.started_at:
        return ZERO
    elapsed = step.completed_at - step.started_at
    microseconds = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
    return Decimal(microseconds) / MICROSECONDS_PER_HOUR


def batch_cost_snapshot(batch):
    """{material_cost, labour_cost, overhead_cost, total_cost, unit_cost} of `batch` now,
    from its materials, their lots and its steps (a fixed number of queries)."""
    materials = list(
        BatchMaterial.objects.filter(batch_id=batch.pk).prefetch_related(
            Prefetch("lot_allocations", queryset=BatchMaterialLot.objects.select_related("lot"))
        )
    )
    unallocated_codes = {material.material_code for material in materials}
    standard_costs = dict(Material.objects.filter(code__in=unallocated_codes).values_list("code", "standard_cost"))
    material_cost = sum(
        (
            line_material_cost(
                material, list(material.lot_allocations.all()), standard_costs.get(material.material_code, ZERO)
            )
            for material in materials
        ),
        ZERO,
    )
    hours = sum((step_hours(step) for step in batch.steps.only("started_at", "completed_at")), ZERO)
    material_cost = money(material_cost)
    labour_cost = money(hours * labour_hourly_rate())
    overhead_cost = money((material_cost + labour_cost) * overhead_percent() / 100)
    total_cost = material_cost + labour_cost + overhead_cost
    produced = batch.quantity_produced
    unit_cost = money(total_cost / produced) if produced else None
    if total_cost >= COST_LIMIT or (unit_cost is not None and unit_cost >= COST_LIMIT):
        raise Conflict(f"The cost of {batch.batch_id} ({total_cost}) is too large to record.", action="complete")
    return {
        "material_cost": material_cost,
        "labour_cost": labour_cost,
        "overhead_cost": overhead_cost,
        "total_cost": total_cost,
        "unit_cost": unit_cost,
    }
