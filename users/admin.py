from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from core.admin import AUDIT_FIELDS, AuditedModelAdmin, workflow_admin_action
from core.models import SignatureMeaning

from .models import ProductLine, Site, User
from .services import UNLOCK_PERMISSION, unlock_account


@admin.register(User)
class UserAdmin(DjangoUserAdmin, SimpleHistoryAdmin):
    """Accounts are deactivated, never deleted (their signatures point at them)."""

    list_display = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "groups", "sites")
    filter_horizontal = ("groups", "user_permissions", "sites", "product_lines")
    # Records administrators: unlock an account locked after failed attempts (signed, reason).
    actions = [
        workflow_admin_action(
            unlock_account,
            description="Unlock the account",
            meaning=SignatureMeaning.UNLOCKED,
            reason_required=True,
            permission=UNLOCK_PERMISSION,
        )
    ]
    readonly_fields = ("last_login", "date_joined", *AUDIT_FIELDS)
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Sites and product lines", {"fields": ("sites", "product_lines")}),
        ("Audit", {"classes": ("collapse",), "fields": AUDIT_FIELDS}),
    )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.save(actor=request.user, reason="Changed in the admin" if change else "Created in the admin")

    def revert_disabled(self, request, obj=None):
        return True


@admin.register(Site)
class SiteAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "updated_at")
    search_fields = ("code", "name")
    readonly_fields = AUDIT_FIELDS


@admin.register(ProductLine)
class ProductLineAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "updated_at")
    search_fields = ("code", "name")
    readonly_fields = AUDIT_FIELDS
