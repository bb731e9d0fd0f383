"""What the batch-side inventory routes answer: a batch's availability and genealogy."""

from rest_framework import serializers

from inventory.api.serializers import FinishedGoodsLotSerializer, money_field, quantity_field


class GenealogyLotSerializer(serializers.Serializer):
    lot = serializers.IntegerField()
    lot_id = serializers.CharField()
    supplier = serializers.CharField()
    supplier_lot = serializers.CharField(allow_blank=True)
    expiry_date = serializers.DateField(allow_null=True)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4)
    quantity = quantity_field()
    quantity_returned = quantity_field()
    quantity_net = quantity_field()


class GenealogyMaterialSerializer(serializers.Serializer):
    material = serializers.IntegerField()
    line_number = serializers.IntegerField()
    material_code = serializers.CharField()
    material_name = serializers.CharField()
    unit_of_measure = serializers.CharField()
    status = serializers.CharField()
    lot_number = serializers.CharField(allow_blank=True)
    quantity_dispensed = quantity_field(allow_null=True)
    quantity_used = quantity_field(allow_null=True)
    stock_unit_of_measure = serializers.CharField(
        allow_blank=True, help_text="The unit of the lots' quantities (blank: drew from no lot)."
    )
    stock_quantity_dispensed = quantity_field(allow_null=True)
    stock_quantity_used = quantity_field(allow_null=True)
    lots = GenealogyLotSerializer(many=True)


class BatchCostSerializer(serializers.Serializer):
    material_cost = money_field()
    labour_cost = money_field()
    overhead_cost = money_field()
    total_cost = money_field()
    unit_cost = money_field()


class BatchGenealogySerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    batch_id = serializers.CharField()
    batch_number = serializers.CharField()
    lot_number = serializers.CharField()
    product_code = serializers.CharField()
    status = serializers.CharField()
    materials = GenealogyMaterialSerializer(many=True)
    finished_goods_lots = FinishedGoodsLotSerializer(many=True)
    cost = BatchCostSerializer(help_text="The cost snapshot taken at completion (null before).")


class AvailabilityLotSerializer(serializers.Serializer):
    lot = serializers.IntegerField()
    lot_id = serializers.CharField()
    expiry_date = serializers.DateField(allow_null=True)
    quantity_on_hand = quantity_field()
    quantity = quantity_field(help_text="What dispensing with auto: true would draw from this lot.")


class AvailabilityMaterialSerializer(serializers.Serializer):
    material = serializers.IntegerField()
    line_number = serializers.IntegerField()
    material_code = serializers.CharField()
    material_name = serializers.CharField()
    unit_of_measure = serializers.CharField(help_text="The unit of the line (its bill-of-materials unit).")
    stock_unit_of_measure = serializers.CharField(help_text="The unit the material is kept in (lots, ledger).")
    status = serializers.CharField()
    required = quantity_field(help_text="Remaining to dispense, in the line's unit (0 once the line is dispensed).")
    stock_required = quantity_field(
        allow_null=True,
        help_text="The same in the stock unit (null when it does not convert exactly: the dispense would be refused).",
    )
    reserved = quantity_field(help_text="Reserved for this line since the batch started, in the stock unit.")
    available = quantity_field(
        help_text="In released, unexpired lots at the batch's site less what other batches have reserved, in the "
        "stock unit."
    )
    shortfall = quantity_field(help_text="In the stock unit.")
    satisfied = serializers.BooleanField()
    lots = AvailabilityLotSerializer(many=True)


class BatchAvailabilitySerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    batch_id = serializers.CharField()
    site = serializers.IntegerField()
    satisfied = serializers.BooleanField()
    materials = AvailabilityMaterialSerializer(many=True)
