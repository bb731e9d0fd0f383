"""Filters every list shares: creation and update date ranges."""

import django_filters


class AuditedFilterSet(django_filters.FilterSet):
    created_at__date__gte = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_at__date__lte = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")
    updated_at__date__gte = django_filters.DateFilter(field_name="updated_at", lookup_expr="date__gte")
    updated_at__date__lte = django_filters.DateFilter(field_name="updated_at", lookup_expr="date__lte")
