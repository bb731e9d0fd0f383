import django_filters

from core.filtersets import AuditedFilterSet

from .choices import SerialStatus
from .models import SerialNumber


class SerialNumberFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=SerialStatus.choices)
    batch_id = django_filters.CharFilter(field_name="batch__batch_id")
    completed_at__date__gte = django_filters.DateFilter(field_name="completed_at", lookup_expr="date__gte")
    completed_at__date__lte = django_filters.DateFilter(field_name="completed_at", lookup_expr="date__lte")

    class Meta:
        model = SerialNumber
        fields = ["status", "serial_id", "batch", "force_completed"]
