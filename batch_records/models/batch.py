from django.conf import settings
from django.db import models

from batch_records.choices import BatchStatus, StepStatus
from core.models import AuditedModel, SignableModel


class BatchRecord(SignableModel, AuditedModel):
    """One executed batch, made from a snapshot of an approved master batch record."""

    site_lookup = "site"

    number_field = "batch_id"
    number_prefix = "BR"
    signed_fields = (
        "batch_id",
        "batch_number",
        "lot_number",
        "mbr",
        "site",
        "quantity_planned",
        "quantity_produced",
        "quantity_rejected",
        "yield_percentage",
        "started_at",
        "completed_at",
    )

    batch_id = models.CharField("batch ID", max_length=20, unique=True, editable=False)
    batch_number = models.CharField(max_length=50, unique=True)
    lot_number = models.CharField(max_length=50, db_index=True)
    mbr = models.ForeignKey(
        "batch_records.MasterBatchRecord", on_delete=models.PROTECT, related_name="batches", verbose_name="MBR"
    )
    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="batches")
    production_line = models.CharField(max_length=100, blank=True)
    quantity_planned = models.DecimalField(max_digits=14, decimal_places=3)
    quantity_produced = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True, editable=False)
    quantity_rejected = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True, editable=False)
    yield_percentage = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True, editable=False)
    # Snapshot of the MBR's limits at creation: later MBR changes never alter a batch.
    yield_limit_min = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    yield_limit_max = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    is_serialized = models.BooleanField(default=False, editable=False)
    status = models.CharField(max_length=20, choices=BatchStatus.choices, default=BatchStatus.PENDING, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    release_date = models.DateTimeField(null=True, blank=True, editable=False)
    disposition_reason = models.TextField(blank=True, editable=False)
    has_deviations = models.BooleanField(default=False, editable=False)
    review_by_exception = models.BooleanField(default=False, editable=False)
    # Cost snapshot taken once, at completion (batch_records.costing); never recomputed.
    material_cost = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True, editable=False)
    labour_cost = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True, editable=False)
    overhead_cost = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True, editable=False)
    total_cost = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True, editable=False)
    unit_cost = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity_planned__gt=0), name="batch_quantity_planned_positive"),
            models.CheckConstraint(
                condition=models.Q(quantity_produced__isnull=True) | models.Q(quantity_produced__gte=0),
                name="batch_quantity_produced_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity_rejected__isnull=True) | models.Q(quantity_rejected__gte=0),
                name="batch_quantity_rejected_not_negative",
            ),
        ]
        permissions = [
            ("start_batchrecord", "Can start a batch"),
            ("complete_batchrecord", "Can complete a batch"),
            ("submit_for_review_batchrecord", "Can submit a batch for QA review"),
            ("release_batchrecord", "Can release a batch"),
            ("reject_batchrecord", "Can reject a batch"),
            ("quarantine_batchrecord", "Can quarantine a batch"),
            ("return_to_review_batchrecord", "Can return a quarantined batch to review"),
            ("cancel_batchrecord", "Can cancel a batch that has not started"),
            ("abort_batchrecord", "Can abort a batch in production"),
        ]

    def __str__(self):
        return f"{self.batch_id} ({self.batch_number})"


class BatchStep(SignableModel, AuditedModel):
    """One manufacturing instruction as executed in a batch (snapshot of the MBR step)."""

    site_lookup = "batch__site"
    # Its audit rows are links in the chain of its batch's aggregate (core.chain).
    audit_aggregate = "batch"

    signed_fields = (
        "batch",
        "step_number",
        "instruction_text",
        "required_data_fields",
        "specifications",
        "actual_values",
        "is_within_spec",
    )

    batch = models.ForeignKey(BatchRecord, on_delete=models.CASCADE, related_name="steps")
    step_number = models.PositiveIntegerField()
    instruction_text = models.TextField()
    required_data_fields = models.JSONField(default=list, blank=True)
    specifications = models.JSONField(default=dict, blank=True)
    requires_verification = models.BooleanField(default=False)
    # The MBR asks for a separate start (a timed step: its start time matters), so the
    # one-call `record` action is refused and the step is started, then completed.
    requires_separate_start = models.BooleanField(default=False)
    actual_values = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING, db_index=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    operator_signed_at = models.DateTimeField(null=True, blank=True, editable=False)
    verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    verifier_signed_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_within_spec = models.BooleanField(null=True, blank=True, editable=False)
    deviation_notes = models.TextField(blank=True)
    skip_reason = models.TextField(blank=True, editable=False)
    # Values changed after completion (each change has a reason and a signature).
    correction_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["batch_id", "step_number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "step_number"], name="batch_step_unique_number"),
        ]
        permissions = [
            ("start_batchstep", "Can start a batch step"),
            ("complete_batchstep", "Can complete a batch step"),
            ("verify_batchstep", "Can verify a batch step"),
            ("skip_batchstep", "Can skip a batch step"),
            ("correct_batchstep", "Can correct the values of a completed batch step"),
        ]

    def __str__(self):
        return f"{self.batch.batch_id} step {self.step_number}"

    @property
    def display_id(self):
        """The business reference in messages ("BR-0011 step 2"), never the database id."""
        return str(self)
