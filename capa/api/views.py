from capa import services
from capa.filtersets import CAPAFilterSet
from capa.models import CAPA
from capa.workflows import CAPA_WORKFLOW
from core.api.serializers import SignatureInputSerializer
from core.api.viewsets import AuditedViewSet

from .serializers import (
    CAPACreateSerializer,
    CAPAListSerializer,
    CAPAReasonInputSerializer,
    CAPASerializer,
    CAPAUpdateSerializer,
)


class CAPAViewSet(AuditedViewSet):
    """Corrective and preventive actions: opened by QA, started by their owner, checked for
    effectiveness, closed with a QA approver's signature."""

    queryset = CAPA.objects.select_related("site", "owner", "deviation", "created_by", "updated_by", "closed_by")
    detail_prefetch_related = ["signatures"]
    serializer_class = CAPASerializer
    list_serializer_class = CAPAListSerializer
    filterset_class = CAPAFilterSet
    site_field = "site"
    search_fields = ["capa_id", "title"]
    ordering_fields = ["capa_id", "title", "status", "due_date", "created_at", "updated_at", "closed_at"]
    workflow = CAPA_WORKFLOW
    action_inputs = {
        "start": CAPAReasonInputSerializer,
        "check_effectiveness": CAPAReasonInputSerializer,
        "close": SignatureInputSerializer,
    }
    create_service = services.create_capa
    update_service = services.update_capa

    def get_serializer_class(self):
        if self.action == "create":
            return CAPACreateSerializer
        if self.action in ("update", "partial_update"):
            return CAPAUpdateSerializer
        return super().get_serializer_class()
