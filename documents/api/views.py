from core.api.serializers import SignatureInputSerializer, SignedReasonInputSerializer
from core.api.viewsets import AuditedViewSet, record_action
from core.exceptions import Conflict
from documents import services
from documents.filtersets import DocumentFilterSet
from documents.models import Document, DocumentStatus

from .serializers import DocumentListSerializer, DocumentSerializer


class DocumentViewSet(AuditedViewSet):
    """Controlled documents: drafted, made effective with a signature, made obsolete."""

    queryset = Document.objects.select_related("created_by", "updated_by")
    detail_prefetch_related = ["signatures"]
    serializer_class = DocumentSerializer
    list_serializer_class = DocumentListSerializer
    filterset_class = DocumentFilterSet
    search_fields = ["doc_id", "title", "description"]
    ordering_fields = ["doc_id", "title", "status", "effective_date", "created_at", "updated_at"]
    deletable_statuses = {DocumentStatus.DRAFT}

    def check_editable(self, record):
        if record.status != DocumentStatus.DRAFT:
            raise Conflict(
                f"Cannot edit {record.doc_id}: content can only change in draft, and it is '{record.status}'.",
                current_status=record.status,
                action="update",
            )

    @record_action(SignatureInputSerializer)
    def make_effective(self, request, pk=None):
        return self.run_action(services.make_document_effective, SignatureInputSerializer)

    @record_action(SignedReasonInputSerializer)
    def obsolete(self, request, pk=None):
        return self.run_action(services.obsolete_document, SignedReasonInputSerializer)
