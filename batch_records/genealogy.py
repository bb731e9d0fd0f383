"""Read-only views of the stock around a batch: the dry run of what dispensing would draw
(seed 004) and the backward genealogy of the lots it consumed (21 CFR 211.184, 211.188(b)).
Nothing here writes: no movement, no history row. Each function runs a fixed number of queries."""

from decimal import Decimal

from django.db.models import Prefetch

from core import units
from inventory.models import BatchMaterialLot, Material
from inventory.reservations import open_reservations_by_line, promised_outside_batch
from inventory.services import QUANTITY_PLACES
from inventory.traceability import finished_goods_by_batch, usable_lots_by_code

from .choices import MaterialStatus
from .models import BatchMaterial

ZERO = Decimal(0)


def _required_in_stock_unit(material, stock_material):
    """What a pending line still needs, in the unit its material is kept in (None: its
    unit does not convert exactly; the dispense would be refused)."""
    required = material.quantity_required if material.status == MaterialStatus.PENDING else ZERO
    if stock_material is None or required == 0:
        return required
    try:
        return units.convert_exactly(
            required,
            material.unit_of_measure,
            stock_material.unit_of_measure,
            places=QUANTITY_PLACES,
            density=stock_material.density,
        )
    except units.UnitError:
        return None


def batch_availability(batch):
    """Per material line of `batch`: what remains to dispense (`required`, in the line's
    unit, and `stock_required` in the unit the material is kept in), what FEFO could draw
    for it at the batch's site (`available`, in the stock unit), the `shortfall`, and the
    lots it would pick. Stock reserved for other batches is not available; `reserved` is
    what this line holds since the batch started. Lines of the same material share the
    stock: a later line sees what is left after the earlier ones (in line order)."""
    materials = list(BatchMaterial.objects.filter(batch_id=batch.pk).order_by("line_number", "id"))
    codes = {material.material_code for material in materials}
    lots_by_code = usable_lots_by_code(codes, batch.site)
    stock_materials = {material.code: material for material in Material.objects.filter(code__in=codes)}
    # Stock promised to other batches is not available to this one (inventory.reservations).
    reserved = promised_outside_batch([lot.pk for lots in lots_by_code.values() for lot in lots], batch)
    own = open_reservations_by_line(batch)
    rows = []
    for material in materials:
        stock_material = stock_materials.get(material.material_code)
        required = material.quantity_required if material.status == MaterialStatus.PENDING else ZERO
        stock_required = _required_in_stock_unit(material, stock_material)
        free = [(lot, lot.quantity_on_hand - reserved[lot.pk]) for lot in lots_by_code.get(material.material_code, [])]
        free = [(lot, quantity) for lot, quantity in free if quantity > 0]
        available = sum((quantity for _, quantity in free), ZERO)
        picks, remaining = [], stock_required or ZERO
        for lot, quantity in free:
            if remaining <= 0:
                break
            taken = min(remaining, quantity)
            picks.append(
                {
                    "lot": lot.pk,
                    "lot_id": lot.lot_id,
                    "expiry_date": lot.expiry_date,
                    "quantity_on_hand": lot.quantity_on_hand,
                    "quantity": taken,
                }
            )
            reserved[lot.pk] += taken
            remaining -= taken
        shortfall = max((stock_required or ZERO) - available, ZERO)
        rows.append(
            {
                "material": material.pk,
                "line_number": material.line_number,
                "material_code": material.material_code,
                "material_name": material.material_name,
                "unit_of_measure": material.unit_of_measure,
                "stock_unit_of_measure": stock_material.unit_of_measure if stock_material else material.unit_of_measure,
                "status": material.status,
                "required": required,
                "stock_required": stock_required,
                "reserved": own.get(material.pk, ZERO),
                "available": available,
                "shortfall": shortfall,
                "satisfied": stock_required is not None and shortfall == 0,
                "lots": picks,
            }
        )
    return {
        "batch": batch.pk,
        "batch_id": batch.batch_id,
        "site": batch.site_id,
        "satisfied": all(row["satisfied"] for row in rows),
        "materials": rows,
    }


def batch_genealogy(batch):
    """Backward genealogy of `batch`: for each material line, the lots it drew (quantity,
    quantity returned, supplier and supplier lot); the finished-goods lots it produced;
    and its cost snapshot (null until completion)."""
    materials = (
        BatchMaterial.objects.filter(batch_id=batch.pk)
        .order_by("line_number", "id")
        .prefetch_related(
            Prefetch("lot_allocations", queryset=BatchMaterialLot.objects.select_related("lot").order_by("sequence"))
        )
    )
    rows = []
    for material in materials:
        lots = [
            {
                "lot": allocation.lot.pk,
                "lot_id": allocation.lot.lot_id,
                "supplier": allocation.lot.supplier,
                "supplier_lot": allocation.lot.supplier_lot,
                "expiry_date": allocation.lot.expiry_date,
                "unit_price": allocation.lot.unit_price,
                "quantity": allocation.quantity,
                "quantity_returned": allocation.quantity_returned,
                "quantity_net": allocation.quantity - allocation.quantity_returned,
            }
            for allocation in material.lot_allocations.all()
        ]
        rows.append(
            {
                "material": material.pk,
                "line_number": material.line_number,
                "material_code": material.material_code,
                "material_name": material.material_name,
                "unit_of_measure": material.unit_of_measure,
                "status": material.status,
                "lot_number": material.lot_number,
                "stock_unit_of_measure": material.stock_unit_of_measure,
                "stock_quantity_dispensed": material.stock_quantity_dispensed,
                "stock_quantity_used": material.stock_quantity_used,
                "quantity_dispensed": material.quantity_dispensed,
                "quantity_used": material.quantity_used,
                "lots": lots,
            }
        )
    return {
        "batch": batch.pk,
        "batch_id": batch.batch_id,
        "batch_number": batch.batch_number,
        "lot_number": batch.lot_number,
        "product_code": batch.mbr.product_code,
        "status": batch.status,
        "materials": rows,
        "finished_goods_lots": finished_goods_by_batch({batch.pk}).get(batch.pk, []),
        "cost": {
            "material_cost": batch.material_cost,
            "labour_cost": batch.labour_cost,
            "overhead_cost": batch.overhead_cost,
            "total_cost": batch.total_cost,
            "unit_cost": batch.unit_cost,
        },
    }
