from capa import services
from capa.filtersets import CAPAFilterSet
from capa.models import CAPA, CAPAStatus
from core.api.serializers import SignatureInputSerializer
from core.api.viewsets import AuditedViewSet, record_action
from core.exceptions import Conflict

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

    def get_serializer_class(self):
        if self.action == "create":
            return CAPACreateSerializer
        if self.action in ("update", "partial_update"):
            return CAPAUpdateSerializer
        return super().get_serializer_class()

    def check_editable(self, record):
        if record.status == CAPAStatus.CLOSED:
            raise Conflict(
                f"Cannot edit {record.capa_id}: it is closed.",
                current_status=record.status,
                action="update",
            )

    @record_action(CAPAReasonInputSerializer)
    def start(self, request, pk=None):
        return self.run_action(services.start_capa, CAPAReasonInputSerializer)

    @record_action(CAPAReasonInputSerializer)
    def check_effectiveness(self, request, pk=None):
        return self.run_action(services.check_capa_effectiveness, CAPAReasonInputSerializer)

    @record_action(SignatureInputSerializer)
    def close(self, request, pk=None):
        return self.run_action(services.close_capa, SignatureInputSerializer)
