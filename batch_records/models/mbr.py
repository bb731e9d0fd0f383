from django.conf import settings
from django.db import models

from batch_records.choices import MBRStatus
from core.models import AuditedModel, SignableModel


class MasterBatchRecord(SignableModel, AuditedModel):
    """The approved recipe and instructions a batch is made from (21 CFR 211.186)."""

    number_field = "mbr_id"
    number_prefix = "MBR"
    product_line_lookup = "product_line"
    signed_fields = (
        "mbr_id",
        "title",
        "product_name",
        "product_code",
        "version",
        "bill_of_materials",
        "manufacturing_instructions",
        "quality_specifications",
        "linked_document",
        "product_line",
        "effective_date",
        "yield_limit_min",
        "yield_limit_max",
        "is_serialized",
    )
    # The content an author writes; editable in draft only.
    content_fields = (
        "title",
        "product_name",
        "product_code",
        "bill_of_materials",
        "manufacturing_instructions",
        "quality_specifications",
        "linked_document",
        "product_line",
        "effective_date",
        "yield_limit_min",
        "yield_limit_max",
        "is_serialized",
    )

    mbr_id = models.CharField("MBR ID", max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=255)
    product_name = models.CharField(max_length=255)
    product_code = models.CharField(max_length=50, db_index=True)
    # Versions of one product are numbered 1, 2, 3...; `new_version` hands out the next.
    version = models.PositiveIntegerField(default=1, editable=False)
    bill_of_materials = models.JSONField(default=list, blank=True)
    manufacturing_instructions = models.JSONField(default=list, blank=True)
    quality_specifications = models.JSONField(default=list, blank=True)
    linked_document = models.ForeignKey(
        "documents.Document", on_delete=models.PROTECT, null=True, blank=True, related_name="master_batch_records"
    )
    product_line = models.ForeignKey(
        "users.ProductLine", on_delete=models.PROTECT, null=True, blank=True, related_name="master_batch_records"
    )
    effective_date = models.DateField(null=True, blank=True)
    # Acceptable yield, percent of theoretical (21 CFR 211.186(b)(7), 211.192).
    yield_limit_min = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    yield_limit_max = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    # Medical-device batches track each unit by serial number.
    is_serialized = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=MBRStatus.choices, default=MBRStatus.DRAFT, db_index=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="authored_mbrs", editable=False
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approved_mbrs",
        editable=False,
    )
    approval_date = models.DateTimeField(null=True, blank=True, editable=False)
    previous_version = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="next_versions", editable=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "master batch record"
        constraints = [
            models.UniqueConstraint(fields=["product_code", "version"], name="mbr_unique_product_version"),
            models.CheckConstraint(
                condition=models.Q(yield_limit_min__isnull=True)
                | models.Q(yield_limit_max__isnull=True)
                | models.Q(yield_limit_min__lte=models.F("yield_limit_max")),
                name="mbr_yield_limits_ordered",
            ),
        ]
        permissions = [
            ("submit_masterbatchrecord", "Can submit a master batch record for review"),
            ("return_masterbatchrecord", "Can return a master batch record to draft"),
            ("approve_masterbatchrecord", "Can approve a master batch record"),
            ("supersede_masterbatchrecord", "Can supersede a master batch record"),
            ("obsolete_masterbatchrecord", "Can make a master batch record obsolete"),
        ]

    def __str__(self):
        return f"{self.mbr_id} {self.product_code} v{self.version}"
