from rest_framework import serializers

from core.api.serializers import ActionInputSerializer, AllowedActionsField, AuditedModelSerializer, change_reason_field
from equipment.models import CalibrationRecord, CleaningLog, Equipment, RecordResult
from equipment.services import usability_problems
from equipment.workflows import EQUIPMENT_WORKFLOW, SETTABLE_STATUSES


class EquipmentListSerializer(AuditedModelSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)
    usable = serializers.SerializerMethodField()

    class Meta:
        model = Equipment
        fields = [
            "id",
            "equipment_id",
            "name",
            "equipment_type",
            "site",
            "site_code",
            "status",
            "calibration_due_date",
            "cleaning_status",
            "cleaned_at",
            "usable",
            "updated_at",
        ]
        read_only_fields = fields

    def get_usable(self, equipment) -> bool:
        return not usability_problems(equipment)


class EquipmentSerializer(AuditedModelSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)
    usability_problems = serializers.SerializerMethodField()
    allowed_actions = AllowedActionsField(EQUIPMENT_WORKFLOW)
    reason = change_reason_field()

    class Meta:
        model = Equipment
        fields = [
            "id",
            "equipment_id",
            "name",
            "equipment_type",
            "site",
            "site_code",
            "status",
            "calibration_due_date",
            "cleaning_status",
            "cleaned_at",
            "cleaning_validity_hours",
            "usability_problems",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        # Status, calibration and cleaning change only through the actions, so that each
        # change has its calibration record or cleaning log (21 CFR 211.182).
        read_only_fields = ["equipment_id", "status", "calibration_due_date", "cleaning_status", "cleaned_at"]
        extra_kwargs = {"cleaning_validity_hours": {"min_value": 1}}

    def get_usability_problems(self, equipment) -> list[str]:
        return usability_problems(equipment)

    def validate_site(self, site):
        user = self.context["request"].user
        if not user.is_superuser and not user.sites.filter(pk=site.pk).exists():
            raise serializers.ValidationError(f"You are not a member of site {site.code}.")
        return site


class CalibrationRecordSerializer(AuditedModelSerializer):
    equipment_code = serializers.CharField(source="equipment.equipment_id", read_only=True)
    performed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CalibrationRecord
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "performed_at",
            "performed_by",
            "result",
            "next_due_date",
            "certificate",
            "notes",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = fields


class CleaningLogSerializer(AuditedModelSerializer):
    equipment_code = serializers.CharField(source="equipment.equipment_id", read_only=True)
    cleaned_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CleaningLog
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "cleaned_at",
            "cleaned_by",
            "result",
            "method",
            "notes",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = fields


class CalibrationInputSerializer(ActionInputSerializer):
    result = serializers.ChoiceField(choices=RecordResult.choices)
    next_due_date = serializers.DateField(
        required=False, allow_null=True, help_text="Required for a pass; must be in the future."
    )
    certificate = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class CleaningInputSerializer(ActionInputSerializer):
    result = serializers.ChoiceField(choices=RecordResult.choices)
    method = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class StatusInputSerializer(ActionInputSerializer):
    status = serializers.ChoiceField(
        choices=[
            (value, label) for value, label in Equipment._meta.get_field("status").choices if value in SETTABLE_STATUSES
        ],
        help_text="'in_use' is set only by batch usage.",
    )
    reason = serializers.CharField(help_text="Why the status changes; kept in the audit trail.")
