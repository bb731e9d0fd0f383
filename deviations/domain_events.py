"""The domain events of QMS deviations (published under progress.notification.quality)."""

from deviations.models import Deviation, DeviationStatus
from events.registry import RecordEvents, declare


def deviation_payload(deviation):
    return {
        "deviation": deviation.deviation_id,
        "title": deviation.title,
        "severity": deviation.severity,
        "status": deviation.status,
    }


declare(
    RecordEvents(
        Deviation,
        aggregate="deviation",
        domain="quality",
        identifier="deviation_id",
        created="DEVIATION_OPENED",
        statuses={DeviationStatus.CLOSED: "DEVIATION_CLOSED"},
        payload=deviation_payload,
    )
)
