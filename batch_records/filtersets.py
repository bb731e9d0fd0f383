"""One FilterSet per batch-record resource (status as multiple choice, dates as ranges)."""

import django_filters

from core.filtersets import AuditedFilterSet

from .choices import MBRStatus
from .models import MasterBatchRecord


class MasterBatchRecordFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=MBRStatus.choices)
    effective_date__gte = django_filters.DateFilter(field_name="effective_date", lookup_expr="gte")
    effective_date__lte = django_filters.DateFilter(field_name="effective_date", lookup_expr="lte")

    class Meta:
        model = MasterBatchRecord
        fields = ["status", "mbr_id", "product_code", "product_line", "version", "is_serialized", "author"]
