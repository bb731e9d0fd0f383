"""Serial numbers in the batch events that seed 000 lists them in (batch_serial_keys)."""

from events.registry import contribute
from serials.models import SerialNumber


def batch_serials(batch):
    if not batch.is_serialized:
        return {"serials": []}
    serial_ids = (
        SerialNumber.objects.filter(batch_id=batch.pk).order_by("serial_id").values_list("serial_id", flat=True)
    )
    return {"serials": list(serial_ids)}


contribute(["BATCH_COMPLETED", "BATCH_RELEASED"], batch_serials)
