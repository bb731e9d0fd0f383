"""The domain events of production orders, and the order of a batch in the batch events
(seed 000's job and work order keys)."""

from batch_records.domain_events import BATCH_EVENTS
from events.registry import RecordEvents, contribute, declare

from .choices import OrderStatus
from .models import OrderBatch, ProductionOrder


def order_payload(order):
    return {
        "order": order.order_id,
        "reference": order.reference,
        "product_code": order.mbr.product_code,
        "mbr": order.mbr.mbr_id,
        "status": order.status,
        "quantity_ordered": str(order.quantity_ordered),
        "quantity_completed": str(order.quantity_completed),
        "quantity_remaining": str(order.quantity_remaining),
        "due_date": order.due_date.isoformat() if order.due_date else None,
        "batches": list(
            OrderBatch.objects.filter(order_id=order.pk).order_by("sequence").values_list("batch__batch_id", flat=True)
        ),
    }


def batch_order(batch):
    """{"order": "PO-0001" or None, "continues": the batch it continues or None}."""
    from .services import creating_for

    link = OrderBatch.objects.filter(batch_id=batch.pk).select_related("order", "continues").first()
    if link is not None:
        return {"order": link.order.order_id, "continues": link.continues.batch_id if link.continues_id else None}
    creating = creating_for.get()  # BATCH_CREATED: the link row is written just after the batch
    if creating is not None:
        order, continues = creating
        return {"order": order.order_id, "continues": continues.batch_id if continues else None}
    return {"order": None, "continues": None}


declare(
    RecordEvents(
        ProductionOrder,
        aggregate="production_order",
        domain="production",
        identifier="order_id",
        created="ORDER_CREATED",
        statuses={
            OrderStatus.IN_PROGRESS: "ORDER_STARTED",
            OrderStatus.COMPLETED: "ORDER_COMPLETED",
            OrderStatus.CLOSED: "ORDER_CLOSED",
            OrderStatus.CANCELLED: "ORDER_CANCELLED",
        },
        payload=order_payload,
    )
)
contribute(BATCH_EVENTS.event_types(), batch_order)
