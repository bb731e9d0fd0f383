"""Units in the admin: read-only, site-scoped as in the API; scrapping and force-completion
run the same services as the API (force-completion asks for the password)."""

from django.contrib import admin

from core.admin import AuditedModelAdmin, ReadOnlyTabularInline, SignatureInline, transition_admin_action

from . import services
from .models import SerialNumber, SerialStepOverride, SerialStepStatus
from .workflows import SERIAL_WORKFLOW


class SerialStepStatusInline(ReadOnlyTabularInline):
    model = SerialStepStatus
    fields = ("step_index", "step", "status_badge", "actual_values", "is_within_spec", "performed_by", "performed_at")
    readonly_fields = fields
    ordering = ("step_index",)
    select_related = ("serial", "step__batch", "performed_by")


class SerialStepOverrideInline(ReadOnlyTabularInline):
    model = SerialStepOverride
    fields = ("step", "reason", "active", "created_by", "created_at")
    readonly_fields = fields
    select_related = ("serial", "step__batch", "created_by")


class SerialAdminBase(AuditedModelAdmin):
    user_scoped = True

    def has_add_permission(self, request):
        return False  # generated when a serialized batch starts; waivers through their action

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SerialNumber)
class SerialNumberAdmin(SerialAdminBase):
    list_display = ("serial_id", "batch", "status_badge", "current_step_index", "force_completed", "updated_at")
    list_filter = ("status", "force_completed")
    search_fields = ("serial_id", "batch__batch_id", "batch__batch_number")
    list_select_related = ("batch",)
    change_select_related = ("batch", "force_completed_by", "scrapped_by", "created_by", "updated_by")
    inlines = [SerialStepStatusInline, SerialStepOverrideInline, SignatureInline]
    actions = [
        transition_admin_action(SERIAL_WORKFLOW, "scrap", services.scrap_serial, description="Scrap"),
        transition_admin_action(
            SERIAL_WORKFLOW, "force_complete", services.force_complete_serial, description="Force-complete"
        ),
    ]


@admin.register(SerialStepOverride)
class SerialStepOverrideAdmin(SerialAdminBase):
    list_display = ("serial", "step", "reason", "active", "created_by", "created_at")
    list_filter = ("active",)
    search_fields = ("serial__serial_id", "reason")
    list_select_related = ("serial", "step__batch", "created_by")
    inlines = [SignatureInline]
