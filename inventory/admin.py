"""Inventory in the admin: materials edited by records administrators; lots and the ledger
read-only, lots released/rejected/expired only through actions calling the services."""

from django.contrib import admin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, ReadOnlyAdmin, SignatureInline, transition_admin_action

from . import services
from .models import Lot, LotMovement, Material
from .workflows import LOT_WORKFLOW


@admin.register(Material)
class MaterialAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "unit_of_measure", "standard_cost", "updated_at")
    search_fields = ("code", "name")
    readonly_fields = AUDIT_FIELDS


@admin.register(Lot)
class LotAdmin(AuditedModelAdmin):
    list_display = ("lot_id", "material", "site", "supplier_lot", "expiry_date", "status_badge", "quantity_on_hand")
    list_filter = ("status", "site", "material")
    search_fields = ("lot_id", "supplier", "supplier_lot", "material__code")
    list_select_related = ("material", "site")
    date_hierarchy = "expiry_date"
    inlines = [SignatureInline]
    actions = [
        transition_admin_action(LOT_WORKFLOW, "release", services.release_lot, description="Release lot"),
        transition_admin_action(LOT_WORKFLOW, "reject", services.reject_lot, description="Reject lot"),
        transition_admin_action(LOT_WORKFLOW, "expire", services.expire_lot, description="Mark expired"),
    ]

    def has_add_permission(self, request):
        return False  # received through the API's receive service (a receipt movement)

    def get_readonly_fields(self, request, obj=None):
        # Quantities move only through the ledger; everything here is read-only.
        return [field.name for field in self.model._meta.fields]


@admin.register(LotMovement)
class LotMovementAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "lot", "kind", "quantity", "batch", "actor", "reason")
    list_filter = ("kind",)
    search_fields = ("lot__lot_id", "batch__batch_id", "reason")
    list_select_related = ("lot", "batch", "actor")
    date_hierarchy = "created_at"
