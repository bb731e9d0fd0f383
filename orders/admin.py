from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, ReadOnlyTabularInline, transition_admin_action

from . import services
from .models import OrderBatch, ProductionOrder
from .workflows import ORDER_WORKFLOW


class OrderBatchInline(ReadOnlyTabularInline):
    model = OrderBatch
    fk_name = "order"
    fields = ("sequence", "batch", "continues", "quantity_counted")
    readonly_fields = fields


@admin.register(ProductionOrder)
class ProductionOrderAdmin(AuditedModelAdmin):
    list_display = ("order_id", "mbr", "site", "quantity_ordered", "quantity_completed", "due_date", "status_badge")
    list_filter = ("status", "site")
    search_fields = ("order_id", "reference", "mbr__product_code")
    list_select_related = ("mbr", "site")
    readonly_fields = ("order_id", "quantity_completed", "continuation_problem", *AUDIT_FIELDS)
    user_scoped = True
    saved_through_service = True
    inlines = [OrderBatchInline]
    actions = [
        transition_admin_action(ORDER_WORKFLOW, "close", description="Close the order"),
        transition_admin_action(ORDER_WORKFLOW, "cancel", description="Cancel the order (and its pending batches)"),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            editable = ORDER_WORKFLOW.editable_fields(obj)
            readonly += [field.name for field in self.model._meta.fields if field.name not in editable]
        return list(dict.fromkeys(readonly))

    def save_with_service(self, request, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if change:
            return services.update_order(form.instance, actor=request.user, reason="Changed in the admin", **data)
        fields = ("site", "mbr", "quantity_ordered", "due_date", "batch_size", "reference", "continue_automatically")
        values = {name: form.cleaned_data.get(name) for name in fields if name in form.cleaned_data}
        return services.create_order(actor=request.user, reason="Placed in the admin", **values)
