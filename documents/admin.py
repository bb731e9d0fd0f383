from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, SignatureInline, transition_admin_action

from . import services
from .models import Document, DocumentStatus
from .workflows import DOCUMENT_WORKFLOW


@admin.register(Document)
class DocumentAdmin(AuditedModelAdmin):
    list_display = ("doc_id", "title", "version", "status_badge", "site", "effective_date", "updated_at")
    list_filter = ("status", "site")
    search_fields = ("doc_id", "title", "description")
    list_select_related = ("site", "created_by", "updated_by")
    readonly_fields = ("doc_id", *AUDIT_FIELDS)
    inlines = [SignatureInline]
    user_scoped = True
    deletable_statuses = {DocumentStatus.DRAFT}
    fieldsets = (
        (None, {"fields": ("doc_id", "site", "title", "version", "status", "effective_date", "description")}),
        ("Content", {"fields": ("file", "url")}),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )
    actions = [
        transition_admin_action(
            DOCUMENT_WORKFLOW, "make_effective", services.make_document_effective, description="Make effective"
        ),
        transition_admin_action(DOCUMENT_WORKFLOW, "obsolete", services.obsolete_document, description="Make obsolete"),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.status != DocumentStatus.DRAFT:
            # Content is frozen once effective: only the workflow changes it.
            readonly = [field.name for field in self.model._meta.fields]
        elif obj is not None:
            readonly = [*readonly, "site"]  # a document stays at the site that keeps it
        return readonly
