"""Read-only views of the stock: the usable lots of a site in FEFO order and the forward
genealogy of a lot (21 CFR 211.184). The batch side (availability, backward genealogy) is in
`batch_records.genealogy`. Nothing here writes; each function runs a fixed number of queries."""

from collections import defaultdict
from decimal import Decimal

from .allocation import fefo_key, usable_lot_queryset
from .models import BatchMaterialLot, Lot

ZERO = Decimal(0)


def usable_lots_by_code(codes, site):
    """{material code: its usable lots at `site`, in FEFO order} for `codes`."""
    lots = usable_lot_queryset(site).filter(material__code__in=codes)
    by_code = defaultdict(list)
    for lot in lots:
        by_code[lot.material.code].append(lot)
    for group in by_code.values():
        group.sort(key=fefo_key)
    return by_code


def _finished_goods(lot):
    return {
        "lot": lot.pk,
        "lot_id": lot.lot_id,
        "material_code": lot.material.code,
        "status": lot.status,
        "quantity_on_hand": lot.quantity_on_hand,
    }


def finished_goods_by_batch(batch_ids):
    by_batch = defaultdict(list)
    for lot in Lot.objects.filter(produced_by_batch_id__in=batch_ids).select_related("material").order_by("pk"):
        by_batch[lot.produced_by_batch_id].append(_finished_goods(lot))
    return by_batch


def lot_where_used(lot):
    """Forward genealogy of `lot`: each batch that drew from it (how much, how much went
    back) and the finished-goods lots those batches produced."""
    allocations = list(
        BatchMaterialLot.objects.filter(lot_id=lot.pk)
        .select_related("batch_material__batch__mbr")
        .order_by("batch_material__batch_id", "batch_material__line_number", "sequence")
    )
    finished = finished_goods_by_batch({allocation.batch_material.batch_id for allocation in allocations})
    rows = []
    for allocation in allocations:
        material = allocation.batch_material
        batch = material.batch
        rows.append(
            {
                "batch": batch.pk,
                "batch_id": batch.batch_id,
                "batch_number": batch.batch_number,
                "lot_number": batch.lot_number,
                "product_code": batch.mbr.product_code,
                "batch_status": batch.status,
                "material": material.pk,
                "line_number": material.line_number,
                "material_status": material.status,
                "quantity": allocation.quantity,
                "quantity_returned": allocation.quantity_returned,
                "quantity_net": allocation.quantity - allocation.quantity_returned,
                "finished_goods_lots": finished.get(batch.pk, []),
            }
        )
    return {
        "lot": lot.pk,
        "lot_id": lot.lot_id,
        "material_code": lot.material.code,
        "produced_by_batch": lot.produced_by_batch_id,
        "batches": rows,
    }
