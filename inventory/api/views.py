from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.serializers import SignatureInputSerializer, SignedReasonInputSerializer
from core.api.viewsets import AuditedViewSet, RolePermission, idempotency_parameter, record_action
from core.exceptions import Conflict, NotPermitted
from core.scoping import visible_to
from core.services import lock
from inventory import services, traceability
from inventory.filtersets import LotFilterSet, LotMovementFilterSet, MaterialFilterSet
from inventory.models import Lot, LotMovement, Material

from .serializers import (
    LotAdjustInputSerializer,
    LotExpireInputSerializer,
    LotListSerializer,
    LotMovementSerializer,
    LotReceiveSerializer,
    LotSerializer,
    MaterialSerializer,
    WhereUsedSerializer,
)

_AUDIT_USERS = ("created_by", "updated_by")


class MaterialViewSet(AuditedViewSet):
    """The materials kept in stock, by the code bills of materials use. Records
    administrators create and edit them; a material with lots is kept."""

    queryset = Material.objects.select_related(*_AUDIT_USERS)
    serializer_class = MaterialSerializer
    filterset_class = MaterialFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "unit_of_measure", "standard_cost", "created_at", "updated_at"]

    def perform_destroy(self, instance):
        record = lock(instance)
        self.check_if_match(record)
        if record.lots.exists():
            raise Conflict(
                f"Cannot delete material {record.code}: it has lots in the inventory, and their records are kept.",
                action="delete",
            )
        if not self.request.user.has_perm("inventory.delete_material"):
            raise NotPermitted("You do not have permission to delete this record.")
        record.delete(actor=self.request.user)


class LotViewSet(AuditedViewSet):
    """Lots of materials at the user's sites: received into quarantine, released or rejected
    by QA (signed), expired, adjusted; each quantity change is a movement of the ledger."""

    queryset = Lot.objects.select_related("material", "site", "produced_by_batch", "released_by", *_AUDIT_USERS)
    detail_prefetch_related = ["signatures"]
    serializer_class = LotSerializer
    list_serializer_class = LotListSerializer
    filterset_class = LotFilterSet
    search_fields = ["lot_id", "supplier_lot", "supplier", "material__code", "material__name"]
    ordering_fields = [
        "lot_id",
        "status",
        "expiry_date",
        "quantity_on_hand",
        "unit_price",
        "supplier",
        "supplier_lot",
        "created_at",
        "updated_at",
    ]
    site_field = "site"
    # A lot is a GMP record once received: DELETE answers 409 to whoever may see it.
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=LotReceiveSerializer, responses={201: LotSerializer}, parameters=[idempotency_parameter])
    def create(self, request, *args, **kwargs):
        """Receive a lot: `material` (code), `site`, `supplier`, `supplier_lot`, `expiry_date`,
        `quantity`, `unit_price`. It enters quarantine with a receipt movement."""
        serializer = LotReceiveSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        lot = services.receive_lot(actor=request.user, **serializer.validated_data)
        return self.respond_with(lot, status=201)

    @record_action(SignatureInputSerializer)
    def release(self, request, pk=None):
        """quarantine → released by QA, signed "released"; a lot past its expiry date is 409."""
        return self.run_action(services.release_lot, SignatureInputSerializer)

    @record_action(SignedReasonInputSerializer)
    def reject(self, request, pk=None):
        """quarantine|released → rejected, with the `reason`, signed "rejected"."""
        return self.run_action(services.reject_lot, SignedReasonInputSerializer)

    @record_action(LotExpireInputSerializer)
    def expire(self, request, pk=None):
        """quarantine|released → expired, once the expiry date has passed (409 before)."""
        return self.run_action(services.expire_lot, LotExpireInputSerializer)

    @record_action(LotAdjustInputSerializer)
    def adjust(self, request, pk=None):
        """Correct the quantity on hand by a signed `quantity`, with the `reason` (an adjustment
        movement); 409 if it would go below 0."""
        return self.run_action(services.adjust_lot, LotAdjustInputSerializer)

    @extend_schema(responses=WhereUsedSerializer, filters=False)
    @action(detail=True, methods=["get"], url_path="where-used", url_name="where-used")
    def where_used(self, request, pk=None):
        """Forward genealogy: the batches that drew from this lot, and their finished-goods lots."""
        lot = self.get_object()
        return Response(WhereUsedSerializer(traceability.lot_where_used(lot)).data)


class _LedgerPermission(RolePermission):
    perms_map = {method: perms for method, perms in RolePermission.perms_map.items() if method in ("GET", "HEAD")}


class LotMovementViewSet(viewsets.ReadOnlyModelViewSet):
    """The lot ledger, read-only: every receipt, adjustment, consumption, return and
    production, with the batch and the user behind it."""

    queryset = LotMovement.objects.select_related("lot", "batch", "actor")
    serializer_class = LotMovementSerializer
    filterset_class = LotMovementFilterSet
    permission_classes = [_LedgerPermission]
    search_fields = ["lot__lot_id", "batch__batch_id", "reason"]
    ordering_fields = ["created_at", "id", "kind", "quantity"]
    ordering = ["created_at", "id"]

    def get_queryset(self):
        return visible_to(super().get_queryset(), self.request.user)
