from rest_framework import serializers

from core.api.serializers import AllowedActionsField, AuditedModelSerializer, SignaturesField
from documents.models import Document
from documents.workflows import DOCUMENT_WORKFLOW


class DocumentListSerializer(AuditedModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "doc_id", "title", "version", "status", "effective_date", "updated_at"]
        read_only_fields = fields


class DocumentSerializer(AuditedModelSerializer):
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(DOCUMENT_WORKFLOW)
    reason = serializers.CharField(write_only=True, required=False, help_text="Reason for the change (audit trail).")

    class Meta:
        model = Document
        fields = [
            "id",
            "doc_id",
            "title",
            "version",
            "description",
            "status",
            "file",
            "url",
            "effective_date",
            "signatures",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = ["doc_id", "status"]
