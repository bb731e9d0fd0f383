from django.core.exceptions import ValidationError
from django.db import models

from core.models import AuditedModel, SignableModel

from .uploads import validate_document_file


class DocumentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    EFFECTIVE = "effective", "Effective"
    OBSOLETE = "obsolete", "Obsolete"


class Document(SignableModel, AuditedModel):
    """A controlled document (SOP, specification, master record attachment), kept by one
    site: its users read and change it, other sites do not see it."""

    site_lookup = "site"
    number_field = "doc_id"
    number_prefix = "DOC"
    signed_fields = ("doc_id", "title", "version", "file", "url", "effective_date", "description")

    doc_id = models.CharField("document ID", max_length=20, unique=True, editable=False)
    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(max_length=255)
    version = models.CharField(max_length=20, default="1.0")
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.DRAFT, db_index=True
    )
    file = models.FileField(upload_to="documents/%Y/", blank=True, validators=[validate_document_file])
    url = models.URLField(blank=True)
    effective_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("make_effective_document", "Can make a document effective"),
            ("obsolete_document", "Can make a document obsolete"),
        ]

    def __str__(self):
        return f"{self.doc_id} {self.title} v{self.version}"

    def clean(self):
        if self.status == DocumentStatus.EFFECTIVE and not (self.file or self.url):
            raise ValidationError("An effective document needs a file or a URL.")

    def signed_content(self):
        content = super().signed_content()
        content["file"] = self.file.name if self.file else ""
        return content
