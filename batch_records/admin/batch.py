"""Batches and their steps: the batch page with its execution records, QA review list and release
conditions; steps read-only, moved on by their actions."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from core.admin import (
    AUDIT_FIELDS,
    AuditedModelAdmin,
    ReadOnlyTabularInline,
    SignatureInline,
    admin_link,
    changelist_link,
    json_table,
    pretty_json,
    transition_admin_action,
)

from ..choices import BatchStatus
from ..models import BatchDeviation, BatchEquipment, BatchMaterial, BatchRecord, BatchStep
from ..services import batches as batch_services
from ..services import review as review_services
from ..services import review_rules
from ..services import steps as step_services
from ..services import stops as stop_services
from ..workflows import (
    BATCH_WORKFLOW,
    STEP_WORKFLOW,
)
from .base import BatchChildAdmin

# A batch's content that may still change while it is pending (as through the API).
BATCH_EDITABLE_FIELDS = ("lot_number", "production_line")
COST_FIELDS = ("material_cost", "labour_cost", "overhead_cost", "total_cost", "unit_cost")

# Statuses in which the batch page lists what QA must look at and what blocks release.
QA_STATUSES = (BatchStatus.COMPLETED, BatchStatus.UNDER_REVIEW, BatchStatus.QUARANTINED)


DATA_FIELD_COLUMNS = [("name", "name"), ("type", "type"), ("unit", "unit")]


class BatchStepInline(ReadOnlyTabularInline):
    model = BatchStep
    fields = (
        "step_number",
        "instruction",
        "status_badge",
        "is_within_spec",
        "requires_verification",
        "operator",
        "verifier",
        "completed_at",
    )
    readonly_fields = fields
    select_related = ("batch", "operator", "verifier")

    @admin.display(description="instruction")
    def instruction(self, obj):
        return Truncator(obj.instruction_text).chars(80)


class BatchMaterialInline(ReadOnlyTabularInline):
    model = BatchMaterial
    fields = (
        "line_number",
        "material_code",
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
    readonly_fields = fields
    select_related = ("batch", "dispensed_by", "verified_by")


class BatchEquipmentInline(ReadOnlyTabularInline):
    model = BatchEquipment
    fields = (
        "equipment_link",
        "equipment_name",
        "equipment_id_manual",
        "status_badge",
        "calibration_verified",
        "cleaning_verified",
        "usage_start",
        "usage_end",
    )
    readonly_fields = fields
    select_related = ("batch", "equipment")

    @admin.display(description="equipment")
    def equipment_link(self, obj):
        return admin_link(obj.equipment, obj.equipment.equipment_id) if obj.equipment_id else "-"


class BatchDeviationInline(ReadOnlyTabularInline):
    model = BatchDeviation
    fk_name = "batch"
    fields = ("deviation_type", "step", "status_badge", "description_short", "qms_deviation", "capa")
    readonly_fields = fields
    select_related = ("batch", "batch_step", "linked_deviation", "linked_capa")

    @admin.display(description="QMS deviation")
    def qms_deviation(self, obj):
        deviation = obj.linked_deviation
        return admin_link(deviation, deviation.deviation_id) if deviation else "-"

    @admin.display(description="CAPA")
    def capa(self, obj):
        return admin_link(obj.linked_capa, obj.linked_capa.capa_id) if obj.linked_capa_id else "-"

    @admin.display(description="step")
    def step(self, obj):
        return obj.batch_step.step_number if obj.batch_step_id else "-"

    @admin.display(description="description")
    def description_short(self, obj):
        return Truncator(obj.description).chars(100)


@admin.register(BatchRecord)
class BatchRecordAdmin(AuditedModelAdmin):
    list_display = (
        "batch_id",
        "batch_number",
        "lot_number",
        "mbr_link",
        "site",
        "status_badge",
        "quantity_planned",
        "yield_percentage",
        "has_deviations",
        "review_by_exception",
        "started_at",
        "completed_at",
    )
    list_filter = ("status", "site", "has_deviations", "review_by_exception", "is_serialized")
    search_fields = (
        "batch_id",
        "batch_number",
        "lot_number",
        "mbr__mbr_id",
        "mbr__product_code",
        "mbr__product_name",
    )
    list_select_related = ("mbr", "site")
    change_select_related = ("mbr", "site", "reviewed_by", "released_by", "created_by", "updated_by")
    date_hierarchy = "created_at"
    autocomplete_fields = ("mbr",)
    inlines = [BatchStepInline, BatchMaterialInline, BatchEquipmentInline, BatchDeviationInline, SignatureInline]
    deletable_statuses = {BatchStatus.PENDING}
    user_scoped = True
    readonly_fields = (
        "batch_id",
        "mbr_link",
        "execution_records",
        "quantity_produced",
        "quantity_rejected",
        "yield_percentage",
        "yield_limit_min",
        "yield_limit_max",
        "is_serialized",
        "started_at",
        "completed_at",
        "reviewed_by",
        "reviewed_at",
        "released_by",
        "release_date",
        "disposition_reason",
        "has_deviations",
        "review_by_exception",
        "status_badge",
        "review_list",
        "release_conditions",
        *AUDIT_FIELDS,
    )
    actions = [
        transition_admin_action(BATCH_WORKFLOW, "start", batch_services.start_batch, description="Start production"),
        transition_admin_action(
            BATCH_WORKFLOW,
            "complete",
            batch_services.complete_batch,
            description="Complete production",
            fields={
                "quantity_produced": forms.DecimalField(min_value=0, max_digits=14, decimal_places=3),
                "quantity_rejected": forms.DecimalField(min_value=0, max_digits=14, decimal_places=3),
            },
        ),
        transition_admin_action(
            BATCH_WORKFLOW,
            "submit_for_review",
            review_services.submit_batch_for_review,
            description="Submit for QA review",
        ),
        transition_admin_action(
            BATCH_WORKFLOW, "review", review_services.record_batch_review, description="Document the QA review"
        ),
        transition_admin_action(BATCH_WORKFLOW, "release", review_services.release_batch, description="Release"),
        transition_admin_action(BATCH_WORKFLOW, "reject", review_services.reject_batch, description="Reject"),
        transition_admin_action(
            BATCH_WORKFLOW, "quarantine", review_services.quarantine_batch, description="Quarantine"
        ),
        transition_admin_action(
            BATCH_WORKFLOW,
            "return_to_review",
            review_services.return_batch_to_review,
            description="Return from quarantine to review",
        ),
        transition_admin_action(
            BATCH_WORKFLOW, "cancel", stop_services.cancel_batch, description="Cancel (not started)"
        ),
        transition_admin_action(
            BATCH_WORKFLOW,
            "abort",
            stop_services.abort_batch,
            description="Abort production (materials back to their lots)",
        ),
    ]

    def uses_service_save(self, request, obj):
        return obj is None  # a new batch is made from its MBR by the service (a snapshot)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != BatchStatus.PENDING:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # As in the API: a pending batch, unless deviations were reported on it.
        if obj is not None and obj.status == BatchStatus.PENDING and obj.deviations.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A pending batch goes with its snapshot (steps, materials), never deleted one by one.
        snapshot = {BatchStep._meta.verbose_name, BatchMaterial._meta.verbose_name}
        snapshot |= {BatchEquipment._meta.verbose_name}
        return deleted, counts, set(perms_needed) - snapshot, protected

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    "New batch from an approved master batch record",
                    {"fields": ("mbr", "batch_number", "lot_number", "quantity_planned", "site", "production_line")},
                )
            ]
        return [
            (
                None,
                {
                    "fields": (
                        "batch_id",
                        "batch_number",
                        "lot_number",
                        "mbr_link",
                        "site",
                        "production_line",
                        "status_badge",
                        "execution_records",
                    )
                },
            ),
            (
                "Quantities and yield",
                {
                    "fields": (
                        "quantity_planned",
                        "quantity_produced",
                        "quantity_rejected",
                        "yield_percentage",
                        "yield_limit_min",
                        "yield_limit_max",
                        "is_serialized",
                    )
                },
            ),
            (
                "Execution and disposition",
                {
                    "fields": (
                        "started_at",
                        "completed_at",
                        "has_deviations",
                        "review_by_exception",
                        "reviewed_by",
                        "reviewed_at",
                        "released_by",
                        "release_date",
                        "disposition_reason",
                    )
                },
            ),
            *([("QA review", {"fields": ("review_list", "release_conditions")})] if obj.status in QA_STATUSES else []),
            (
                "Cost (snapshot at completion)",
                {"classes": ("collapse",), "fields": COST_FIELDS},
            ),
            ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return readonly
        fixed = [f.name for f in self.model._meta.fields if f.name not in BATCH_EDITABLE_FIELDS]
        return list(dict.fromkeys([*readonly, *fixed]))

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_with_service(self, request, form, change):
        data = form.cleaned_data
        return batch_services.create_batch(
            data["mbr"],
            actor=request.user,
            batch_number=data["batch_number"],
            lot_number=data["lot_number"],
            quantity_planned=data["quantity_planned"],
            site=data["site"],
            production_line=data.get("production_line") or "",
        )

    @admin.display(description="MBR", ordering="mbr__mbr_id")
    def mbr_link(self, obj):
        return admin_link(obj.mbr, f"{obj.mbr.mbr_id} v{obj.mbr.version}")

    @admin.display(description="review by exception")
    def review_list(self, obj):
        items = review_rules.review_exceptions(obj)
        if not items:
            return "Nothing to review: the batch may be reviewed by exception."
        return json_table(items, [("kind", "kind"), ("reference", "record"), ("message", "what to look at")])

    @admin.display(description="release conditions not met")
    def release_conditions(self, obj):
        unmet = review_rules.unmet_release_conditions(obj)
        if not unmet:
            return "All release conditions are met."
        return json_table(unmet, [("reference", "record"), ("message", "condition")])

    @admin.display(description="execution records")
    def execution_records(self, obj):
        links = [
            changelist_link(BatchStep, "steps", batch__id__exact=obj.pk),
            changelist_link(BatchMaterial, "materials", batch__id__exact=obj.pk),
            changelist_link(BatchEquipment, "equipment use", batch__id__exact=obj.pk),
            changelist_link(BatchDeviation, "deviations", batch__id__exact=obj.pk),
        ]
        # The complete executed record, as the API exports it (the admin session signs in there).
        export = reverse("batchrecord-export", args=[obj.pk])
        links += [
            format_html('<a href="{}?format=pdf">export (PDF)</a>', export),
            format_html('<a href="{}?format=json">export (JSON)</a>', export),
        ]
        return format_html_join(" · ", "{}", ((link,) for link in links))


@admin.register(BatchStep)
class BatchStepAdmin(BatchChildAdmin):
    list_display = (
        "step_label",
        "batch_link",
        "step_number",
        "instruction",
        "status_badge",
        "is_within_spec",
        "requires_verification",
        "operator",
        "verifier",
        "completed_at",
    )
    list_filter = ("status", "is_within_spec", "requires_verification", "batch__site")
    search_fields = ("batch__batch_id", "batch__batch_number", "instruction_text")
    list_select_related = ("batch", "operator", "verifier")
    change_select_related = ("batch", "operator", "verifier", "created_by", "updated_by")
    inlines = [SignatureInline]
    fieldsets = (
        (None, {"fields": ("batch_link", "step_number", "instruction_text", "status_badge", "requires_verification")}),
        (
            "Data and specifications",
            {"classes": ("collapse",), "fields": ("required_data_fields_table", "specifications_json")},
        ),
        (
            "Execution",
            {
                "fields": (
                    "actual_values_json",
                    "is_within_spec",
                    "deviation_notes",
                    "skip_reason",
                    "correction_count",
                    "operator",
                    "operator_signed_at",
                    "verifier",
                    "verifier_signed_at",
                    "started_at",
                    "completed_at",
                    "deviations_link",
                )
            },
        ),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )
    readonly_fields = (
        "batch_link",
        "required_data_fields_table",
        "specifications_json",
        "actual_values_json",
        "deviations_link",
        "status_badge",
    )
    actions = [
        transition_admin_action(STEP_WORKFLOW, "start", step_services.start_step, description="Start the step"),
        transition_admin_action(
            STEP_WORKFLOW,
            "complete",
            step_services.complete_step,
            description="Complete the step (record values)",
            fields={"actual_values": forms.JSONField(help_text='The recorded values, e.g. {"blend_time": 10}.')},
        ),
        transition_admin_action(
            STEP_WORKFLOW, "verify", step_services.verify_step, description="Verify (second person)"
        ),
        transition_admin_action(STEP_WORKFLOW, "skip", step_services.skip_step, description="Skip the step"),
        transition_admin_action(
            STEP_WORKFLOW,
            "correct",
            step_services.correct_step,
            description="Correct the recorded values",
            fields={"actual_values": forms.JSONField(help_text="The corrected values, all of them.")},
        ),
    ]

    @admin.display(description="step", ordering="step_number")
    def step_label(self, obj):
        return f"{obj.batch.batch_id} step {obj.step_number}"

    @admin.display(description="instruction")
    def instruction(self, obj):
        return Truncator(obj.instruction_text).chars(60)

    @admin.display(description="required data fields")
    def required_data_fields_table(self, obj):
        return json_table(obj.required_data_fields, DATA_FIELD_COLUMNS)

    @admin.display(description="specifications")
    def specifications_json(self, obj):
        return pretty_json(obj.specifications)

    @admin.display(description="recorded values")
    def actual_values_json(self, obj):
        return pretty_json(obj.actual_values) if obj.actual_values else "-"

    @admin.display(description="deviations")
    def deviations_link(self, obj):
        return changelist_link(BatchDeviation, "Deviations of this step", batch_step__id__exact=obj.pk)
