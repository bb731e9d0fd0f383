import django_filters

from core.filtersets import AuditedFilterSet

from .choices import LotStatus, MovementKind
from .models import Lot, LotMovement, Material


class MaterialFilterSet(AuditedFilterSet):
    class Meta:
        model = Material
        fields = ["code", "unit_of_measure"]


class LotFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=LotStatus.choices)
    material_code = django_filters.CharFilter(field_name="material__code")
    site_code = django_filters.CharFilter(field_name="site__code")
    expiry_date__gte = django_filters.DateFilter(field_name="expiry_date", lookup_expr="gte")
    expiry_date__lte = django_filters.DateFilter(field_name="expiry_date", lookup_expr="lte")

    class Meta:
        model = Lot
        fields = ["lot_id", "material", "site", "supplier", "supplier_lot", "produced_by_batch"]


class LotMovementFilterSet(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=MovementKind.choices)
    lot_id = django_filters.CharFilter(field_name="lot__lot_id")
    created_at__date__gte = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_at__date__lte = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = LotMovement
        fields = ["lot", "batch", "batch_material", "actor"]
