from core.api.parsers import PayloadTooLarge
from core.api.serializers import SignatureInputSerializer, SignedReasonInputSerializer
from core.api.viewsets import AuditedViewSet
from documents.filtersets import DocumentFilterSet
from documents.models import Document, DocumentStatus
from documents.uploads import max_upload_bytes, too_large_message
from documents.workflows import DOCUMENT_WORKFLOW

from .serializers import DocumentListSerializer, DocumentSerializer


class DocumentViewSet(AuditedViewSet):
    """Controlled documents: drafted, made effective with a signature, made obsolete."""

    queryset = Document.objects.select_related("site", "created_by", "updated_by")
    detail_prefetch_related = ["signatures"]
    serializer_class = DocumentSerializer
    list_serializer_class = DocumentListSerializer
    filterset_class = DocumentFilterSet
    search_fields = ["doc_id", "title", "description"]
    ordering_fields = ["doc_id", "title", "status", "effective_date", "created_at", "updated_at"]
    deletable_statuses = {DocumentStatus.DRAFT}
    workflow = DOCUMENT_WORKFLOW
    action_inputs = {"make_effective": SignatureInputSerializer, "obsolete": SignedReasonInputSerializer}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action in ("create", "update", "partial_update"):
            # Too large is 413, before the type and content of the file are looked at.
            upload = request.FILES.get("file")
            if upload is not None and upload.size > max_upload_bytes():
                raise PayloadTooLarge({"file": [too_large_message(upload.size)]})
