from core.api.serializers import SignatureInputSerializer
from core.api.viewsets import AuditedViewSet
from deviations import services
from deviations.filtersets import DeviationFilterSet
from deviations.models import Deviation
from deviations.workflows import DEVIATION_WORKFLOW

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
    workflow = DEVIATION_WORKFLOW
    action_inputs = {"investigate": InvestigateInputSerializer, "close": SignatureInputSerializer}
    create_service = services.create_deviation
    update_service = services.update_deviation

    def get_serializer_class(self):
        if self.action == "create":
            return DeviationCreateSerializer
        if self.action in ("update", "partial_update"):
            return DeviationUpdateSerializer
        return super().get_serializer_class()
