from django.conf import settings
from django.db import models

from core.models import AuditedModel, SignableModel


class CAPAStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    EFFECTIVENESS_CHECK = "effectiveness_check", "Effectiveness check"
    CLOSED = "closed", "Closed"


class CAPA(SignableModel, AuditedModel):
    """A corrective and preventive action (21 CFR 820.100 / ICH Q10)."""

    number_field = "capa_id"
    number_prefix = "CAPA"
    signed_fields = ("capa_id", "title", "description", "action_plan", "effectiveness_result", "due_date")

    capa_id = models.CharField("CAPA ID", max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=255)
    description = models.TextField()
    action_plan = models.TextField(blank=True)
    effectiveness_result = models.TextField(blank=True)
    status = models.CharField(max_length=30, choices=CAPAStatus.choices, default=CAPAStatus.OPEN, db_index=True)
    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="capas")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_capas")
    due_date = models.DateField(null=True, blank=True)
    deviation = models.ForeignKey(
        "deviations.Deviation", on_delete=models.PROTECT, null=True, blank=True, related_name="capas"
    )
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "CAPA"
        verbose_name_plural = "CAPAs"
        permissions = [
            ("start_capa", "Can start work on a CAPA"),
            ("check_effectiveness_capa", "Can move a CAPA to its effectiveness check"),
            ("close_capa", "Can close a CAPA"),
        ]

    def __str__(self):
        return f"{self.capa_id} {self.title}"
