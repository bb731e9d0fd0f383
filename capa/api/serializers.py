from django.utils import timezone
from rest_framework import serializers

from capa.models import CAPA
from capa.workflows import CAPA_WORKFLOW
from core.api.serializers import (
    ActionInputSerializer,
    AllowedActionsField,
    AuditedModelSerializer,
    SignaturesField,
    change_reason_field,
)
from deviations.models import Deviation


class CAPAListSerializer(AuditedModelSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)
    owner_username = serializers.CharField(source="owner.username", read_only=True)
    deviation_number = serializers.CharField(source="deviation.deviation_id", read_only=True, default=None)
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = CAPA
        fields = [
            "id",
            "capa_id",
            "title",
            "status",
            "site",
            "site_code",
            "owner",
            "owner_username",
            "due_date",
            "is_overdue",
            "deviation",
            "deviation_number",
            "closed_at",
            "updated_at",
        ]
        read_only_fields = fields


class CAPASerializer(AuditedModelSerializer):
    """The detail representation. Creating and editing use the two subclasses below,
    which differ only in what the payload may set."""

    site_code = serializers.CharField(source="site.code", read_only=True)
    owner_username = serializers.CharField(source="owner.username", read_only=True)
    deviation_number = serializers.CharField(source="deviation.deviation_id", read_only=True, default=None)
    is_overdue = serializers.BooleanField(read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(CAPA_WORKFLOW)
    reason = change_reason_field()

    class Meta:
        model = CAPA
        fields = [
            "id",
            "capa_id",
            "title",
            "description",
            "action_plan",
            "effectiveness_result",
            "status",
            "site",
            "site_code",
            "owner",
            "owner_username",
            "due_date",
            "is_overdue",
            "deviation",
            "deviation_number",
            "closed_by",
            "closed_at",
            "signatures",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = ["capa_id", "status", "closed_at"]

    def get_fields(self):
        fields = super().get_fields()
        deviation = fields.get("deviation")
        request = self.context.get("request")
        if deviation is not None and not deviation.read_only and request is not None:
            # Only deviations the user can see may be linked (another site's is "not found").
            user = request.user
            if not user.is_authenticated:
                deviation.queryset = Deviation.objects.none()
            elif not user.is_superuser:
                deviation.queryset = Deviation.objects.filter(site__in=user.sites.all())
        return fields

    def validate_due_date(self, due_date):
        unchanged = self.instance is not None and due_date == self.instance.due_date
        if due_date is not None and not unchanged and due_date < timezone.localdate():
            raise serializers.ValidationError("The due date cannot be in the past.")
        return due_date


class CAPACreateSerializer(CAPASerializer):
    """Opening a CAPA: the problem, the plan, who owns it, by when, where."""

    class Meta(CAPASerializer.Meta):
        read_only_fields = [*CAPASerializer.Meta.read_only_fields, "effectiveness_result"]

    def validate_site(self, site):
        user = self.context["request"].user
        if not user.is_superuser and not user.sites.filter(pk=site.pk).exists():
            raise serializers.ValidationError(f"You are not a member of site {site.code}.")
        return site


class CAPAUpdateSerializer(CAPASerializer):
    """Editing while not closed; the site stays the one the CAPA was opened at."""

    class Meta(CAPASerializer.Meta):
        read_only_fields = [*CAPASerializer.Meta.read_only_fields, "site"]


class CAPAReasonInputSerializer(ActionInputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Kept in the audit trail.")
