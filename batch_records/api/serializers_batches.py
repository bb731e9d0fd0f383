"""Serializers of batch execution: batches, their steps, materials, equipment use and
deviations. Output serializers show the record; input serializers describe action bodies
(every business rule is in the services)."""

from rest_framework import serializers

from batch_records.choices import BatchStatus, DeviationType, StepStatus
from batch_records.models import (
    BatchDeviation,
    BatchEquipment,
    BatchMaterial,
    BatchRecord,
    BatchStep,
    MasterBatchRecord,
)
from batch_records.workflows import (
    BATCH_DEVIATION_WORKFLOW,
    BATCH_WORKFLOW,
    EQUIPMENT_USAGE_WORKFLOW,
    MATERIAL_WORKFLOW,
    STEP_WORKFLOW,
)
from capa.models import CAPA
from core.api.serializers import (
    ActionInputSerializer,
    AllowedActionsField,
    AuditedModelSerializer,
    SignatureInputSerializer,
    SignaturesField,
    SignedReasonInputSerializer,
    change_reason_field,
    username_field,
)
from deviations.models import Deviation
from users.models import Site


def _username(**kwargs):
    return username_field(**kwargs)


# --- nested children (read-only) -------------------------------------------------------


class BatchStepSerializer(AuditedModelSerializer):
    """One executed step: what was asked, what was recorded, who signed."""

    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)
    operator = _username()
    verifier = _username()
    deviations = serializers.SlugRelatedField(slug_field="deviation_id", many=True, read_only=True)
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(STEP_WORKFLOW)

    class Meta:
        model = BatchStep
        fields = [
            "id",
            "batch",
            "batch_id",
            "step_number",
            "instruction_text",
            "required_data_fields",
            "specifications",
            "requires_verification",
            "requires_separate_start",
            "status",
            "actual_values",
            "is_within_spec",
            "operator",
            "operator_signed_at",
            "verifier",
            "verifier_signed_at",
            "started_at",
            "completed_at",
            "skip_reason",
            "deviation_notes",
            "correction_count",
            "deviations",
            "signatures",
            "allowed_actions",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = fields


class BatchStepListSerializer(AuditedModelSerializer):
    """A step in a list: without its signatures (see the step detail)."""

    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)
    operator = _username()
    verifier = _username()

    class Meta:
        model = BatchStep
        fields = [
            "id",
            "batch",
            "batch_id",
            "step_number",
            "instruction_text",
            "requires_verification",
            "requires_separate_start",
            "status",
            "actual_values",
            "is_within_spec",
            "operator",
            "verifier",
            "started_at",
            "completed_at",
            "correction_count",
            "updated_at",
        ]
        read_only_fields = fields


class BatchMaterialSerializer(AuditedModelSerializer):
    """A bill-of-materials line as dispensed and consumed in the batch."""

    dispensed_by = _username()
    verified_by = _username()
    consumed_by = _username()
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(MATERIAL_WORKFLOW)

    class Meta:
        model = BatchMaterial
        fields = [
            "id",
            "batch",
            "line_number",
            "material_code",
            "material_name",
            "lot_number",
            "unit_of_measure",
            "quantity_required",
            "quantity_dispensed",
            "quantity_used",
            "stock_unit_of_measure",
            "stock_quantity_dispensed",
            "stock_quantity_used",
            "status",
            "dispensed_by",
            "dispensed_at",
            "verified_by",
            "verified_at",
            "consumed_by",
            "consumed_at",
            "returned_at",
            "return_reason",
            "signatures",
            "allowed_actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BatchEquipmentSerializer(AuditedModelSerializer):
    """One use of a piece of equipment in the batch."""

    started_by = _username()
    ended_by = _username()
    calibration_verified_by = _username()
    cleaning_verified_by = _username()
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(EQUIPMENT_USAGE_WORKFLOW)

    class Meta:
        model = BatchEquipment
        fields = [
            "id",
            "batch",
            "equipment",
            "equipment_name",
            "equipment_id_manual",
            "status",
            "usage_start",
            "usage_end",
            "started_by",
            "ended_by",
            "calibration_verified",
            "calibration_verified_by",
            "calibration_verified_at",
            "cleaning_verified",
            "cleaning_verified_by",
            "cleaning_verified_at",
            "signatures",
            "allowed_actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BatchDeviationSerializer(AuditedModelSerializer):
    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)
    step_number = serializers.IntegerField(source="batch_step.step_number", read_only=True, allow_null=True)
    resolved_by = _username()
    closed_by = _username()
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(BATCH_DEVIATION_WORKFLOW)

    class Meta:
        model = BatchDeviation
        fields = [
            "id",
            "deviation_id",
            "batch",
            "batch_id",
            "batch_step",
            "step_number",
            "batch_material",
            "deviation_type",
            "description",
            "impact_assessment",
            "immediate_action",
            "root_cause",
            "linked_deviation",
            "linked_capa",
            "status",
            "resolved_by",
            "resolution_date",
            "closed_by",
            "closed_at",
            "signatures",
            "allowed_actions",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = fields


class BatchDeviationListSerializer(BatchDeviationSerializer):
    class Meta(BatchDeviationSerializer.Meta):
        fields = [
            name for name in BatchDeviationSerializer.Meta.fields if name not in ("signatures", "allowed_actions")
        ]
        read_only_fields = fields


class BatchDeviationUpdateSerializer(BatchDeviationSerializer):
    """The investigation, written while the deviation is open or investigating (PATCH)."""

    reason = change_reason_field()

    class Meta(BatchDeviationSerializer.Meta):
        fields = [*BatchDeviationSerializer.Meta.fields, "reason"]
        read_only_fields = [
            name
            for name in fields
            if name
            not in ("impact_assessment", "immediate_action", "root_cause", "linked_deviation", "linked_capa", "reason")
        ]


class BatchDeviationResolveInputSerializer(SignatureInputSerializer):
    """Resolve: the root cause found, optionally the impact and the QMS records linked."""

    root_cause = serializers.CharField(help_text="The root cause found by the investigation (required).")
    impact_assessment = serializers.CharField(required=False, allow_blank=True)
    linked_deviation = serializers.PrimaryKeyRelatedField(
        queryset=Deviation.objects.all(),
        required=False,
        allow_null=True,
        help_text="A QMS deviation of the batch's site.",
    )
    linked_capa = serializers.PrimaryKeyRelatedField(
        queryset=CAPA.objects.all(), required=False, allow_null=True, help_text="A CAPA of the batch's site."
    )


class BatchDeviationCreateSerializer(ActionInputSerializer):
    """An operator reports a deviation in a batch of their site."""

    batch = serializers.PrimaryKeyRelatedField(queryset=BatchRecord.objects.all())
    batch_step = serializers.PrimaryKeyRelatedField(queryset=BatchStep.objects.all(), required=False, allow_null=True)
    batch_material = serializers.PrimaryKeyRelatedField(
        queryset=BatchMaterial.objects.all(), required=False, allow_null=True
    )
    deviation_type = serializers.ChoiceField(choices=DeviationType.choices)
    description = serializers.CharField()
    impact_assessment = serializers.CharField(required=False, allow_blank=True, default="")
    immediate_action = serializers.CharField(required=False, allow_blank=True, default="")


# --- batches ---------------------------------------------------------------------------


class BatchRecordListSerializer(AuditedModelSerializer):
    """A batch in a list: identity, product, status, quantities and flags."""

    mbr_id = serializers.CharField(source="mbr.mbr_id", read_only=True)
    mbr_version = serializers.IntegerField(source="mbr.version", read_only=True)
    product_code = serializers.CharField(source="mbr.product_code", read_only=True)
    product_name = serializers.CharField(source="mbr.product_name", read_only=True)
    site_code = serializers.CharField(source="site.code", read_only=True)

    class Meta:
        model = BatchRecord
        fields = [
            "id",
            "batch_id",
            "batch_number",
            "lot_number",
            "mbr",
            "mbr_id",
            "mbr_version",
            "product_code",
            "product_name",
            "site",
            "site_code",
            "production_line",
            "status",
            "quantity_planned",
            "quantity_produced",
            "quantity_rejected",
            "yield_percentage",
            "has_deviations",
            "review_by_exception",
            "started_at",
            "completed_at",
            "release_date",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# What may still change on a pending batch; the rest is fixed by the MBR snapshot.
BATCH_EDITABLE_FIELDS = ("lot_number", "production_line", "reason")


class BatchRecordSerializer(BatchRecordListSerializer):
    """The whole batch record, with its steps, materials, equipment use, deviations and
    signatures. Only `lot_number` and `production_line` can be edited, while pending:
    everything else is fixed by the MBR snapshot or recorded by actions."""

    reviewed_by = _username()
    released_by = _username()
    steps = BatchStepSerializer(many=True, read_only=True)
    materials = BatchMaterialSerializer(many=True, read_only=True)
    equipment = BatchEquipmentSerializer(many=True, read_only=True)
    deviations = BatchDeviationSerializer(many=True, read_only=True)
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(BATCH_WORKFLOW)
    reason = change_reason_field()

    class Meta:
        model = BatchRecord
        fields = [
            *(name for name in BatchRecordListSerializer.Meta.fields if name not in ("created_at", "updated_at")),
            "yield_limit_min",
            "yield_limit_max",
            "is_serialized",
            "reviewed_by",
            "reviewed_at",
            "released_by",
            "disposition_reason",
            # Cost snapshot taken at completion (never recomputed).
            "material_cost",
            "labour_cost",
            "overhead_cost",
            "total_cost",
            "unit_cost",
            "steps",
            "materials",
            "equipment",
            "deviations",
            "signatures",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = [name for name in fields if name not in BATCH_EDITABLE_FIELDS]


class BatchRecordCreateSerializer(ActionInputSerializer):
    """The body of a new batch: which approved MBR, how much, where."""

    mbr = serializers.PrimaryKeyRelatedField(queryset=MasterBatchRecord.objects.all())
    batch_number = serializers.CharField(max_length=50)
    lot_number = serializers.CharField(max_length=50)
    quantity_planned = serializers.DecimalField(max_digits=14, decimal_places=3)
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    production_line = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class BatchCompleteInputSerializer(ActionInputSerializer):
    quantity_produced = serializers.DecimalField(max_digits=14, decimal_places=3)
    quantity_rejected = serializers.DecimalField(max_digits=14, decimal_places=3)


# --- step actions ----------------------------------------------------------------------


def _actual_values_field():
    return serializers.DictField(
        child=serializers.JSONField(),
        allow_empty=True,
        help_text='The recorded values by data field name, e.g. {"blend_time": 10.5, "appearance_ok": true}.',
    )


class StepCompleteInputSerializer(SignatureInputSerializer):
    actual_values = _actual_values_field()


class StepCorrectInputSerializer(SignedReasonInputSerializer):
    actual_values = _actual_values_field()


# --- QA review -------------------------------------------------------------------------


class ReviewItemSerializer(serializers.Serializer):
    """One item of the review list or of the unmet release conditions."""

    kind = serializers.CharField(help_text="What it is, e.g. deviation, step_skipped, invalid_signature.")
    reference = serializers.CharField(help_text="The record concerned, e.g. BD-0003 or 'BR-0007 step 2'.")
    status = serializers.CharField(allow_null=True, help_text="The status of that record.")
    message = serializers.CharField()


# --- the operator's next step -----------------------------------------------------------


class DataFieldSerializer(serializers.Serializer):
    """One value to record, with its limits (inclusive) where the step specifies them."""

    name = serializers.CharField()
    type = serializers.CharField(help_text="number, text, boolean or choice.")
    unit = serializers.CharField(allow_null=True)
    choices = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="The valid values of a choice field; else null."
    )
    min = serializers.CharField(allow_null=True, help_text="Lowest value within spec (decimal string).")
    max = serializers.CharField(allow_null=True, help_text="Highest value within spec (decimal string).")


class NextStepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="e.g. 'BR-0011 step 2'.")
    step_number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=StepStatus.choices)
    instruction_text = serializers.CharField()
    data_fields = DataFieldSerializer(many=True)
    requires_verification = serializers.BooleanField()
    requires_separate_start = serializers.BooleanField()
    operator = serializers.CharField(allow_null=True)
    allowed_actions = serializers.ListField(child=serializers.CharField())


class BatchNextSerializer(serializers.Serializer):
    """What the requesting user can do in the batch now."""

    batch = serializers.IntegerField()
    batch_id = serializers.CharField()
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    steps = NextStepSerializer(many=True)


def next_step_row(step, actions):
    limits = step.specifications or {}
    return {
        "id": step.pk,
        "reference": step.display_id,
        "step_number": step.step_number,
        "status": step.status,
        "instruction_text": step.instruction_text,
        "data_fields": [
            {
                "name": field["name"],
                "type": field.get("type"),
                "unit": field.get("unit"),
                "choices": field.get("choices"),
                "min": _limit(limits, field["name"], "min"),
                "max": _limit(limits, field["name"], "max"),
            }
            for field in step.required_data_fields
        ],
        "requires_verification": step.requires_verification,
        "requires_separate_start": step.requires_separate_start,
        "operator": step.operator.get_username() if step.operator_id else None,
        "allowed_actions": actions,
    }


def _limit(limits, name, bound):
    value = (limits.get(name) or {}).get(bound)
    return None if value is None else str(value)


class BatchReviewSerializer(serializers.Serializer):
    """Review by exception: what QA must look at, and what still forbids release."""

    batch = serializers.IntegerField()
    batch_id = serializers.CharField()
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    review_by_exception = serializers.BooleanField(help_text="True only when `exceptions` is empty.")
    exceptions = ReviewItemSerializer(many=True)
    unmet_conditions = ReviewItemSerializer(many=True, help_text="Empty when the batch may be released.")
    reviewed_by = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)


class BatchAbortInputSerializer(SignedReasonInputSerializer):
    write_off = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="Line numbers of dispensed material to write off instead of returning it to its lots.",
    )
