"""Serialized units of a batch and their device history record (21 CFR 820.184).

A serialized batch (its MBR has `is_serialized`) makes one SerialNumber per planned unit
when it starts. Each unit goes through the batch's steps in step-number order; what was
done to it at each step is a SerialStepStatus, and a step waived for one unit is a
SerialStepOverride signed "waived".
"""

from django.conf import settings
from django.db import models, transaction

from core.models import AuditedModel, SignableModel, next_number

from .choices import SerialStatus, SerialStepState

SERIAL_NUMBER_WIDTH = 5


class SerialNumber(SignableModel, AuditedModel):
    """One unit of a serialized batch (`SN-00001`), with where it stands in the process."""

    site_lookup = "batch__site"
    # Its audit rows are links in the chain of its batch's aggregate (core.chain).
    audit_aggregate = "batch"

    number_field = "serial_id"
    number_prefix = "SN"
    signed_fields = (
        "serial_id",
        "batch",
        "status",
        "current_step_index",
        "completed_at",
        "force_completed",
        "force_completed_by",
        "force_completed_at",
        "force_completed_reason",
        "incomplete_step_ids",
        "scrapped_reason",
        "scrapped_at",
        "scrapped_by",
    )

    serial_id = models.CharField(
        "serial ID",
        max_length=20,
        unique=True,
        editable=False,
        help_text="The unit's serial number (SN-00001); URLs accept it or the numeric id.",
    )
    batch = models.ForeignKey("batch_records.BatchRecord", on_delete=models.PROTECT, related_name="serials")
    status = models.CharField(
        max_length=20, choices=SerialStatus.choices, default=SerialStatus.IN_PROGRESS, db_index=True
    )
    # Index into the batch's steps ordered by step number; -1 once the unit is completed.
    current_step_index = models.IntegerField(default=0, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    force_completed = models.BooleanField(default=False, editable=False, db_index=True)
    force_completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    force_completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    force_completed_reason = models.TextField(blank=True, editable=False)
    # The batch steps (ids) that were required and not done when the unit was force-completed.
    incomplete_step_ids = models.JSONField(default=list, blank=True, editable=False)
    scrapped_reason = models.TextField(blank=True, editable=False)
    scrapped_at = models.DateTimeField(null=True, blank=True, editable=False)
    scrapped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ["id"]
        verbose_name = "serial number"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(current_step_index__gte=-1), name="serial_current_step_index_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=SerialStatus.COMPLETED) | models.Q(current_step_index=-1),
                name="serial_completed_has_no_current_step",
            ),
            models.CheckConstraint(
                condition=models.Q(force_completed=False) | models.Q(status=SerialStatus.COMPLETED),
                name="serial_force_completed_is_completed",
            ),
        ]
        permissions = [
            ("advance_serialnumber", "Can perform the current step of a serialized unit"),
            ("advance_to_step_serialnumber", "Can move a serialized unit forward to a later step"),
            ("waive_step_serialnumber", "Can waive a step for a serialized unit"),
            ("scrap_serialnumber", "Can scrap a serialized unit"),
            ("force_complete_serialnumber", "Can force-complete a serialized unit"),
        ]

    def __str__(self):
        return self.serial_id

    def save(self, *args, **kwargs):
        # Serial IDs have five digits (SN-00001); the counter row is locked by this transaction.
        with transaction.atomic(savepoint=False):
            if self._state.adding and not self.serial_id:
                self.serial_id = next_number(self.number_prefix, width=SERIAL_NUMBER_WIDTH)
            super().save(*args, **kwargs)


class SerialStepStatus(SignableModel, AuditedModel):
    """What was done to one unit at one batch step: values, who performed it, when."""

    site_lookup = "serial__batch__site"
    # Its audit rows are links in the chain of its serial's aggregate (core.chain).
    audit_aggregate = "serial"

    signed_fields = (
        "serial",
        "step",
        "step_index",
        "status",
        "actual_values",
        "is_within_spec",
        "performed_by",
        "performed_at",
    )

    serial = models.ForeignKey(SerialNumber, on_delete=models.PROTECT, related_name="step_statuses")
    step = models.ForeignKey("batch_records.BatchStep", on_delete=models.PROTECT, related_name="serial_statuses")
    # The step's position among the batch's steps ordered by step number (see current_step_index).
    step_index = models.PositiveIntegerField(editable=False)
    status = models.CharField(
        max_length=20, choices=SerialStepState.choices, default=SerialStepState.PENDING, db_index=True
    )
    actual_values = models.JSONField(default=dict, blank=True, editable=False)
    is_within_spec = models.BooleanField(null=True, blank=True, editable=False)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    performed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["serial_id", "step_index"]
        verbose_name = "serial step status"
        verbose_name_plural = "serial step statuses"
        constraints = [
            models.UniqueConstraint(fields=["serial", "step"], name="serial_step_status_unique"),
            models.UniqueConstraint(fields=["serial", "step_index"], name="serial_step_status_unique_index"),
        ]

    def __str__(self):
        return f"{self.serial_id} step #{self.step_index}"


class SerialStepOverride(SignableModel, AuditedModel):
    """A waiver: this step is not required for this unit, with the reason, signed "waived"."""

    site_lookup = "serial__batch__site"
    # Its audit rows are links in the chain of its serial's aggregate (core.chain).
    audit_aggregate = "serial"

    signed_fields = ("serial", "step", "reason", "active")

    serial = models.ForeignKey(SerialNumber, on_delete=models.PROTECT, related_name="overrides")
    step = models.ForeignKey("batch_records.BatchStep", on_delete=models.PROTECT, related_name="serial_overrides")
    reason = models.TextField()
    active = models.BooleanField(default=True, editable=False)

    class Meta:
        ordering = ["serial_id", "id"]
        verbose_name = "serial step waiver"
        constraints = [
            models.UniqueConstraint(
                fields=["serial", "step"], condition=models.Q(active=True), name="serial_step_one_active_waiver"
            ),
        ]

    def __str__(self):
        return f"Waiver of step {self.step_id} for {self.serial_id}"
