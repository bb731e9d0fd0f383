from core.api.viewsets import AuditedViewSet, RolePermission
from equipment import services
from equipment.filtersets import CalibrationRecordFilterSet, CleaningLogFilterSet, EquipmentFilterSet
from equipment.models import CalibrationRecord, CleaningLog, Equipment
from equipment.workflows import EQUIPMENT_WORKFLOW

from .serializers import (
    CalibrationInputSerializer,
    CalibrationRecordSerializer,
    CleaningInputSerializer,
    CleaningLogSerializer,
    EquipmentListSerializer,
    EquipmentSerializer,
    StatusInputSerializer,
)


class ReadOnlyLogPermission(RolePermission):
    """Logs are written only by the equipment actions: any write method here is a 405."""

    perms_map = {
        method: perms for method, perms in RolePermission.perms_map.items() if method in ("GET", "HEAD", "OPTIONS")
    }


class EquipmentViewSet(AuditedViewSet):
    """The equipment register: calibration, cleaning and status, site by site."""

    queryset = Equipment.objects.select_related("site", "created_by", "updated_by")
    serializer_class = EquipmentSerializer
    list_serializer_class = EquipmentListSerializer
    filterset_class = EquipmentFilterSet
    site_field = "site"
    search_fields = ["equipment_id", "name", "equipment_type"]
    ordering_fields = [
        "equipment_id",
        "name",
        "equipment_type",
        "status",
        "calibration_due_date",
        "cleaned_at",
        "created_at",
        "updated_at",
    ]

    workflow = EQUIPMENT_WORKFLOW
    action_inputs = {
        "record_calibration": CalibrationInputSerializer,
        "record_cleaning": CleaningInputSerializer,
        "set_status": StatusInputSerializer,
    }
    create_service = services.create_equipment
    update_service = services.update_equipment


class CalibrationRecordViewSet(AuditedViewSet):
    """Calibration records (21 CFR 211.68, 211.160(b)(4)): read-only, written only by the
    equipment's `record_calibration` action."""

    queryset = CalibrationRecord.objects.select_related("equipment", "performed_by", "created_by", "updated_by")
    serializer_class = CalibrationRecordSerializer
    filterset_class = CalibrationRecordFilterSet
    site_field = "equipment__site"
    permission_classes = [ReadOnlyLogPermission]
    http_method_names = ["get", "head", "options"]
    search_fields = ["equipment__equipment_id", "certificate", "notes"]
    ordering_fields = ["performed_at", "next_due_date", "created_at"]


class CleaningLogViewSet(AuditedViewSet):
    """Equipment cleaning logs (21 CFR 211.67, 211.182): read-only, written only by the
    equipment's `record_cleaning` action."""

    queryset = CleaningLog.objects.select_related("equipment", "cleaned_by", "created_by", "updated_by")
    serializer_class = CleaningLogSerializer
    filterset_class = CleaningLogFilterSet
    site_field = "equipment__site"
    permission_classes = [ReadOnlyLogPermission]
    http_method_names = ["get", "head", "options"]
    search_fields = ["equipment__equipment_id", "method", "notes"]
    ordering_fields = ["cleaned_at", "created_at"]
