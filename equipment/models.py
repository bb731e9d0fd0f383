from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import AuditedModel


class EquipmentStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    IN_USE = "in_use", "In use"
    MAINTENANCE = "maintenance", "Maintenance"
    OUT_OF_SERVICE = "out_of_service", "Out of service"


class CleaningStatus(models.TextChoices):
    CLEAN = "clean", "Clean"
    DIRTY = "dirty", "Dirty"


class RecordResult(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"


class Equipment(AuditedModel):
    """A piece of manufacturing equipment (21 CFR 211.67, 211.68, 211.105, 211.182)."""

    site_lookup = "site"

    number_field = "equipment_id"
    number_prefix = "EQ"

    equipment_id = models.CharField("equipment ID", max_length=20, unique=True, editable=False)
    name = models.CharField(max_length=200)
    equipment_type = models.CharField(max_length=100, blank=True)
    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="equipment")
    status = models.CharField(
        max_length=20, choices=EquipmentStatus.choices, default=EquipmentStatus.AVAILABLE, db_index=True
    )
    calibration_due_date = models.DateField(null=True, blank=True)
    cleaning_status = models.CharField(max_length=10, choices=CleaningStatus.choices, default=CleaningStatus.DIRTY)
    cleaned_at = models.DateTimeField(null=True, blank=True)
    cleaning_validity_hours = models.PositiveIntegerField(default=72)

    class Meta:
        ordering = ["equipment_id"]
        verbose_name_plural = "equipment"
        permissions = [
            ("calibrate_equipment", "Can record a calibration"),
            ("clean_equipment", "Can record a cleaning"),
        ]

    def __str__(self):
        return f"{self.equipment_id} {self.name}"

    def calibration_overdue(self, today=None):
        today = today or timezone.localdate()
        return self.calibration_due_date is None or self.calibration_due_date < today

    def cleaning_valid(self, now=None):
        now = now or timezone.now()
        return (
            self.cleaning_status == CleaningStatus.CLEAN
            and self.cleaned_at is not None
            and now <= self.cleaned_at + timedelta(hours=self.cleaning_validity_hours)
        )


class CalibrationRecord(AuditedModel):
    site_lookup = "equipment__site"
    # Its audit rows are links in the chain of its equipment's aggregate (core.chain).
    audit_aggregate = "equipment"

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="calibrations")
    performed_at = models.DateTimeField(default=timezone.now)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    result = models.CharField(max_length=10, choices=RecordResult.choices)
    next_due_date = models.DateField(null=True, blank=True)
    certificate = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-performed_at", "-id"]


class CleaningLog(AuditedModel):
    site_lookup = "equipment__site"
    # Its audit rows are links in the chain of its equipment's aggregate (core.chain).
    audit_aggregate = "equipment"

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="cleanings")
    cleaned_at = models.DateTimeField(default=timezone.now)
    cleaned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    result = models.CharField(max_length=10, choices=RecordResult.choices)
    method = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-cleaned_at", "-id"]
