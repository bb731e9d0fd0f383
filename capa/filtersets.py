import django_filters
from django.db.models import Q
from django.utils import timezone

from core.filtersets import AuditedFilterSet

from .models import CAPA, CAPAStatus


class CAPAFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CAPAStatus.choices)
    due_date__gte = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_date__lte = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Past its due date and not closed")

    class Meta:
        model = CAPA
        fields = ["status", "owner", "deviation", "site", "capa_id"]

    def filter_overdue(self, queryset, name, value):
        overdue = Q(due_date__lt=timezone.localdate()) & ~Q(status=CAPAStatus.CLOSED)
        return queryset.filter(overdue) if value else queryset.exclude(overdue)
