from rest_framework import serializers

from core.api.serializers import AllowedActionsField, AuditedModelSerializer, SignaturesField, change_reason_field
from documents.models import Document
from documents.workflows import DOCUMENT_WORKFLOW
from users.models import Site


class DocumentListSerializer(AuditedModelSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)

    class Meta:
        model = Document
        fields = ["id", "doc_id", "title", "version", "status", "site", "site_code", "effective_date", "updated_at"]
        read_only_fields = fields


class DocumentSerializer(AuditedModelSerializer):
    site = serializers.PrimaryKeyRelatedField(
        queryset=Site.objects.all(),
        required=False,
        help_text="The site keeping the document; defaults to the author's site when they belong to one only.",
    )
    site_code = serializers.CharField(source="site.code", read_only=True)
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(DOCUMENT_WORKFLOW)
    reason = change_reason_field()

    class Meta:
        model = Document
        fields = [
            "id",
            "doc_id",
            "title",
            "version",
            "description",
            "status",
            "site",
            "site_code",
            "file",
            "url",
            "effective_date",
            "signatures",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = ["doc_id", "status"]
        extra_kwargs = {
            "file": {
                "help_text": "PDF, PNG, JPEG, TIFF, Word, Excel, PowerPoint or OpenDocument; at most EBR_UPLOAD_MAX_MB."
            }
        }

    def validate_site(self, site):
        if self.instance is not None and site != self.instance.site:
            raise serializers.ValidationError("A document stays at the site that keeps it.")
        return site

    def validate(self, attrs):
        if self.instance is None and "site" not in attrs:
            user = self.context["request"].user
            sites = list(user.sites.all()[:2])
            if len(sites) != 1:
                raise serializers.ValidationError({"site": ["Name the site keeping the document."]})
            attrs["site"] = sites[0]
        return super().validate(attrs)
