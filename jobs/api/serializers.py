from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from core.api.serializers import ActionInputSerializer
from jobs.models import ExportFormat, ExportJob


class ExportJobRequestSerializer(ActionInputSerializer):
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.JSON)


class ExportJobSerializer(serializers.ModelSerializer):
    """A background export: where it is, and once done, the file and its SHA-256."""

    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)
    requested_by = serializers.SlugRelatedField(source="created_by", slug_field="username", read_only=True)
    requested_at = serializers.DateTimeField(source="created_at", read_only=True)
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "job_id",
            "url",
            "batch",
            "batch_id",
            "format",
            "status",
            "progress",
            "stage",
            "attempts",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
            "filename",
            "content_type",
            "size_bytes",
            "sha256",
            "download_url",
            "error",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job):
        return reverse("exportjob-detail", args=[job.pk], request=self.context.get("request"))

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_download_url(self, job):
        if not job.file:
            return None
        return reverse("exportjob-download", args=[job.pk], request=self.context.get("request"))
