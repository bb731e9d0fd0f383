"""Records management for master batch records and batches.

Everything a batch records is written by its actions: here the records are read, linked to
one another, and moved on only by admin actions calling the same services as the API (a
signing action asks for the password and shows the meaning). Content changes are possible
only where the API allows them: an MBR while draft (through its service, so its JSON is
validated), a batch's lot number and production line while pending.
"""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from capa.models import CAPA
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
    workflow_admin_action,
)
from core.models import SignatureMeaning
from deviations.models import Deviation

from .choices import BatchStatus, MBRStatus
from .models import BatchDeviation, BatchEquipment, BatchMaterial, BatchRecord, BatchStep, MasterBatchRecord
from .services import batches as batch_services
from .services import deviations as deviation_services
from .services import equipment_usage as usage_services
from .services import materials as material_services
from .services import mbr as mbr_services
from .services import review as review_services
from .services import steps as step_services
from .workflows import (
    BATCH_DEVIATION_WORKFLOW,
    BATCH_WORKFLOW,
    EQUIPMENT_USAGE_WORKFLOW,
    MATERIAL_WORKFLOW,
    MBR_WORKFLOW,
    STEP_WORKFLOW,
)

# A batch's content that may still change while it is pending (as through the API).
BATCH_EDITABLE_FIELDS = ("lot_number", "production_line")
COST_FIELDS = ("material_cost", "labour_cost", "overhead_cost", "total_cost", "unit_cost")

BOM_COLUMNS = [
    ("material_code", "material code"),
    ("material_name", "material"),
    ("quantity_per_unit", "quantity per unit"),
    ("unit_of_measure", "unit"),
]
INSTRUCTION_COLUMNS = [
    ("step_number", "step"),
    ("instruction_text", "instruction"),
    (lambda row: ", ".join(_data_field_label(field) for field in row.get("required_data_fields", [])), "data"),
    ("specifications", "specifications"),
    (lambda row: "yes" if row.get("requires_verification") else "no", "verification"),
]
QUALITY_COLUMNS = [("parameter", "parameter"), ("min", "min"), ("max", "max"), ("unit", "unit")]
DATA_FIELD_COLUMNS = [("name", "name"), ("type", "type"), ("unit", "unit")]


def _data_field_label(field):
    if not isinstance(field, dict):
        return str(field)
    unit = f" [{field['unit']}]" if field.get("unit") else ""
    return f"{field.get('name', '?')} ({field.get('type', '?')}){unit}"


def _batch_link(record):
    batch = record.batch
    return admin_link(batch, batch.batch_id)


# Statuses in which the batch page lists what QA must look at and what blocks release.
QA_STATUSES = (BatchStatus.COMPLETED, BatchStatus.UNDER_REVIEW, BatchStatus.QUARANTINED)


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


@admin.register(MasterBatchRecord)
class MasterBatchRecordAdmin(AuditedModelAdmin):
    list_display = (
        "mbr_id",
        "title",
        "product_code",
        "version",
        "status_badge",
        "product_line",
        "effective_date",
        "author",
        "approved_by",
        "updated_at",
    )
    list_filter = ("status", "product_line", "is_serialized")
    search_fields = ("mbr_id", "title", "product_name", "product_code")
    list_select_related = ("product_line", "author", "approved_by")
    change_select_related = ("product_line", "linked_document", "author", "approved_by", "previous_version")
    date_hierarchy = "created_at"
    autocomplete_fields = ("linked_document",)
    inlines = [SignatureInline]
    deletable_statuses = {MBRStatus.DRAFT}
    user_scoped = True
    saved_through_service = True
    readonly_fields = (
        "mbr_id",
        "version",
        "author",
        "approved_by",
        "approval_date",
        "previous_version_link",
        "all_versions",
        "batches_link",
        "status_badge",
        "bill_of_materials_table",
        "manufacturing_instructions_table",
        "quality_specifications_table",
        *AUDIT_FIELDS,
    )
    actions = [
        transition_admin_action(MBR_WORKFLOW, "submit", mbr_services.submit_mbr, description="Submit for review"),
        transition_admin_action(
            MBR_WORKFLOW, "return_to_draft", mbr_services.return_mbr_to_draft, description="Return to draft"
        ),
        transition_admin_action(MBR_WORKFLOW, "approve", mbr_services.approve_mbr, description="Approve"),
        transition_admin_action(MBR_WORKFLOW, "supersede", mbr_services.supersede_mbr, description="Supersede"),
        transition_admin_action(MBR_WORKFLOW, "obsolete", mbr_services.obsolete_mbr, description="Make obsolete"),
        transition_admin_action(
            MBR_WORKFLOW,
            "new_version",
            mbr_services.create_new_mbr_version,
            description="Create the next version (draft)",
        ),
    ]

    def content_editable(self, request, obj):
        return obj is None or (obj.status == MBRStatus.DRAFT and super().has_change_permission(request, obj))

    def has_change_permission(self, request, obj=None):
        # SPEC §3: content changes only in draft; afterwards the page is read-only.
        if obj is not None and obj.status != MBRStatus.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        editable = self.content_editable(request, obj)
        content = (
            ("bill_of_materials",),
            ("manufacturing_instructions",),
            ("quality_specifications",),
        )
        if not editable:
            content = (
                ("bill_of_materials_table",),
                ("manufacturing_instructions_table",),
                ("quality_specifications_table",),
            )
        header = ["mbr_id", "title", "product_name", "product_code", "version"]
        if obj is not None:
            header.append("status_badge")
        fieldsets = [
            (None, {"fields": header}),
            (
                "Product and limits",
                {
                    "fields": (
                        "product_line",
                        "linked_document",
                        "effective_date",
                        "yield_limit_min",
                        "yield_limit_max",
                        "is_serialized",
                    )
                },
            ),
            ("Bill of materials", {"classes": ("collapse",), "fields": content[0]}),
            ("Manufacturing instructions", {"classes": ("collapse",), "fields": content[1]}),
            ("Quality specifications", {"classes": ("collapse",), "fields": content[2]}),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    "Approval and versions",
                    {
                        "fields": (
                            "author",
                            "approved_by",
                            "approval_date",
                            "previous_version_link",
                            "all_versions",
                            "batches_link",
                        )
                    },
                )
            )
            fieldsets.append(("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}))
        return fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        # Picking the MBR of a new batch: only approved ones can be executed.
        if request.GET.get("model_name") == "batchrecord" and request.GET.get("field_name") == "mbr":
            queryset = queryset.filter(status=MBRStatus.APPROVED)
        return queryset, duplicates

    def save_with_service(self, request, form, change):
        content = MasterBatchRecord.content_fields
        if not change:
            values = {name: value for name, value in form.cleaned_data.items() if name in content}
            return mbr_services.create_mbr(actor=request.user, reason="Created in the admin", **values)
        values = {name: form.cleaned_data[name] for name in form.changed_data if name in content}
        if not values:
            return form.instance
        return mbr_services.update_mbr(form.instance, actor=request.user, reason="Edited in the admin", **values)

    @admin.display(description="bill of materials")
    def bill_of_materials_table(self, obj):
        return json_table(obj.bill_of_materials, BOM_COLUMNS)

    @admin.display(description="manufacturing instructions")
    def manufacturing_instructions_table(self, obj):
        return json_table(obj.manufacturing_instructions, INSTRUCTION_COLUMNS)

    @admin.display(description="quality specifications")
    def quality_specifications_table(self, obj):
        return json_table(obj.quality_specifications, QUALITY_COLUMNS)

    @admin.display(description="previous version")
    def previous_version_link(self, obj):
        return admin_link(obj.previous_version)

    @admin.display(description="versions")
    def all_versions(self, obj):
        if obj.pk is None:
            return "-"
        return changelist_link(MasterBatchRecord, f"Versions of {obj.product_code}", product_code=obj.product_code)

    @admin.display(description="batches")
    def batches_link(self, obj):
        if obj.pk is None:
            return "-"
        return changelist_link(BatchRecord, "Batches made from this version", mbr__id__exact=obj.pk)


# --- batches ---------------------------------------------------------------------------


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
        workflow_admin_action(
            review_services.record_batch_review,
            description="Document the QA review",
            meaning=SignatureMeaning.REVIEWED,
            permission=review_services.REVIEW_PERMISSION,
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
        items = review_services.review_exceptions(obj)
        if not items:
            return "Nothing to review: the batch may be reviewed by exception."
        return json_table(items, [("kind", "kind"), ("reference", "record"), ("message", "what to look at")])

    @admin.display(description="release conditions not met")
    def release_conditions(self, obj):
        unmet = review_services.unmet_release_conditions(obj)
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


# --- what happens in a batch -----------------------------------------------------------


class BatchChildAdmin(AuditedModelAdmin):
    """Records of one batch: read-only, moved on by their actions."""

    user_scoped = True
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # made by the batch's snapshot or by their own service

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="batch", ordering="batch__batch_id")
    def batch_link(self, obj):
        return _batch_link(obj)


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
