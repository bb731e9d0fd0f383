from django.db.models import Prefetch

from core.api.serializers import ReasonInputSerializer
from core.api.viewsets import AuditedViewSet
from orders import services
from orders.filtersets import ProductionOrderFilterSet
from orders.models import OrderBatch, ProductionOrder
from orders.workflows import ORDER_WORKFLOW

from .serializers import (
    CloseOrderInputSerializer,
    CreateOrderBatchInputSerializer,
    LinkOrderBatchInputSerializer,
    ProductionOrderListSerializer,
    ProductionOrderSerializer,
)


class ProductionOrderViewSet(AuditedViewSet):
    """Production orders (`PO-0001`): what a site must make of a product, by when, and the batches
    that make it. A batch's completion adds its produced quantity; the last batch completes the
    order, otherwise a continuation batch follows when `continue_automatically` is set."""

    queryset = ProductionOrder.objects.select_related("site", "mbr", "created_by", "updated_by")
    detail_prefetch_related = [
        Prefetch("order_batches", queryset=OrderBatch.objects.select_related("batch__mbr", "continues"))
    ]
    serializer_class = ProductionOrderSerializer
    list_serializer_class = ProductionOrderListSerializer
    filterset_class = ProductionOrderFilterSet
    search_fields = ["order_id", "reference", "mbr__product_code", "mbr__product_name"]
    ordering_fields = ["order_id", "status", "due_date", "quantity_ordered", "created_at", "updated_at"]
    site_field = "site"
    workflow = ORDER_WORKFLOW
    action_inputs = {
        "create_batch": CreateOrderBatchInputSerializer,
        "link_batch": LinkOrderBatchInputSerializer,
        "cancel": ReasonInputSerializer,
        "close": CloseOrderInputSerializer,
    }
    create_service = services.create_order
    update_service = services.update_order
    # Orders are kept: cancel one instead.
    http_method_names = ["get", "post", "patch", "head", "options"]
