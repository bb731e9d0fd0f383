import django_filters

from core.filtersets import AuditedFilterSet

from .models import CalibrationRecord, CleaningLog, CleaningStatus, Equipment, EquipmentStatus, RecordResult


class EquipmentFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=EquipmentStatus.choices)
    cleaning_status = django_filters.ChoiceFilter(choices=CleaningStatus.choices)
    calibration_due_date__gte = django_filters.DateFilter(field_name="calibration_due_date", lookup_expr="gte")
    calibration_due_date__lte = django_filters.DateFilter(field_name="calibration_due_date", lookup_expr="lte")

    class Meta:
        model = Equipment
        fields = ["status", "equipment_type", "site", "cleaning_status"]


class CalibrationRecordFilterSet(AuditedFilterSet):
    result = django_filters.ChoiceFilter(choices=RecordResult.choices)
    performed_at__date__gte = django_filters.DateFilter(field_name="performed_at", lookup_expr="date__gte")
    performed_at__date__lte = django_filters.DateFilter(field_name="performed_at", lookup_expr="date__lte")

    class Meta:
        model = CalibrationRecord
        fields = ["equipment", "result"]


class CleaningLogFilterSet(AuditedFilterSet):
    result = django_filters.ChoiceFilter(choices=RecordResult.choices)
    cleaned_at__date__gte = django_filters.DateFilter(field_name="cleaned_at", lookup_expr="date__gte")
    cleaned_at__date__lte = django_filters.DateFilter(field_name="cleaned_at", lookup_expr="date__lte")

    class Meta:
        model = CleaningLog
        fields = ["equipment", "result"]
