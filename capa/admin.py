from django.contrib import admin

from core.admin import (
    AUDIT_FIELDS,
    AuditedModelAdmin,
    SignatureInline,
    admin_link,
    changelist_link,
    register_related_link,
    related_links,
    transition_admin_action,
    workflow_admin_action,
)
from deviations.models import Deviation

from . import services
from .models import CAPA, CAPAStatus
from .workflows import CAPA_WORKFLOW


def close_capa_from_admin(capa, *, actor, password, comment="", reason=""):
    """The confirmation page also offers a reason: a signed closure keeps it as its comment."""
    return services.close_capa(capa, actor=actor, password=password, comment=comment or reason)


@admin.register(CAPA)
class CAPAAdmin(AuditedModelAdmin):
    list_display = (
        "capa_id",
        "title",
        "status_badge",
        "site",
        "owner",
        "due_date",
        "overdue",
        "deviation_link",
        "closed_at",
    )
    list_filter = ("status", "site")
    search_fields = ("capa_id", "title", "deviation__deviation_id")
    list_select_related = ("site", "owner", "deviation")
    change_select_related = ("site", "owner", "deviation", "closed_by", "created_by", "updated_by")
    date_hierarchy = "created_at"
    user_scoped = True
    site_field = "site"
    readonly_fields = (
        "capa_id",
        "closed_by",
        "closed_at",
        "status_badge",
        "deviation_link",
        "batch_deviations",
        *AUDIT_FIELDS,
    )
    raw_id_fields = ("owner", "deviation")
    inlines = [SignatureInline]
    actions = [
        # The owner may start their own CAPA whatever their role: offered to everyone,
        # the service decides.
        workflow_admin_action(services.start_capa, description="Start the work"),
        transition_admin_action(
            CAPA_WORKFLOW,
            "check_effectiveness",
            services.check_capa_effectiveness,
            description="Move to the effectiveness check",
        ),
        transition_admin_action(CAPA_WORKFLOW, "close", close_capa_from_admin, description="Close"),
    ]

    def get_fieldsets(self, request, obj=None):
        header = ["capa_id", "title", "site", "owner", "due_date", "deviation", "description"]
        if obj is not None:
            header.insert(3, "status_badge")
        fieldsets = [
            (None, {"fields": header}),
            ("Plan and effectiveness", {"fields": ("action_plan", "effectiveness_result", "closed_by", "closed_at")}),
        ]
        if obj is not None:
            fieldsets += [
                ("Related records", {"fields": ("deviation_link", "batch_deviations")}),
                ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
            ]
        return fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return [*readonly, "effectiveness_result"]
        if obj.status == CAPAStatus.CLOSED:
            fixed = [field.name for field in self.model._meta.fields]
            return [*fixed, "status_badge", "deviation_link", "batch_deviations"]
        return [*readonly, "site"]

    @admin.display(description="overdue", boolean=True)
    def overdue(self, obj):
        return obj.is_overdue

    @admin.display(description="QMS deviation", ordering="deviation__deviation_id")
    def deviation_link(self, obj):
        return admin_link(obj.deviation, obj.deviation.deviation_id) if obj.deviation_id else "-"

    @admin.display(description="batch deviations")
    def batch_deviations(self, obj):
        return related_links(obj, "batch_deviations")  # registered by batch records


register_related_link(
    Deviation, "related_records", lambda deviation: changelist_link(CAPA, "CAPAs", deviation__id__exact=deviation.pk)
)
