from rest_framework import serializers

from core.api.serializers import (
    ActionInputSerializer,
    AllowedActionsField,
    AuditedModelSerializer,
    SignaturesField,
    change_reason_field,
)
from deviations.models import Deviation
from deviations.workflows import DEVIATION_WORKFLOW


class DeviationListSerializer(AuditedModelSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)

    class Meta:
        model = Deviation
        fields = [
            "id",
            "deviation_id",
            "title",
            "severity",
            "status",
            "site",
            "site_code",
            "created_at",
            "created_by",
            "closed_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeviationSerializer(AuditedModelSerializer):
    """The detail representation. Creating and editing use the two subclasses below,
    which differ only in what the payload may set."""

    site_code = serializers.CharField(source="site.code", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    capas = serializers.SlugRelatedField(slug_field="capa_id", many=True, read_only=True)
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(DEVIATION_WORKFLOW)
    reason = change_reason_field()

    class Meta:
        model = Deviation
        fields = [
            "id",
            "deviation_id",
            "title",
            "description",
            "severity",
            "status",
            "site",
            "site_code",
            "root_cause",
            "conclusion",
            "closed_by",
            "closed_at",
            "capas",
            "signatures",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = ["deviation_id", "status", "closed_at"]


class DeviationCreateSerializer(DeviationSerializer):
    """Reporting: what happened, how bad, where. The investigation comes later."""

    class Meta(DeviationSerializer.Meta):
        read_only_fields = [*DeviationSerializer.Meta.read_only_fields, "root_cause", "conclusion"]

    def validate_site(self, site):
        user = self.context["request"].user
        if not user.is_superuser and not user.sites.filter(pk=site.pk).exists():
            raise serializers.ValidationError(f"You are not a member of site {site.code}.")
        return site


class DeviationUpdateSerializer(DeviationSerializer):
    """The investigation: the report's title and site stay as reported."""

    class Meta(DeviationSerializer.Meta):
        read_only_fields = [*DeviationSerializer.Meta.read_only_fields, "title", "site"]


class InvestigateInputSerializer(ActionInputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Kept in the audit trail.")
