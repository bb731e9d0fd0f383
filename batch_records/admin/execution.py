"""What happens in a batch besides its steps: deviations, material lines and equipment use,
each read-only and moved on by its actions."""

from django import forms
from django.contrib import admin

from capa.models import CAPA
from core.admin import (
    AUDIT_FIELDS,
    AuditedModelAdmin,
    SignatureInline,
    admin_link,
    changelist_link,
    transition_admin_action,
)
from deviations.models import Deviation

from ..models import BatchDeviation, BatchEquipment, BatchMaterial
from ..services import deviations as deviation_services
from ..services import equipment_usage as usage_services
from ..services import materials as material_services
from ..workflows import (
    BATCH_DEVIATION_WORKFLOW,
    EQUIPMENT_USAGE_WORKFLOW,
    MATERIAL_WORKFLOW,
)
from .base import BatchChildAdmin


def resolve_batch_deviation_from_admin(
    deviation,
    *,
    actor,
    root_cause,
    password,
    comment="",
    impact_assessment="",
    linked_deviation=None,
    linked_capa=None,
):
    """The resolve form always sends every input; an empty one keeps what is recorded."""
    return deviation_services.resolve_batch_deviation(
        deviation,
        actor=actor,
        root_cause=root_cause,
        password=password,
        comment=comment,
        impact_assessment=impact_assessment or None,
        linked_deviation=linked_deviation,
        linked_capa=linked_capa,
    )


def _record_by_number(model, field, label):
    # Typed as its number (DEV-0001): no list of every record in the page.
    return forms.ModelChoiceField(
        queryset=model.objects.all(),
        to_field_name=field,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": label}),
        help_text=f"Optional, e.g. {label}; empty keeps the link recorded.",
    )


# --- master batch records --------------------------------------------------------------


@admin.register(BatchDeviation)
class BatchDeviationAdmin(BatchChildAdmin):
    list_display = (
        "deviation_id",
        "batch_link",
        "step_link",
        "deviation_type",
        "status_badge",
        "linked_deviation_link",
        "linked_capa_link",
        "created_at",
        "resolved_by",
    )
    list_filter = ("status", "deviation_type", "batch__site")
    search_fields = ("deviation_id", "description", "batch__batch_id", "batch__batch_number")
    list_select_related = ("batch", "batch_step", "linked_deviation", "linked_capa", "resolved_by")
    change_select_related = (
        "batch",
        "batch_step",
        "batch_material",
        "linked_deviation",
        "linked_capa",
        "resolved_by",
        "closed_by",
        "created_by",
        "updated_by",
    )
    autocomplete_fields = ("batch", "batch_step", "batch_material", "linked_deviation", "linked_capa")
    inlines = [SignatureInline]
    actions = [
        transition_admin_action(
            BATCH_DEVIATION_WORKFLOW,
            "investigate",
            deviation_services.investigate_batch_deviation,
            description="Start the investigation",
        ),
        transition_admin_action(
            BATCH_DEVIATION_WORKFLOW,
            "resolve",
            resolve_batch_deviation_from_admin,
            description="Resolve (root cause)",
            fields={
                "root_cause": forms.CharField(widget=forms.Textarea(attrs={"rows": 3})),
                "impact_assessment": forms.CharField(
                    widget=forms.Textarea(attrs={"rows": 2}),
                    required=False,
                    help_text="Empty keeps the impact assessment recorded.",
                ),
                "linked_deviation": _record_by_number(Deviation, "deviation_id", "DEV-0001"),
                "linked_capa": _record_by_number(CAPA, "capa_id", "CAPA-0001"),
            },
        ),
        transition_admin_action(
            BATCH_DEVIATION_WORKFLOW, "close", deviation_services.close_batch_deviation, description="Close"
        ),
    ]
    readonly_fields = (
        "batch_link",
        "step_link",
        "material_link",
        "linked_deviation_link",
        "linked_capa_link",
        "resolved_by",
        "resolution_date",
        "closed_by",
        "closed_at",
        "status_badge",
        *AUDIT_FIELDS,
    )

    def has_add_permission(self, request):
        return AuditedModelAdmin.has_add_permission(self, request)

    def has_change_permission(self, request, obj=None):
        # The investigation is written while open or investigating (as through the API).
        if obj is not None and obj.status not in deviation_services.EDITABLE_STATUSES:
            return False
        return AuditedModelAdmin.has_change_permission(self, request, obj)

    def uses_service_save(self, request, obj):
        return True  # reported and updated through the services, as through the API

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return readonly
        fixed = [f.name for f in self.model._meta.fields if f.name not in deviation_services.EDITABLE_FIELDS]
        return list(dict.fromkeys([*readonly, *fixed]))

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    "Report a deviation in a batch",
                    {
                        "fields": (
                            "batch",
                            "batch_step",
                            "batch_material",
                            "deviation_type",
                            "description",
                            "impact_assessment",
                            "immediate_action",
                        )
                    },
                )
            ]
        # QMS records are picked while the investigation is open; shown as links afterwards.
        editable = self.has_change_permission(request, obj)
        links = ("linked_deviation", "linked_capa") if editable else ("linked_deviation_link", "linked_capa_link")
        return [
            (
                None,
                {
                    "fields": (
                        "deviation_id",
                        "batch_link",
                        "step_link",
                        "material_link",
                        "deviation_type",
                        "status_badge",
                    )
                },
            ),
            ("What happened", {"fields": ("description", "impact_assessment", "immediate_action")}),
            (
                "Investigation",
                {
                    "fields": (
                        "root_cause",
                        *links,
                        "resolved_by",
                        "resolution_date",
                        "closed_by",
                        "closed_at",
                    )
                },
            ),
            ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
        ]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_with_service(self, request, form, change):
        data = form.cleaned_data
        if change:
            editable = deviation_services.EDITABLE_FIELDS
            values = {name: data[name] for name in form.changed_data if name in editable}
            if not values:
                return form.instance
            return deviation_services.update_batch_deviation(
                form.instance, actor=request.user, reason="Investigation updated in the admin", **values
            )
        return deviation_services.open_batch_deviation(
            data["batch"],
            actor=request.user,
            deviation_type=data["deviation_type"],
            description=data["description"],
            batch_step=data.get("batch_step"),
            batch_material=data.get("batch_material"),
            impact_assessment=data.get("impact_assessment") or "",
            immediate_action=data.get("immediate_action") or "",
        )

    @admin.display(description="step", ordering="batch_step__step_number")
    def step_link(self, obj):
        step = obj.batch_step
        return admin_link(step, f"step {step.step_number}") if step else "-"

    @admin.display(description="material")
    def material_link(self, obj):
        material = obj.batch_material
        return admin_link(material, material.material_code) if material else "-"

    @admin.display(description="QMS deviation", ordering="linked_deviation__deviation_id")
    def linked_deviation_link(self, obj):
        deviation = obj.linked_deviation
        return admin_link(deviation, deviation.deviation_id) if deviation else "-"

    @admin.display(description="CAPA", ordering="linked_capa__capa_id")
    def linked_capa_link(self, obj):
        capa = obj.linked_capa
        return admin_link(capa, capa.capa_id) if capa else "-"


@admin.register(BatchMaterial)
class BatchMaterialAdmin(BatchChildAdmin):
    list_display = (
        "material_label",
        "batch_link",
        "line_number",
        "material_name",
        "lot_number",
        "quantity_required",
        "quantity_dispensed",
        "quantity_used",
        "unit_of_measure",
        "status_badge",
        "dispensed_by",
        "verified_by",
    )
    list_filter = ("status", "batch__site")
    search_fields = ("material_code", "material_name", "lot_number", "batch__batch_id", "batch__batch_number")
    list_select_related = ("batch", "dispensed_by", "verified_by")
    change_select_related = ("batch", "dispensed_by", "verified_by", "consumed_by", "created_by", "updated_by")
    inlines = [SignatureInline]
    fieldsets = (
        (None, {"fields": ("batch_link", "line_number", "material_code", "material_name", "status_badge")}),
        (
            "Quantities",
            {"fields": ("quantity_required", "quantity_dispensed", "quantity_used", "unit_of_measure", "lot_number")},
        ),
        (
            "Dispensing and use",
            {
                "fields": (
                    "dispensed_by",
                    "dispensed_at",
                    "verified_by",
                    "verified_at",
                    "consumed_by",
                    "consumed_at",
                    "returned_at",
                    "return_reason",
                    "deviations_link",
                )
            },
        ),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )
    readonly_fields = ("batch_link", "deviations_link", "status_badge")
    actions = [
        transition_admin_action(
            MATERIAL_WORKFLOW,
            "dispense",
            material_services.dispense_material,
            description="Dispense",
            fields={
                "lot_number": forms.CharField(max_length=50, label="Lot number"),
                "quantity": forms.DecimalField(min_value=0, max_digits=16, decimal_places=4),
            },
        ),
        transition_admin_action(
            MATERIAL_WORKFLOW, "verify", material_services.verify_material, description="Verify (second person)"
        ),
        transition_admin_action(
            MATERIAL_WORKFLOW,
            "consume",
            material_services.consume_material,
            description="Record consumption",
            fields={"quantity_used": forms.DecimalField(min_value=0, max_digits=16, decimal_places=4)},
        ),
        transition_admin_action(MATERIAL_WORKFLOW, "return", material_services.return_material, description="Return"),
    ]

    @admin.display(description="material", ordering="material_code")
    def material_label(self, obj):
        return f"{obj.batch.batch_id} {obj.material_code}"

    @admin.display(description="deviations")
    def deviations_link(self, obj):
        return changelist_link(BatchDeviation, "Deviations of this material", batch_material__id__exact=obj.pk)


@admin.register(BatchEquipment)
class BatchEquipmentAdmin(BatchChildAdmin):
    list_display = (
        "usage_label",
        "batch_link",
        "equipment_link",
        "equipment_name",
        "status_badge",
        "calibration_verified",
        "cleaning_verified",
        "usage_start",
        "usage_end",
        "started_by",
    )
    list_filter = ("status", "calibration_verified", "cleaning_verified", "batch__site")
    search_fields = ("equipment_name", "equipment_id_manual", "equipment__equipment_id", "batch__batch_id")
    list_select_related = ("batch", "equipment", "started_by")
    change_select_related = (
        "batch",
        "equipment",
        "started_by",
        "ended_by",
        "calibration_verified_by",
        "cleaning_verified_by",
        "created_by",
        "updated_by",
    )
    inlines = [SignatureInline]
    fieldsets = (
        (None, {"fields": ("batch_link", "equipment_link", "equipment_name", "equipment_id_manual", "status_badge")}),
        (
            "Checks before use",
            {
                "fields": (
                    "calibration_verified",
                    "calibration_verified_by",
                    "calibration_verified_at",
                    "cleaning_verified",
                    "cleaning_verified_by",
                    "cleaning_verified_at",
                )
            },
        ),
        ("Use", {"fields": ("usage_start", "started_by", "usage_end", "ended_by")}),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )
    readonly_fields = ("batch_link", "equipment_link", "status_badge")
    autocomplete_fields = ("batch", "equipment")
    actions = [
        transition_admin_action(
            EQUIPMENT_USAGE_WORKFLOW,
            "verify_calibration",
            usage_services.verify_calibration,
            description="Verify calibration",
        ),
        transition_admin_action(
            EQUIPMENT_USAGE_WORKFLOW, "verify_cleaning", usage_services.verify_cleaning, description="Verify cleaning"
        ),
        transition_admin_action(
            EQUIPMENT_USAGE_WORKFLOW, "start_usage", usage_services.start_usage, description="Start usage"
        ),
        transition_admin_action(
            EQUIPMENT_USAGE_WORKFLOW, "end_usage", usage_services.end_usage, description="End usage"
        ),
    ]

    def has_add_permission(self, request):
        return AuditedModelAdmin.has_add_permission(self, request)

    def uses_service_save(self, request, obj):
        return obj is None  # logged through the service, which checks the equipment's site

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    "Log equipment for a batch",
                    {
                        "fields": ("batch", "equipment", "equipment_name", "equipment_id_manual"),
                        "description": "Pick registered equipment, or name equipment that is not registered.",
                    },
                )
            ]
        return super().get_fieldsets(request, obj)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_with_service(self, request, form, change):
        data = form.cleaned_data
        return usage_services.add_batch_equipment(
            data["batch"],
            actor=request.user,
            equipment=data.get("equipment"),
            equipment_name=data.get("equipment_name") or "",
            equipment_id_manual=data.get("equipment_id_manual") or "",
        )

    @admin.display(description="usage", ordering="id")
    def usage_label(self, obj):
        return f"{obj.batch.batch_id} {obj.equipment_name or obj.equipment_id_manual}"

    @admin.display(description="equipment", ordering="equipment__equipment_id")
    def equipment_link(self, obj):
        return admin_link(obj.equipment, obj.equipment.equipment_id) if obj.equipment_id else "-"
