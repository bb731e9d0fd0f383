from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from core.models import AuditedModel, SignableModel


class CAPAStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    EFFECTIVENESS_CHECK = "effectiveness_check", "Effectiveness check"
    CLOSED = "closed", "Closed"


class CAPA(SignableModel, AuditedModel):
    """A corrective and preventive action (21 CFR 820.100 / ICH Q10)."""

    site_lookup = "site"

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

    @property
    def is_overdue(self):
        return self.status != CAPAStatus.CLOSED and self.due_date is not None and self.due_date < timezone.localdate()

    def clean(self):
        errors = {}
        site_id = self.site_id
        if self.owner_id is not None and site_id is not None:
            owner = self.owner
            if not owner.is_active or not owner.sites.filter(pk=site_id).exists():
                errors["owner"] = [f"The owner must be an active user of site {self.site.code}."]
        if self.deviation_id is not None and site_id is not None and self.deviation.site_id != site_id:
            errors["deviation"] = [f"The deviation must be one of site {self.site.code}."]
        if errors:
            raise ValidationError(errors)
