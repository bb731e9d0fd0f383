"""What the batch admin pages share: the batch link and the base of a batch's child records."""

from django.contrib import admin

from core.admin import (
    AuditedModelAdmin,
    admin_link,
)


def _batch_link(record):
    batch = record.batch
    return admin_link(batch, batch.batch_id)


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
