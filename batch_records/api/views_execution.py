from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import MethodNotAllowed

from batch_records.filtersets import BatchEquipmentFilterSet, BatchMaterialFilterSet
from batch_records.models import BatchEquipment, BatchMaterial
from batch_records.services import equipment_usage
from batch_records.workflows import EQUIPMENT_USAGE_WORKFLOW, MATERIAL_WORKFLOW
from core.api.serializers import ReasonInputSerializer, SignatureInputSerializer
from core.api.viewsets import AuditedViewSet, RolePermission, idempotency_parameter

from .serializers_execution import (
    BatchEquipmentCreateSerializer,
    BatchEquipmentDetailSerializer,
    BatchEquipmentListSerializer,
    BatchMaterialDetailSerializer,
    BatchMaterialListSerializer,
    MaterialConsumeInputSerializer,
    MaterialDispenseInputSerializer,
)

_AUDIT_USERS = ("created_by", "updated_by")


def _permission_allowing(*methods):
    """Role permissions where any other method is a 405 for everyone: these records change
    only through their actions."""
    return type(
        "RolePermissionFor" + "".join(method.title() for method in methods),
        (RolePermission,),
        {"perms_map": {method: perms for method, perms in RolePermission.perms_map.items() if method in methods}},
    )


# DELETE stays routed: these GMP records are never deletable, and whoever may see one is
# told so with a 409 (SPEC §5).
_KEPT_RECORD_METHODS = ("GET", "HEAD", "OPTIONS", "DELETE")


class BatchMaterialViewSet(AuditedViewSet):
    """The materials of the batches: one per bill-of-materials line of the batch's MBR
    snapshot, dispensed, verified, consumed or returned through actions."""

    queryset = BatchMaterial.objects.select_related(
        "batch", "dispensed_by", "verified_by", "consumed_by", *_AUDIT_USERS
    )
    detail_prefetch_related = ["signatures", "deviations"]
    serializer_class = BatchMaterialDetailSerializer
    list_serializer_class = BatchMaterialListSerializer
    filterset_class = BatchMaterialFilterSet
    search_fields = ["material_code", "material_name", "lot_number", "batch__batch_id", "batch__batch_number"]
    ordering_fields = [
        "batch__batch_id",
        "line_number",
        "material_code",
        "material_name",
        "lot_number",
        "status",
        "quantity_required",
        "quantity_dispensed",
        "quantity_used",
        "dispensed_at",
        "verified_at",
        "consumed_at",
        "created_at",
        "updated_at",
    ]
    site_field = "batch__site"
    # Materials come from the MBR snapshot and change only through their actions.
    permission_classes = [_permission_allowing(*_KEPT_RECORD_METHODS)]
    http_method_names = ["get", "post", "delete", "head", "options"]
    workflow = MATERIAL_WORKFLOW
    action_inputs = {
        "dispense": MaterialDispenseInputSerializer,
        "verify": SignatureInputSerializer,
        "consume": MaterialConsumeInputSerializer,
        "return": ReasonInputSerializer,
    }

    def create(self, request, *args, **kwargs):
        raise MethodNotAllowed("POST", detail="Materials are created with their batch, from its bill of materials.")


class BatchEquipmentViewSet(AuditedViewSet):
    """The equipment use log of the batches (21 CFR 211.182): equipment added to a batch,
    its calibration and cleaning verified, its use started and ended through actions."""

    queryset = BatchEquipment.objects.select_related(
        "batch",
        "started_by",
        "ended_by",
        "calibration_verified_by",
        "cleaning_verified_by",
        *_AUDIT_USERS,
    )
    detail_prefetch_related = ["signatures"]
    serializer_class = BatchEquipmentDetailSerializer
    list_serializer_class = BatchEquipmentListSerializer
    filterset_class = BatchEquipmentFilterSet
    search_fields = ["equipment_name", "equipment_id_manual", "batch__batch_id", "batch__batch_number"]
    ordering_fields = [
        "batch__batch_id",
        "equipment_name",
        "equipment_id_manual",
        "status",
        "usage_start",
        "usage_end",
        "calibration_verified_at",
        "cleaning_verified_at",
        "created_at",
        "updated_at",
    ]
    site_field = "batch__site"
    # The use log is written by its actions; an entry, once made, is kept.
    permission_classes = [_permission_allowing(*_KEPT_RECORD_METHODS, "POST")]
    http_method_names = ["get", "post", "delete", "head", "options"]
    workflow = EQUIPMENT_USAGE_WORKFLOW

    @extend_schema(
        request=BatchEquipmentCreateSerializer,
        responses={201: BatchEquipmentDetailSerializer},
        parameters=[idempotency_parameter],
    )
    def create(self, request, *args, **kwargs):
        """Add equipment to a pending or in-progress batch of your site: a registered `equipment`
        of the batch's site, or an `equipment_name` (and `equipment_id_manual`)."""
        serializer = BatchEquipmentCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        usage = equipment_usage.add_batch_equipment(data.pop("batch"), actor=request.user, **data)
        return self.respond_with(usage, status=201)
