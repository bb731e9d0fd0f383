"""The domain events of material lots (published under progress.notification.inventory)."""

from events.registry import RecordEvents, declare
from inventory.choices import LotStatus
from inventory.models import Lot


def lot_payload(lot):
    return {
        "lot": lot.lot_id,
        "material": lot.material.code,
        "supplier_lot": lot.supplier_lot,
        "status": lot.status,
        "quantity_on_hand": str(lot.quantity_on_hand),
        "unit_of_measure": lot.material.unit_of_measure,
        "expiry_date": lot.expiry_date.isoformat() if lot.expiry_date else None,
    }


declare(
    RecordEvents(
        Lot,
        aggregate="lot",
        domain="inventory",
        identifier="lot_id",
        statuses={
            LotStatus.RELEASED: "LOT_RELEASED",
            LotStatus.REJECTED: "LOT_REJECTED",
            LotStatus.EXPIRED: "LOT_EXPIRED",
        },
        payload=lot_payload,
    )
)
