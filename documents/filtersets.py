import django_filters

from core.filtersets import AuditedFilterSet

from .models import Document, DocumentStatus


class DocumentFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DocumentStatus.choices)
    effective_date__gte = django_filters.DateFilter(field_name="effective_date", lookup_expr="gte")
    effective_date__lte = django_filters.DateFilter(field_name="effective_date", lookup_expr="lte")

    class Meta:
        model = Document
        fields = ["status", "doc_id", "version", "site"]
