from core.api.serializers import SignatureInputSerializer
from core.api.viewsets import AuditedViewSet, record_action
from core.exceptions import Conflict
from deviations import services
from deviations.filtersets import DeviationFilterSet
from deviations.models import Deviation, DeviationStatus

from .serializers import (
    DeviationCreateSerializer,
    DeviationListSerializer,
    DeviationSerializer,
    DeviationUpdateSerializer,
    InvestigateInputSerializer,
)


class DeviationViewSet(AuditedViewSet):
    """QMS deviations (21 CFR 211.192): reported, investigated, closed with a signature."""

    queryset = Deviation.objects.select_related("site", "created_by", "updated_by", "closed_by")
    detail_prefetch_related = ["signatures", "capas"]
    serializer_class = DeviationSerializer
    list_serializer_class = DeviationListSerializer
    filterset_class = DeviationFilterSet
    site_field = "site"
    search_fields = ["deviation_id", "title", "description"]
    ordering_fields = ["deviation_id", "title", "severity", "status", "created_at", "updated_at", "closed_at"]

    def get_serializer_class(self):
        if self.action == "create":
            return DeviationCreateSerializer
        if self.action in ("update", "partial_update"):
            return DeviationUpdateSerializer
        return super().get_serializer_class()

    def check_editable(self, record):
        if record.status == DeviationStatus.CLOSED:
            raise Conflict(
                f"Cannot edit {record.deviation_id}: it is closed.",
                current_status=record.status,
                action="update",
            )

    @record_action(InvestigateInputSerializer)
    def investigate(self, request, pk=None):
        return self.run_action(services.investigate_deviation, InvestigateInputSerializer)

    @record_action(SignatureInputSerializer)
    def close(self, request, pk=None):
        return self.run_action(services.close_deviation, SignatureInputSerializer)
