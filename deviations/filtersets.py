import django_filters

from core.filtersets import AuditedFilterSet

from .models import Deviation, DeviationSeverity, DeviationStatus


class DeviationFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DeviationStatus.choices)
    severity = django_filters.MultipleChoiceFilter(choices=DeviationSeverity.choices)
    closed_at__date__gte = django_filters.DateFilter(field_name="closed_at", lookup_expr="date__gte")
    closed_at__date__lte = django_filters.DateFilter(field_name="closed_at", lookup_expr="date__lte")

    class Meta:
        model = Deviation
        fields = ["status", "severity", "site", "deviation_id"]
