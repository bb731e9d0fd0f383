import django_filters

from core.filtersets import AuditedFilterSet

from .choices import OrderStatus
from .models import ProductionOrder


class ProductionOrderFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    product_code = django_filters.CharFilter(field_name="mbr__product_code")
    due_date__gte = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_date__lte = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = ProductionOrder
        fields = ["status", "site", "mbr", "order_id", "reference", "product_code"]
