from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, workflow_admin_action

from . import services
from .models import CalibrationRecord, CleaningLog, Equipment, EquipmentStatus


def put_in_maintenance(equipment, *, actor, reason):
    return services.set_equipment_status(equipment, actor=actor, status=EquipmentStatus.MAINTENANCE, reason=reason)


def take_out_of_service(equipment, *, actor, reason):
    return services.set_equipment_status(equipment, actor=actor, status=EquipmentStatus.OUT_OF_SERVICE, reason=reason)


def return_to_service(equipment, *, actor, reason):
    return services.set_equipment_status(equipment, actor=actor, status=EquipmentStatus.AVAILABLE, reason=reason)


class ReadOnlyLogInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CalibrationRecordInline(ReadOnlyLogInline):
    model = CalibrationRecord
    fields = ("performed_at", "performed_by", "result", "next_due_date", "certificate", "notes")
    readonly_fields = fields
    verbose_name_plural = "calibration records"


class CleaningLogInline(ReadOnlyLogInline):
    model = CleaningLog
    fields = ("cleaned_at", "cleaned_by", "result", "method", "notes")
    readonly_fields = fields
    verbose_name_plural = "cleaning logs"


@admin.register(Equipment)
class EquipmentAdmin(AuditedModelAdmin):
    """The equipment register. Calibrations and cleanings are recorded through the API
    actions (each writes its log); here they are shown, and the status is changed only by
    the actions below (never on equipment in use)."""

    list_display = (
        "equipment_id",
        "name",
        "equipment_type",
        "site",
        "status_badge",
        "calibration_due_date",
        "cleaning_status",
        "cleaned_at",
    )
    list_filter = ("status", "cleaning_status", "site", "equipment_type")
    search_fields = ("equipment_id", "name", "equipment_type")
    list_select_related = ("site",)
    readonly_fields = ("equipment_id", "calibration_due_date", "cleaning_status", "cleaned_at", *AUDIT_FIELDS)
    fieldsets = (
        (None, {"fields": ("equipment_id", "name", "equipment_type", "site", "status")}),
        (
            "Calibration and cleaning",
            {"fields": ("calibration_due_date", "cleaning_status", "cleaned_at", "cleaning_validity_hours")},
        ),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )
    inlines = [CalibrationRecordInline, CleaningLogInline]
    actions = [
        workflow_admin_action(put_in_maintenance, description="Put in maintenance", reason_required=True),
        workflow_admin_action(take_out_of_service, description="Take out of service", reason_required=True),
        workflow_admin_action(return_to_service, description="Return to service (available)", reason_required=True),
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
        if obj is not None and obj.status == EquipmentStatus.IN_USE:
            readonly = [field.name for field in self.model._meta.fields]
        return readonly
