"""One FilterSet per batch-record resource (status as multiple choice, dates as ranges)."""

import django_filters

from core.filtersets import AuditedFilterSet

from .choices import (
    BatchDeviationStatus,
    BatchStatus,
    DeviationType,
    EquipmentUsageStatus,
    MaterialStatus,
    MBRStatus,
    StepStatus,
)
from .models import BatchDeviation, BatchEquipment, BatchMaterial, BatchRecord, BatchStep, MasterBatchRecord


class MasterBatchRecordFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=MBRStatus.choices)
    effective_date__gte = django_filters.DateFilter(field_name="effective_date", lookup_expr="gte")
    effective_date__lte = django_filters.DateFilter(field_name="effective_date", lookup_expr="lte")

    class Meta:
        model = MasterBatchRecord
        fields = ["status", "mbr_id", "product_code", "product_line", "version", "is_serialized", "author"]


class BatchRecordFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=BatchStatus.choices)
    product_code = django_filters.CharFilter(field_name="mbr__product_code")
    started_at__date__gte = django_filters.DateFilter(field_name="started_at", lookup_expr="date__gte")
    started_at__date__lte = django_filters.DateFilter(field_name="started_at", lookup_expr="date__lte")
    completed_at__date__gte = django_filters.DateFilter(field_name="completed_at", lookup_expr="date__gte")
    completed_at__date__lte = django_filters.DateFilter(field_name="completed_at", lookup_expr="date__lte")

    class Meta:
        model = BatchRecord
        fields = [
            "status",
            "batch_id",
            "batch_number",
            "lot_number",
            "mbr",
            "site",
            "production_line",
            "has_deviations",
            "review_by_exception",
        ]


class BatchStepFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=StepStatus.choices)

    class Meta:
        model = BatchStep
        fields = ["batch", "status", "step_number", "requires_verification", "is_within_spec", "operator", "verifier"]


class BatchDeviationFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=BatchDeviationStatus.choices)
    deviation_type = django_filters.MultipleChoiceFilter(choices=DeviationType.choices)

    class Meta:
        model = BatchDeviation
        fields = ["batch", "batch_step", "status", "deviation_type", "deviation_id"]


class BatchMaterialFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=MaterialStatus.choices)
    dispensed_at__date__gte = django_filters.DateFilter(field_name="dispensed_at", lookup_expr="date__gte")
    dispensed_at__date__lte = django_filters.DateFilter(field_name="dispensed_at", lookup_expr="date__lte")
    consumed_at__date__gte = django_filters.DateFilter(field_name="consumed_at", lookup_expr="date__gte")
    consumed_at__date__lte = django_filters.DateFilter(field_name="consumed_at", lookup_expr="date__lte")

    class Meta:
        model = BatchMaterial
        fields = [
            "batch",
            "status",
            "material_code",
            "lot_number",
            "line_number",
            "unit_of_measure",
            "dispensed_by",
            "verified_by",
            "consumed_by",
        ]


class BatchEquipmentFilterSet(AuditedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=EquipmentUsageStatus.choices)
    usage_start__date__gte = django_filters.DateFilter(field_name="usage_start", lookup_expr="date__gte")
    usage_start__date__lte = django_filters.DateFilter(field_name="usage_start", lookup_expr="date__lte")

    class Meta:
        model = BatchEquipment
        fields = [
            "batch",
            "status",
            "equipment",
            "equipment_id_manual",
            "calibration_verified",
            "cleaning_verified",
            "started_by",
            "ended_by",
        ]
