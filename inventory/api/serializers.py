from rest_framework import serializers

from core import units
from core.api.serializers import (
    ActionInputSerializer,
    AllowedActionsField,
    AuditedModelSerializer,
    ReasonInputSerializer,
    SignaturesField,
    change_reason_field,
    username_field,
)
from inventory.choices import LotStatus
from inventory.models import Lot, LotMovement, Material
from inventory.workflows import LOT_WORKFLOW
from users.models import Site


def quantity_field(**kwargs):
    return serializers.DecimalField(max_digits=17, decimal_places=4, **kwargs)


def money_field(**kwargs):
    return serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True, **kwargs)


# --- materials -------------------------------------------------------------------------


class MaterialSerializer(AuditedModelSerializer):
    reason = change_reason_field()

    class Meta:
        model = Material
        fields = [
            "id",
            "code",
            "name",
            "unit_of_measure",
            "standard_cost",
            "density",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]

    def validate_unit_of_measure(self, value):
        # Stock is counted in this unit and bills of materials convert into it (core.units).
        try:
            canonical = units.lookup(value).code
        except units.UnitError as error:
            raise serializers.ValidationError(str(error)) from error
        if (
            self.instance is not None
            and not units.same_unit(canonical, self.instance.unit_of_measure)
            and self.instance.lots.exists()
        ):
            raise serializers.ValidationError(
                f"{self.instance.code} has lots counted in {self.instance.unit_of_measure}; its unit can no longer "
                "change."
            )
        return canonical

    def validate_density(self, value):
        if value is not None and value <= 0:
            raise serializers.ValidationError("must be greater than 0 (g/mL)")
        return value

    def validate_code(self, value):
        # Batches find a material's lots by its code: a code with lots stays as it is.
        if self.instance is not None and value != self.instance.code and self.instance.lots.exists():
            raise serializers.ValidationError(
                f"{self.instance.code} has lots in the inventory; its code can no longer change."
            )
        return value

    def validate_standard_cost(self, value):
        if value < 0:
            raise serializers.ValidationError("must not be negative")
        return value


# --- lots ------------------------------------------------------------------------------


class LotListSerializer(AuditedModelSerializer):
    material_code = serializers.CharField(source="material.code", read_only=True)
    material_name = serializers.CharField(source="material.name", read_only=True)
    unit_of_measure = serializers.CharField(source="material.unit_of_measure", read_only=True)
    site_code = serializers.CharField(source="site.code", read_only=True)

    class Meta:
        model = Lot
        fields = [
            "id",
            "lot_id",
            "material",
            "material_code",
            "material_name",
            "unit_of_measure",
            "site",
            "site_code",
            "supplier",
            "supplier_lot",
            "expiry_date",
            "status",
            "quantity_on_hand",
            "unit_price",
            "produced_by_batch",
            "updated_at",
        ]
        read_only_fields = fields


class LotSerializer(LotListSerializer):
    """A lot with its disposition (who released it, when, why rejected or expired), its
    signatures and the actions the user may take."""

    produced_by_batch_id = serializers.CharField(source="produced_by_batch.batch_id", read_only=True, allow_null=True)
    released_by = username_field()
    signatures = SignaturesField()
    allowed_actions = AllowedActionsField(LOT_WORKFLOW)
    reason = change_reason_field()

    class Meta(LotListSerializer.Meta):
        fields = [
            *LotListSerializer.Meta.fields,
            "produced_by_batch_id",
            "released_by",
            "released_at",
            "disposition_reason",
            "signatures",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        # Only the price may be corrected (e.g. when the invoice arrives); everything else
        # comes from the receipt and the actions.
        read_only_fields = [name for name in fields if name not in ("unit_price", "reason")]

    def validate_unit_price(self, value):
        if value < 0:
            raise serializers.ValidationError("must not be negative")
        return value


class LotReceiveSerializer(ActionInputSerializer):
    """The body of a receipt: a lot of a material arrives at a site and enters quarantine."""

    material = serializers.SlugRelatedField(
        slug_field="code", queryset=Material.objects.all(), help_text="The material's code."
    )
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    supplier = serializers.CharField(max_length=200)
    supplier_lot = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    expiry_date = serializers.DateField(help_text="Expiry or retest date; not in the past.")
    quantity = quantity_field(help_text="Quantity received (> 0), in the material's unit of measure.")
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, default=0)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class LotAdjustInputSerializer(ActionInputSerializer):
    quantity = quantity_field(help_text="Signed change of the quantity on hand (e.g. -2.5 for a spill).")
    reason = serializers.CharField(help_text="Why the stock is corrected; kept in the ledger and the audit trail.")


class LotExpireInputSerializer(ReasonInputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class LotPlanEntrySerializer(serializers.Serializer):
    """One line of an explicit lot plan: how much to draw from which lot."""

    lot = serializers.CharField(max_length=20, help_text="Lot ID, e.g. LOT-0001.")
    quantity = quantity_field(help_text="Quantity drawn from this lot (> 0).")


# --- ledger ----------------------------------------------------------------------------


class LotMovementSerializer(serializers.ModelSerializer):
    lot_id = serializers.CharField(source="lot.lot_id", read_only=True)
    batch_id = serializers.CharField(source="batch.batch_id", read_only=True, allow_null=True)
    actor = username_field()

    class Meta:
        model = LotMovement
        fields = [
            "id",
            "lot",
            "lot_id",
            "kind",
            "quantity",
            "balance_after",
            "batch",
            "batch_id",
            "batch_material",
            "actor",
            "reason",
            "created_at",
        ]
        read_only_fields = fields


# --- genealogy and dry run (output only) ----------------------------------------------


class FinishedGoodsLotSerializer(serializers.Serializer):
    lot = serializers.IntegerField()
    lot_id = serializers.CharField()
    material_code = serializers.CharField()
    status = serializers.ChoiceField(choices=LotStatus.choices)
    quantity_on_hand = quantity_field()


class WhereUsedBatchSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    batch_id = serializers.CharField()
    batch_number = serializers.CharField()
    lot_number = serializers.CharField()
    product_code = serializers.CharField()
    batch_status = serializers.CharField()
    material = serializers.IntegerField()
    line_number = serializers.IntegerField()
    material_status = serializers.CharField()
    quantity = quantity_field()
    quantity_returned = quantity_field()
    quantity_net = quantity_field()
    finished_goods_lots = FinishedGoodsLotSerializer(many=True)


class WhereUsedSerializer(serializers.Serializer):
    lot = serializers.IntegerField()
    lot_id = serializers.CharField()
    material_code = serializers.CharField()
    produced_by_batch = serializers.IntegerField(allow_null=True)
    batches = WhereUsedBatchSerializer(many=True)
