"""Master batch records: authored while draft (through the service), then approved and made effective."""

from django.contrib import admin

from core.admin import (
    AUDIT_FIELDS,
    AuditedModelAdmin,
    SignatureInline,
    admin_link,
    changelist_link,
    json_table,
    transition_admin_action,
)

from ..choices import MBRStatus
from ..models import BatchRecord, MasterBatchRecord
from ..services import mbr as mbr_services
from ..workflows import (
    MBR_WORKFLOW,
)

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
