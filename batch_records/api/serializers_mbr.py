from batch_records.models import MasterBatchRecord
from batch_records.services.mbr import may_approve
from batch_records.workflows import MBR_WORKFLOW
from core.api.serializers import (
    AllowedActionsField,
    AuditedModelSerializer,
    SignaturesField,
    change_reason_field,
    username_field,
)


class MBRAllowedActionsField(AllowedActionsField):
    """The workflow's offer, without `approve` for the record's own author."""

    def to_representation(self, record):
        actions = super().to_representation(record)
        request = self.context.get("request")
        if request is not None and not may_approve(record, request.user):
            actions = [action for action in actions if action != "approve"]
        return actions


class MasterBatchRecordListSerializer(AuditedModelSerializer):
    """The list row: identity, product and lifecycle, without the JSON content."""

    author = username_field()
    approved_by = username_field()

    class Meta:
        model = MasterBatchRecord
        fields = [
            "id",
            "mbr_id",
            "title",
            "product_name",
            "product_code",
            "version",
            "status",
            "product_line",
            "effective_date",
            "yield_limit_min",
            "yield_limit_max",
            "is_serialized",
            "author",
            "approved_by",
            "approval_date",
            "previous_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MasterBatchRecordSerializer(AuditedModelSerializer):
    """Everything, with signatures and the actions the requesting user may take.

    Writes go through the services (content validated there, with element paths)."""

    author = username_field()
    approved_by = username_field()
    signatures = SignaturesField()
    allowed_actions = MBRAllowedActionsField(MBR_WORKFLOW)
    reason = change_reason_field()

    class Meta:
        model = MasterBatchRecord
        fields = [
            "id",
            "mbr_id",
            "title",
            "product_name",
            "product_code",
            "version",
            "status",
            "bill_of_materials",
            "manufacturing_instructions",
            "quality_specifications",
            "linked_document",
            "product_line",
            "effective_date",
            "yield_limit_min",
            "yield_limit_max",
            "is_serialized",
            "author",
            "approved_by",
            "approval_date",
            "previous_version",
            "signatures",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = ["mbr_id", "version", "status", "approval_date", "previous_version"]
        # Uniqueness of (product_code, version) is checked by the service, with a useful message.
        validators = []
