"""Production orders (`PO-0001`): how much of a product a site must make, by when, and the
batches that make it (seed 000: a job whose completed quantity each batch increments; the
last batch closes it, the others are followed by a continuation batch)."""

from django.db import models
from django.db.models import F, Q

from core.models import AuditedModel

from .choices import OrderStatus


class ProductionOrder(AuditedModel):
    site_lookup = "site"
    number_field = "order_id"
    number_prefix = "PO"

    order_id = models.CharField("order ID", max_length=20, unique=True, editable=False)
    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="production_orders")
    # The product and the approved MBR its batches are made from (the continuation batches
    # use the MBR of the product in effect when they are created).
    mbr = models.ForeignKey(
        "batch_records.MasterBatchRecord",
        on_delete=models.PROTECT,
        related_name="production_orders",
        verbose_name="MBR",
    )
    reference = models.CharField(max_length=100, blank=True, help_text="The order's number in the ERP, if any.")
    quantity_ordered = models.DecimalField(max_digits=14, decimal_places=3)
    # The sum of the produced quantities of its completed batches.
    quantity_completed = models.DecimalField(max_digits=14, decimal_places=3, default=0, editable=False)
    # The planned quantity of each batch; empty: one batch for everything that remains.
    batch_size = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    due_date = models.DateField()
    # When a batch completes and quantity remains, create the next batch at once.
    continue_automatically = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.OPEN, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the last continuation batch could not be created (empty when it was).
    continuation_problem = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity_ordered__gt=0), name="order_quantity_ordered_positive"),
            models.CheckConstraint(
                condition=Q(quantity_completed__gte=0), name="order_quantity_completed_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(batch_size__isnull=True) | Q(batch_size__gt=0), name="order_batch_size_positive"
            ),
        ]
        permissions = [
            ("plan_batch_productionorder", "Can create or link batches of a production order"),
            ("close_productionorder", "Can close a completed production order"),
            ("cancel_productionorder", "Can cancel a production order"),
            # Held by no role: the order starts and completes by itself, from its batches.
            ("progress_productionorder", "Can move a production order by its batches"),
        ]

    def __str__(self):
        return f"{self.order_id} ({self.mbr.product_code} × {self.quantity_ordered})"

    @property
    def quantity_remaining(self):
        return self.quantity_ordered - self.quantity_completed


class OrderBatch(AuditedModel):
    """One batch of an order, in the order they were made; a continuation names the batch it
    follows."""

    site_lookup = "order__site"

    order = models.ForeignKey(ProductionOrder, on_delete=models.PROTECT, related_name="order_batches")
    batch = models.OneToOneField("batch_records.BatchRecord", on_delete=models.CASCADE, related_name="order_link")
    sequence = models.PositiveIntegerField()
    continues = models.OneToOneField(
        "batch_records.BatchRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="continued_by",
        help_text="The batch this one continues (automatic continuation), if any.",
    )
    # What the batch's completion added to the order (its produced quantity).
    quantity_counted = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["order_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["order", "sequence"], name="order_batch_unique_sequence"),
            models.CheckConstraint(condition=~Q(continues=F("batch")), name="order_batch_not_its_own_continuation"),
        ]

    def __str__(self):
        return f"{self.order.order_id} #{self.sequence}"
