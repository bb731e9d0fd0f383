from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, SignatureInline, related_links, transition_admin_action

from . import services
from .models import Deviation, DeviationStatus
from .workflows import DEVIATION_WORKFLOW


def close_deviation_from_admin(deviation, *, actor, password, comment="", reason=""):
    """The confirmation page also offers a reason: a signed closure keeps it as its comment."""
    return services.close_deviation(deviation, actor=actor, password=password, comment=comment or reason)


@admin.register(Deviation)
class DeviationAdmin(AuditedModelAdmin):
    list_display = ("deviation_id", "title", "severity", "status_badge", "site", "created_at", "closed_at", "closed_by")
    list_filter = ("status", "severity", "site")
    search_fields = ("deviation_id", "title", "description")
    list_select_related = ("site", "closed_by")
    change_select_related = ("site", "closed_by", "created_by", "updated_by")
    date_hierarchy = "created_at"
    user_scoped = True
    site_field = "site"
    readonly_fields = ("deviation_id", "closed_by", "closed_at", "status_badge", "related_records", *AUDIT_FIELDS)
    inlines = [SignatureInline]
    actions = [
        transition_admin_action(
            DEVIATION_WORKFLOW, "investigate", services.investigate_deviation, description="Start the investigation"
        ),
        transition_admin_action(DEVIATION_WORKFLOW, "close", close_deviation_from_admin, description="Close"),
    ]

    def get_fieldsets(self, request, obj=None):
        header = ["deviation_id", "title", "site", "severity", "description"]
        if obj is not None:
            header.insert(4, "status_badge")
        fieldsets = [(None, {"fields": header})]
        if obj is not None:
            fieldsets += [
                ("Investigation", {"fields": ("root_cause", "conclusion", "closed_by", "closed_at")}),
                ("Related records", {"fields": ("related_records",)}),
                ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
            ]
        return fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return [*readonly, "root_cause", "conclusion"]
        if obj.status == DeviationStatus.CLOSED:
            return [*(field.name for field in self.model._meta.fields), "status_badge", "related_records"]
        return [*readonly, "title", "site"]

    @admin.display(description="related records")
    def related_records(self, obj):
        return related_links(obj, "related_records")  # CAPAs, batch deviations: registered by their apps
