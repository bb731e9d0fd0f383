from datetime import timedelta

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html

from core.admin import (
    AUDIT_FIELDS,
    AuditedModelAdmin,
    ReadOnlyTabularInline,
    admin_link,
    related_links,
    transition_admin_action,
)

from . import services
from .models import CalibrationRecord, CleaningLog, Equipment, EquipmentStatus, RecordResult
from .workflows import EQUIPMENT_WORKFLOW

RESULT_COLOURS = {RecordResult.PASS: "#198754", RecordResult.FAIL: "#dc3545"}


def put_in_maintenance(equipment, *, actor, reason):
    return services.set_equipment_status(equipment, actor=actor, status=EquipmentStatus.MAINTENANCE, reason=reason)


def take_out_of_service(equipment, *, actor, reason):
    return services.set_equipment_status(equipment, actor=actor, status=EquipmentStatus.OUT_OF_SERVICE, reason=reason)


def return_to_service(equipment, *, actor, reason):
    return services.set_equipment_status(equipment, actor=actor, status=EquipmentStatus.AVAILABLE, reason=reason)


def result_badge(result, label):
    return format_html(
        '<span class="status-badge" style="background:{};color:#fff;padding:2px 8px;border-radius:10px">{}</span>',
        RESULT_COLOURS.get(result, "#6c757d"),
        label,
    )


class CalibrationStateFilter(admin.SimpleListFilter):
    """Which equipment may be used as far as calibration goes (21 CFR 211.68)."""

    title = "calibration"
    parameter_name = "calibration"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue or none"), ("due_30", "Due within 30 days"), ("valid", "Valid")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset.filter(Q(calibration_due_date__isnull=True) | Q(calibration_due_date__lt=today))
        if self.value() == "due_30":
            return queryset.filter(calibration_due_date__gte=today, calibration_due_date__lte=today + timedelta(30))
        if self.value() == "valid":
            return queryset.filter(calibration_due_date__gte=today)
        return queryset


class CalibrationRecordInline(ReadOnlyTabularInline):
    model = CalibrationRecord
    fields = ("performed_at", "performed_by", "result_badge", "next_due_date", "certificate", "notes")
    readonly_fields = fields
    select_related = ("equipment", "performed_by")
    show_change_link = False
    verbose_name_plural = "calibration records"

    @admin.display(description="result")
    def result_badge(self, obj):
        return result_badge(obj.result, obj.get_result_display())


class CleaningLogInline(ReadOnlyTabularInline):
    model = CleaningLog
    fields = ("cleaned_at", "cleaned_by", "result_badge", "method", "notes")
    readonly_fields = fields
    select_related = ("equipment", "cleaned_by")
    show_change_link = False
    verbose_name_plural = "cleaning logs"

    @admin.display(description="result")
    def result_badge(self, obj):
        return result_badge(obj.result, obj.get_result_display())


@admin.register(Equipment)
class EquipmentAdmin(AuditedModelAdmin):
    """The equipment register. Calibrations and cleanings are recorded by actions (each
    writes its log, as through the API); the status is changed only by the actions below
    (never on equipment in use)."""

    list_display = (
        "equipment_id",
        "name",
        "equipment_type",
        "site",
        "status_badge",
        "calibration_due",
        "cleaning_status",
        "cleaned_at",
    )
    list_filter = ("status", CalibrationStateFilter, "cleaning_status", "site", "equipment_type")
    search_fields = ("equipment_id", "name", "equipment_type")
    list_select_related = ("site",)
    change_select_related = ("site", "created_by", "updated_by")
    user_scoped = True
    site_field = "site"
    readonly_fields = (
        "equipment_id",
        "calibration_due_date",
        "cleaning_status",
        "cleaned_at",
        "status_badge",
        "batch_usages",
        *AUDIT_FIELDS,
    )
    inlines = [CalibrationRecordInline, CleaningLogInline]
    actions = [
        transition_admin_action(
            EQUIPMENT_WORKFLOW,
            "record_calibration",
            services.record_calibration,
            description="Record a calibration",
            fields={
                "result": forms.ChoiceField(choices=RecordResult.choices),
                "next_due_date": forms.DateField(
                    required=False, help_text="Required for a pass (YYYY-MM-DD); none for a fail."
                ),
                "certificate": forms.CharField(max_length=200, required=False),
                "notes": forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False),
            },
        ),
        transition_admin_action(
            EQUIPMENT_WORKFLOW,
            "record_cleaning",
            services.record_cleaning,
            description="Record a cleaning",
            fields={
                "result": forms.ChoiceField(choices=RecordResult.choices),
                "method": forms.CharField(max_length=200, required=False),
                "notes": forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False),
            },
        ),
        transition_admin_action(EQUIPMENT_WORKFLOW, "set_status", put_in_maintenance, description="Put in maintenance"),
        transition_admin_action(
            EQUIPMENT_WORKFLOW, "set_status", take_out_of_service, description="Take out of service"
        ),
        transition_admin_action(
            EQUIPMENT_WORKFLOW, "set_status", return_to_service, description="Return to service (available)"
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        header = ["equipment_id", "name", "equipment_type", "site"]
        if obj is not None:
            header.append("status_badge")
        fieldsets = [
            (None, {"fields": header}),
            (
                "Calibration and cleaning",
                {"fields": ("calibration_due_date", "cleaning_status", "cleaned_at", "cleaning_validity_hours")},
            ),
        ]
        if obj is not None:
            fieldsets.append(("Use in batches", {"fields": ("batch_usages",)}))
            fieldsets.append(("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.status == EquipmentStatus.IN_USE:
            readonly = [*(field.name for field in self.model._meta.fields), "status_badge", "batch_usages"]
        return readonly

    @admin.display(description="calibration due", ordering="calibration_due_date")
    def calibration_due(self, obj):
        if obj.calibration_overdue():
            return format_html(
                '<span style="color:#dc3545;font-weight:bold">{}</span>', obj.calibration_due_date or "none"
            )
        return obj.calibration_due_date

    @admin.display(description="batch usages")
    def batch_usages(self, obj):
        return related_links(obj, "batch_usages")  # registered by batch records


class EquipmentLogAdmin(AuditedModelAdmin):
    """Calibration and cleaning logs: written by the equipment's actions, never by hand."""

    user_scoped = True
    site_field = "equipment__site"
    list_filter = ("result", "equipment__site")
    search_fields = ("equipment__equipment_id", "equipment__name", "notes")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="equipment", ordering="equipment__equipment_id")
    def equipment_link(self, obj):
        return admin_link(obj.equipment, obj.equipment.equipment_id)

    @admin.display(description="result", ordering="result")
    def result_badge(self, obj):
        return result_badge(obj.result, obj.get_result_display())


@admin.register(CalibrationRecord)
class CalibrationRecordAdmin(EquipmentLogAdmin):
    list_display = ("performed_at", "equipment_link", "result_badge", "next_due_date", "certificate", "performed_by")
    list_select_related = ("equipment", "performed_by")
    change_select_related = ("equipment", "performed_by", "created_by", "updated_by")
    search_fields = (*EquipmentLogAdmin.search_fields, "certificate")
    date_hierarchy = "performed_at"
    fields = ("equipment_link", "performed_at", "performed_by", "result", "next_due_date", "certificate", "notes")
    readonly_fields = ("equipment_link",)


@admin.register(CleaningLog)
class CleaningLogAdmin(EquipmentLogAdmin):
    list_display = ("cleaned_at", "equipment_link", "result_badge", "method", "cleaned_by")
    list_select_related = ("equipment", "cleaned_by")
    change_select_related = ("equipment", "cleaned_by", "created_by", "updated_by")
    search_fields = (*EquipmentLogAdmin.search_fields, "method")
    date_hierarchy = "cleaned_at"
    fields = ("equipment_link", "cleaned_at", "cleaned_by", "result", "method", "notes")
    readonly_fields = ("equipment_link",)
