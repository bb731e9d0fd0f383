from django.db import models

from core.models import AuditedModel


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ExportFormat(models.TextChoices):
    JSON = "json", "JSON"
    PDF = "pdf", "PDF"


class ExportJob(AuditedModel):
    """One export of a batch record made in the background: its progress, and the file it
    produced, kept with its SHA-256 so a copy can be checked against the original."""

    site_lookup = "batch__site"
    number_field = "job_id"
    number_prefix = "EXP"

    job_id = models.CharField("job ID", max_length=20, unique=True, editable=False)
    batch = models.ForeignKey("batch_records.BatchRecord", on_delete=models.PROTECT, related_name="export_jobs")
    format = models.CharField(max_length=10, choices=ExportFormat.choices, default=ExportFormat.JSON)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done (0–100).")
    stage = models.CharField(max_length=100, default="Waiting for a worker", help_text="What the job is doing now.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs started (more than 1 after a worker died).")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file = models.FileField(upload_to="exports/", max_length=255, blank=True)
    filename = models.CharField(max_length=150, blank=True)
    content_type = models.CharField(max_length=50, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="export_job_progress_at_most_100"),
        ]

    def __str__(self):
        return f"{self.job_id} {self.batch_id} {self.format} {self.status}"

    @property
    def finished(self):
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
