from rest_framework import serializers

from batch_records.models import BatchRecord, MasterBatchRecord
from core.api.serializers import ActionInputSerializer, AllowedActionsField, AuditedModelSerializer
from orders.models import OrderBatch, ProductionOrder
from orders.workflows import ORDER_WORKFLOW
from users.models import Site


class ProductionOrderListSerializer(AuditedModelSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)
    mbr_id = serializers.CharField(source="mbr.mbr_id", read_only=True)
    product_code = serializers.CharField(source="mbr.product_code", read_only=True)
    product_name = serializers.CharField(source="mbr.product_name", read_only=True)

    class Meta:
        model = ProductionOrder
        fields = [
            "id",
            "order_id",
            "reference",
            "site",
            "site_code",
            "mbr",
            "mbr_id",
            "product_code",
            "product_name",
            "quantity_ordered",
            "quantity_completed",
            "batch_size",
            "due_date",
            "continue_automatically",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderBatchSerializer(serializers.ModelSerializer):
    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)
    batch_number = serializers.CharField(source="batch.batch_number", read_only=True)
    status = serializers.CharField(source="batch.status", read_only=True)
    mbr_id = serializers.CharField(source="batch.mbr.mbr_id", read_only=True)
    mbr_version = serializers.IntegerField(source="batch.mbr.version", read_only=True)
    quantity_planned = serializers.DecimalField(source="batch.quantity_planned", max_digits=14, decimal_places=3)
    quantity_produced = serializers.DecimalField(
        source="batch.quantity_produced", max_digits=14, decimal_places=3, allow_null=True
    )
    continues = serializers.CharField(source="continues.batch_id", read_only=True, allow_null=True, default=None)

    class Meta:
        model = OrderBatch
        fields = [
            "sequence",
            "batch",
            "batch_id",
            "batch_number",
            "status",
            "mbr_id",
            "mbr_version",
            "quantity_planned",
            "quantity_produced",
            "quantity_counted",
            "continues",
        ]
        read_only_fields = fields


class ProductionOrderSerializer(ProductionOrderListSerializer):
    """An order with its batches in order; `quantity_remaining` is what is still to make."""

    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    mbr = serializers.PrimaryKeyRelatedField(queryset=MasterBatchRecord.objects.all())
    quantity_remaining = serializers.DecimalField(max_digits=15, decimal_places=3, read_only=True)
    batches = OrderBatchSerializer(source="order_batches", many=True, read_only=True)
    allowed_actions = AllowedActionsField(ORDER_WORKFLOW)
    reason = serializers.CharField(write_only=True, required=False, help_text="Reason for the change (audit trail).")

    class Meta:
        model = ProductionOrder
        fields = [
            *(name for name in ProductionOrderListSerializer.Meta.fields if name not in ("created_at", "updated_at")),
            "quantity_remaining",
            "completed_at",
            "closed_at",
            "cancelled_at",
            "continuation_problem",
            "batches",
            "allowed_actions",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = [
            "order_id",
            "quantity_completed",
            "status",
            "completed_at",
            "closed_at",
            "cancelled_at",
            "continuation_problem",
        ]


class CreateOrderBatchInputSerializer(ActionInputSerializer):
    quantity_planned = serializers.DecimalField(
        max_digits=14,
        decimal_places=3,
        required=False,
        help_text="Default: the order's batch size, at most what no batch plans yet.",
    )
    batch_number = serializers.CharField(max_length=50, required=False, help_text="Default: <order ID>-<sequence>.")
    lot_number = serializers.CharField(max_length=50, required=False, help_text="Default: the batch number.")
    production_line = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class LinkOrderBatchInputSerializer(ActionInputSerializer):
    batch = serializers.PrimaryKeyRelatedField(queryset=BatchRecord.objects.all())


class CloseOrderInputSerializer(ActionInputSerializer):
    reason = serializers.CharField(required=False, help_text="Kept in the audit trail.")
