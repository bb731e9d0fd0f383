"""Serializers of the materials and equipment use of batches: list and detail
representations (the detail extends the one nested in the batch), and action bodies.
Every business rule is in the services."""

from rest_framework import serializers

from batch_records.models import BatchRecord
from core.api.serializers import ActionInputSerializer, AuditedModelSerializer, SignatureInputSerializer
from core.scoping import scope_to_user_sites
from equipment.models import Equipment
from inventory.api.serializers import LotPlanEntrySerializer

from .serializers_batches import BatchEquipmentSerializer, BatchMaterialSerializer

# Lists stay light: signatures, actions and the audit users are in the detail.
_DETAIL_ONLY = ("signatures", "allowed_actions", "created_by", "updated_by")


def _detail_fields(nested_fields, *extra):
    """The nested representation's fields with the batch ID after `batch`, `extra` before
    the signatures, and the full audit stamps."""
    fields = []
    for name in nested_fields:
        if name in ("created_at", "updated_at"):
            continue
        if name == "signatures":
            fields.extend(extra)
        fields.append(name)
        if name == "batch":
            fields.append("batch_id")
    return [*fields, *AuditedModelSerializer.audit_fields]


# --- materials -------------------------------------------------------------------------


class BatchMaterialDetailSerializer(BatchMaterialSerializer):
    """A material of a batch with who dispensed, verified and consumed it, its deviations
    and its signatures ("dispensed", "verified")."""

    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)
    deviations = serializers.SlugRelatedField(slug_field="deviation_id", many=True, read_only=True)

    class Meta(BatchMaterialSerializer.Meta):
        fields = _detail_fields(BatchMaterialSerializer.Meta.fields, "deviations")
        read_only_fields = fields


class BatchMaterialListSerializer(BatchMaterialDetailSerializer):
    class Meta(BatchMaterialDetailSerializer.Meta):
        fields = [
            name for name in BatchMaterialDetailSerializer.Meta.fields if name not in (*_DETAIL_ONLY, "deviations")
        ]
        read_only_fields = fields


class MaterialDispenseInputSerializer(SignatureInputSerializer):
    """Where the material comes from: one of `lot_number` (one inventory lot), `lot_plan`
    (several lots, quantities summing to `quantity`) or `auto: true` (FEFO)."""

    lot_number = serializers.CharField(
        max_length=50, required=False, allow_blank=True, default="", help_text="Lot ID of the material dispensed."
    )
    lot_plan = LotPlanEntrySerializer(
        many=True, required=False, allow_empty=False, help_text="Explicit plan: [{lot, quantity}], drawn in order."
    )
    auto = serializers.BooleanField(
        required=False, default=False, help_text="Draw from released lots, first expiring first (FEFO)."
    )
    quantity = serializers.DecimalField(
        max_digits=16, decimal_places=4, help_text="Quantity dispensed (> 0), in the line's unit of measure."
    )


class MaterialConsumeInputSerializer(ActionInputSerializer):
    quantity_used = serializers.DecimalField(
        max_digits=16,
        decimal_places=4,
        help_text="Quantity actually used (≥ 0, at most the quantity dispensed), in the line's unit of measure.",
    )


# --- equipment use ---------------------------------------------------------------------


class BatchEquipmentDetailSerializer(BatchEquipmentSerializer):
    """One use of a piece of equipment in a batch: who verified its calibration and
    cleaning and when, when its use started and ended."""

    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)

    class Meta(BatchEquipmentSerializer.Meta):
        fields = _detail_fields(BatchEquipmentSerializer.Meta.fields)
        read_only_fields = fields


class BatchEquipmentListSerializer(BatchEquipmentDetailSerializer):
    class Meta(BatchEquipmentDetailSerializer.Meta):
        fields = [name for name in BatchEquipmentDetailSerializer.Meta.fields if name not in _DETAIL_ONLY]
        read_only_fields = fields


class BatchEquipmentCreateSerializer(ActionInputSerializer):
    """Equipment a batch of your site will use: a registered `equipment` of the batch's
    site (its name and ID are copied), or a name (and ID) written by hand."""

    batch = serializers.PrimaryKeyRelatedField(queryset=BatchRecord.objects.all())
    equipment = serializers.PrimaryKeyRelatedField(
        queryset=Equipment.objects.all(), required=False, allow_null=True, default=None
    )
    equipment_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    equipment_id_manual = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")

    def get_fields(self):
        fields = super().get_fields()
        # Equipment is bound to a site directly: only your own sites' equipment can be named.
        request = self.context.get("request")
        fields["equipment"].queryset = scope_to_user_sites(
            fields["equipment"].queryset, getattr(request, "user", None), "site"
        )
        return fields
