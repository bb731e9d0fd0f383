from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, SignatureInline, workflow_admin_action
from core.models import SignatureMeaning

from . import services
from .models import SerialNumber, SerialStepOverride, SerialStepStatus


class SerialStepStatusInline(admin.TabularInline):
    model = SerialStepStatus
    extra = 0
    can_delete = False
    fields = ("step_index", "step", "status", "actual_values", "is_within_spec", "performed_by", "performed_at")
    readonly_fields = fields
    ordering = ("step_index",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SerialNumber)
class SerialNumberAdmin(AuditedModelAdmin):
    """Units change only through their actions; the admin can scrap and force-complete."""

    list_display = ("serial_id", "batch", "status_badge", "current_step_index", "force_completed", "updated_at")
    list_filter = ("status", "force_completed")
    search_fields = ("serial_id", "batch__batch_id", "batch__batch_number")
    list_select_related = ("batch",)
    readonly_fields = ("serial_id", "batch", *AUDIT_FIELDS)
    inlines = [SerialStepStatusInline, SignatureInline]
    actions = [
        workflow_admin_action(services.scrap_serial, description="Scrap", reason_required=True),
        workflow_admin_action(
            services.force_complete_serial,
            description="Force-complete",
            meaning=SignatureMeaning.FORCE_COMPLETED,
        ),
    ]

    def has_add_permission(self, request):
        return False  # generated when a serialized batch starts

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)


@admin.register(SerialStepOverride)
class SerialStepOverrideAdmin(AuditedModelAdmin):
    list_display = ("serial", "step", "reason", "active", "created_by", "created_at")
    list_filter = ("active",)
    search_fields = ("serial__serial_id", "reason")
    list_select_related = ("serial", "step__batch", "created_by")
    inlines = [SignatureInline]

    def has_add_permission(self, request):
        return False  # waivers are given through the waive_step action, with a signature

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)
