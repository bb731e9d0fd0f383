from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from batch_records.choices import MBRStatus
from batch_records.filtersets import MasterBatchRecordFilterSet
from batch_records.models import MasterBatchRecord
from batch_records.services import mbr as services
from batch_records.workflows import MBR_WORKFLOW
from core.api.serializers import (
    ActionInputSerializer,
    ReasonInputSerializer,
    SignatureInputSerializer,
    SignedReasonInputSerializer,
)
from core.api.viewsets import AuditedViewSet, record_action
from core.services import lock

from .serializers_mbr import MasterBatchRecordListSerializer, MasterBatchRecordSerializer


class OptionalReasonInputSerializer(ActionInputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Kept in the audit trail.")


class MasterBatchRecordViewSet(AuditedViewSet):
    """Master batch records: written as drafts, reviewed, approved with a signature,
    superseded by their next version, made obsolete."""

    queryset = MasterBatchRecord.objects.select_related("author", "approved_by", "created_by", "updated_by")
    detail_prefetch_related = ["signatures"]
    serializer_class = MasterBatchRecordSerializer
    list_serializer_class = MasterBatchRecordListSerializer
    filterset_class = MasterBatchRecordFilterSet
    search_fields = ["mbr_id", "title", "product_name", "product_code"]
    ordering_fields = [
        "mbr_id",
        "title",
        "product_name",
        "product_code",
        "version",
        "status",
        "effective_date",
        "approval_date",
        "created_at",
        "updated_at",
    ]
    # MBRs are company-wide recipes; the batches made from them are site-bound.
    site_field = None
    deletable_statuses = {MBRStatus.DRAFT}
    workflow = MBR_WORKFLOW
    action_inputs = {
        "return_to_draft": ReasonInputSerializer,
        "approve": SignatureInputSerializer,
        "supersede": OptionalReasonInputSerializer,
        "obsolete": SignedReasonInputSerializer,
    }

    def check_editable(self, record):
        services.check_mbr_editable(record)

    def perform_create(self, serializer):
        serializer.instance = services.create_mbr(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        record = lock(serializer.instance)
        self.check_if_match(record)
        self.check_editable(record)
        serializer.instance = services.update_mbr(record, actor=self.request.user, **serializer.validated_data)

    @extend_schema(responses={201: MasterBatchRecordSerializer})
    @record_action(ActionInputSerializer)
    def new_version(self, request, pk=None):
        """A draft copy of this approved MBR with the product's next version number."""
        return self.run_transition(MBR_WORKFLOW, "new_version", ActionInputSerializer, status=201)
