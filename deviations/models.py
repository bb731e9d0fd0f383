from django.conf import settings
from django.db import models

from core.models import AuditedModel, SignableModel


class DeviationSeverity(models.TextChoices):
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


class DeviationStatus(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATING = "investigating", "Investigating"
    CLOSED = "closed", "Closed"


class Deviation(SignableModel, AuditedModel):
    """A quality-system deviation (21 CFR 211.192), which batch deviations may link to."""

    site_lookup = "site"

    number_field = "deviation_id"
    number_prefix = "DEV"
    signed_fields = ("deviation_id", "title", "description", "severity", "root_cause", "conclusion")

    deviation_id = models.CharField("deviation ID", max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=255)
    description = models.TextField()
    severity = models.CharField(max_length=20, choices=DeviationSeverity.choices, default=DeviationSeverity.MINOR)
    status = models.CharField(
        max_length=20, choices=DeviationStatus.choices, default=DeviationStatus.OPEN, db_index=True
    )
    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="deviations")
    root_cause = models.TextField(blank=True)
    conclusion = models.TextField(blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("investigate_deviation", "Can start the investigation of a deviation"),
            ("close_deviation", "Can close a deviation"),
        ]

    def __str__(self):
        return f"{self.deviation_id} {self.title}"
