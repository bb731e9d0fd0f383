from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, SignatureInline, workflow_admin_action
from core.models import SignatureMeaning

from . import services
from .models import CAPA, CAPAStatus


def close_capa_from_admin(capa, *, actor, password, comment="", reason=""):
    """The confirmation page also offers a reason: a signed closure keeps it as its comment."""
    return services.close_capa(capa, actor=actor, password=password, comment=comment or reason)


@admin.register(CAPA)
class CAPAAdmin(AuditedModelAdmin):
    list_display = ("capa_id", "title", "status_badge", "site", "owner", "due_date", "deviation", "closed_at")
    list_filter = ("status", "site")
    search_fields = ("capa_id", "title")
    list_select_related = ("site", "owner", "deviation")
    readonly_fields = ("capa_id", "closed_by", "closed_at", *AUDIT_FIELDS)
    raw_id_fields = ("owner", "deviation")
    inlines = [SignatureInline]
    fieldsets = (
        (None, {"fields": ("capa_id", "title", "site", "status", "owner", "due_date", "deviation", "description")}),
        ("Plan and effectiveness", {"fields": ("action_plan", "effectiveness_result", "closed_by", "closed_at")}),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )
    actions = [
        workflow_admin_action(services.start_capa, description="Start the work"),
        workflow_admin_action(services.check_capa_effectiveness, description="Move to the effectiveness check"),
        workflow_admin_action(close_capa_from_admin, description="Close", meaning=SignatureMeaning.CLOSED),
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
            return [*readonly, "effectiveness_result"]
        if obj.status == CAPAStatus.CLOSED:
            return [field.name for field in self.model._meta.fields]
        return [*readonly, "site"]
