from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import (
    AllowedActionsField,
    AuditedModelSerializer,
    ReasonInputSerializer,
    SignatureInputSerializer,
    SignaturesField,
    SignedReasonInputSerializer,
    username_field,
)
from serials.models import SerialNumber, SerialStepOverride, SerialStepStatus
from serials.services import optional_step_numbers
from serials.workflows import SERIAL_WORKFLOW


class SerialStepStatusSerializer(serializers.ModelSerializer):
    step_number = serializers.IntegerField(source="step.step_number", read_only=True)
    instruction_text = serializers.CharField(source="step.instruction_text", read_only=True)
    optional = serializers.SerializerMethodField()
    performed_by = username_field()
    signatures = SignaturesField()

    class Meta:
        model = SerialStepStatus
        fields = [
            "id",
            "step",
            "step_number",
            "step_index",
            "instruction_text",
            "optional",
            "status",
            "actual_values",
            "is_within_spec",
            "performed_by",
            "performed_at",
            "signatures",
        ]
        read_only_fields = fields

    def get_optional(self, status) -> bool:
        return status.step.step_number in self.context["optional_step_numbers"]


class SerialStepOverrideSerializer(serializers.ModelSerializer):
    step_number = serializers.IntegerField(source="step.step_number", read_only=True)
    created_by = username_field()
    signatures = SignaturesField()

    class Meta:
        model = SerialStepOverride
        fields = ["id", "step", "step_number", "reason", "active", "created_by", "created_at", "signatures"]
        read_only_fields = fields


class SerialNumberListSerializer(AuditedModelSerializer):
    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)

    class Meta:
        model = SerialNumber
        fields = [
            "id",
            "serial_id",
            "batch",
            "batch_id",
            "status",
            "current_step_index",
            "force_completed",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SerialNumberSerializer(AuditedModelSerializer):
    """A unit with its step statuses, waivers and signatures (the seed's SerialNumber)."""

    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)
    current_step_number = serializers.SerializerMethodField()
    force_completed_by = username_field()
    force_completed_reason = serializers.SerializerMethodField()
    incomplete_step_ids = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text="The batch steps (ids) required and not done when the unit was force-completed.",
    )
    scrapped_by = username_field()
    step_statuses = serializers.SerializerMethodField()
    waivers = SerialStepOverrideSerializer(source="overrides", many=True, read_only=True)
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(SERIAL_WORKFLOW)

    class Meta:
        model = SerialNumber
        fields = [
            "id",
            "serial_id",
            "batch",
            "batch_id",
            "status",
            "current_step_index",
            "current_step_number",
            "completed_at",
            "force_completed",
            "force_completed_by",
            "force_completed_at",
            "force_completed_reason",
            "incomplete_step_ids",
            "scrapped_reason",
            "scrapped_at",
            "scrapped_by",
            "step_statuses",
            "waivers",
            "signatures",
            "allowed_actions",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = fields

    def _statuses(self, serial):
        return sorted(serial.step_statuses.all(), key=lambda status: status.step_index)

    def get_current_step_number(self, serial) -> int | None:
        for status in self._statuses(serial):
            if status.step_index == serial.current_step_index:
                return status.step.step_number
        return None

    def get_force_completed_reason(self, serial) -> str | None:
        return serial.force_completed_reason or None

    @extend_schema_field(SerialStepStatusSerializer(many=True))
    def get_step_statuses(self, serial):
        context = {**self.context, "optional_step_numbers": optional_step_numbers(serial.batch)}
        return SerialStepStatusSerializer(self._statuses(serial), many=True, context=context).data


class SerialAdvanceInputSerializer(SignatureInputSerializer):
    actual_values = serializers.DictField(
        child=serializers.JSONField(),
        allow_empty=True,
        help_text='The values recorded for this unit at its current step, e.g. {"torque": 1.2}.',
    )
    step_number = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The step these values are for; 409 if the unit is no longer at it (recommended).",
    )


class SerialAdvanceToStepInputSerializer(ReasonInputSerializer):
    step_number = serializers.IntegerField(min_value=1, help_text="The step to move the unit to (forward only).")


class SerialWaiveStepInputSerializer(SignedReasonInputSerializer):
    step_number = serializers.IntegerField(min_value=1, help_text="The step waived for this unit.")


class SerialForceCompleteInputSerializer(SignatureInputSerializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Why normal completion is not possible; recommended, kept in the record.",
    )


class SerialProgressSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    batch_id = serializers.CharField()
    total = serializers.IntegerField()
    completed = serializers.IntegerField(help_text="Completed units, force-completed ones included.")
    force_completed = serializers.IntegerField()
    scrapped = serializers.IntegerField()
    in_progress = serializers.IntegerField()
