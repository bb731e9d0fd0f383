"""Links from the deviation, CAPA and equipment pages to the batch records that refer to
them. Those apps sit below batch records and do not import it; their pages show these links
through `core.admin.register_related_link`."""

from capa.models import CAPA
from core.admin import changelist_link, register_related_link
from deviations.models import Deviation
from equipment.models import Equipment

from ..models import BatchDeviation, BatchEquipment

register_related_link(
    Deviation,
    "related_records",
    lambda deviation: changelist_link(
        BatchDeviation, "batch deviations linked to it", linked_deviation__id__exact=deviation.pk
    ),
)
register_related_link(
    CAPA,
    "batch_deviations",
    lambda capa: changelist_link(BatchDeviation, "Batch deviations linked to it", linked_capa__id__exact=capa.pk),
)
register_related_link(
    Equipment,
    "batch_usages",
    lambda equipment: changelist_link(BatchEquipment, "Batches that used it", equipment__id__exact=equipment.pk),
)
