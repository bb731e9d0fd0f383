from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, SignatureInline, workflow_admin_action
from core.models import SignatureMeaning

from . import services
from .models import Deviation, DeviationStatus


def close_deviation_from_admin(deviation, *, actor, password, comment="", reason=""):
    """The confirmation page also offers a reason: a signed closure keeps it as its comment."""
    return services.close_deviation(deviation, actor=actor, password=password, comment=comment or reason)


@admin.register(Deviation)
class DeviationAdmin(AuditedModelAdmin):
    list_display = ("deviation_id", "title", "severity", "status_badge", "site", "created_at", "closed_at")
    list_filter = ("status", "severity", "site")
    search_fields = ("deviation_id", "title", "description")
    list_select_related = ("site",)
    readonly_fields = ("deviation_id", "closed_by", "closed_at", *AUDIT_FIELDS)
    inlines = [SignatureInline]
    fieldsets = (
        (None, {"fields": ("deviation_id", "title", "site", "severity", "status", "description")}),
        ("Investigation", {"fields": ("root_cause", "conclusion", "closed_by", "closed_at")}),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )
    actions = [
        workflow_admin_action(services.investigate_deviation, description="Start the investigation"),
        workflow_admin_action(close_deviation_from_admin, description="Close", meaning=SignatureMeaning.CLOSED),
    ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(site__in=request.user.sites.all())

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site" and not request.user.is_superuser:
            kwargs["queryset"] = request.user.sites.all()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return [*readonly, "root_cause", "conclusion"]
        if obj.status == DeviationStatus.CLOSED:
            return [field.name for field in self.model._meta.fields]
        return [*readonly, "title", "site"]
