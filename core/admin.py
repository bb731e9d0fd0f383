"""Admin building blocks: every GMP model's admin derives from AuditedModelAdmin.

- Audit, status and signature fields are read-only; history through simple-history's view.
- Status changes only through admin actions that call the same services as the API; a
  signing action asks for the password on an intermediate page that shows the meaning.
- Delete only where the workflow allows it (drafts); never for signatures or history.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.template.response import TemplateResponse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from core.exceptions import DomainError
from core.models import Counter, IdempotencyKey, Signature

AUDIT_FIELDS = ("created_at", "created_by", "updated_at", "updated_by")

STATUS_COLOURS = {
    "draft": "#6c757d",
    "pending": "#6c757d",
    "not_started": "#6c757d",
    "open": "#fd7e14",
    "in_review": "#0d6efd",
    "in_progress": "#0d6efd",
    "in_use": "#0d6efd",
    "investigating": "#6f42c1",
    "dispensed": "#0dcaf0",
    "effectiveness_check": "#6f42c1",
    "under_review": "#6f42c1",
    "completed": "#198754",
    "verified": "#198754",
    "consumed": "#198754",
    "approved": "#198754",
    "effective": "#198754",
    "released": "#198754",
    "resolved": "#20c997",
    "closed": "#343a40",
    "ended": "#343a40",
    "available": "#198754",
    "superseded": "#adb5bd",
    "obsolete": "#adb5bd",
    "returned": "#adb5bd",
    "skipped": "#ffc107",
    "deviated": "#dc3545",
    "quarantined": "#dc3545",
    "rejected": "#dc3545",
    "maintenance": "#ffc107",
    "out_of_service": "#dc3545",
}


def status_badge(status, label=None):
    colour = STATUS_COLOURS.get(status, "#6c757d")
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px;white-space:nowrap">{}</span>',
        colour,
        label or status,
    )


class ActionConfirmationForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Re-enter your password to sign (21 CFR 11.200).",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    comment = forms.CharField(required=False)


def workflow_admin_action(service, *, description, meaning=None, reason_required=False, reason_kwarg="reason"):
    """An admin action that runs `service(record, actor=..., ...)` for each selected record.

    With a `meaning`, the intermediate page asks for the password and shows what is being
    signed; each record is its own transaction, so one refusal doesn't undo the others.
    """

    def run(modeladmin, request, queryset):
        form = ActionConfirmationForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            data = form.cleaned_data
            if meaning and not data["password"]:
                form.add_error("password", "Your password is required to sign.")
            elif reason_required and not data["reason"].strip():
                form.add_error("reason", "A reason is required.")
            else:
                done = 0
                for record in queryset:
                    kwargs = {}
                    if meaning:
                        kwargs.update(password=data["password"], comment=data["comment"])
                    if reason_required or data["reason"]:
                        kwargs[reason_kwarg] = data["reason"]
                    try:
                        with transaction.atomic():
                            service(record, actor=request.user, **kwargs)
                        done += 1
                    except (DomainError, ValidationError) as error:
                        message = getattr(error, "message", None) or "; ".join(getattr(error, "messages", [str(error)]))
                        modeladmin.message_user(request, f"{record}: {message}", messages.ERROR)
                if done:
                    modeladmin.message_user(request, f"{description}: done for {done} record(s).", messages.SUCCESS)
                return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "description": description,
            "meaning": meaning,
            "reason_required": reason_required,
            "records": list(queryset),
            "form": form,
            "action_name": request.POST.get("action"),
            "opts": modeladmin.model._meta,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/ebr_action_confirmation.html", context)

    run.short_description = description
    run.__name__ = f"action_{service.__name__}"
    return run


class SignatureInline(GenericTabularInline):
    model = Signature
    extra = 0
    can_delete = False
    fields = ("meaning", "signer_full_name", "signer_username", "signed_at", "record_status", "comment")
    readonly_fields = fields
    ct_field = "content_type"
    ct_fk_field = "object_id"
    verbose_name_plural = "electronic signatures"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AuditedModelAdmin(SimpleHistoryAdmin):
    """Base admin of every audited model."""

    # Statuses in which a record may be deleted (drafts); empty: never.
    deletable_statuses = frozenset()
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_per_page = 50
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        non_editable = [f.name for f in self.model._meta.fields if not f.editable and f.name not in readonly]
        status = ["status"] if any(f.name == "status" for f in self.model._meta.fields) else []
        return list(dict.fromkeys([*readonly, *non_editable, *status]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a queryset delete would bypass the trail
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is None or getattr(obj, "status", None) not in self.deletable_statuses:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        obj.save(actor=request.user, reason="Changed in the admin" if change else "Created in the admin")

    def delete_model(self, request, obj):
        obj.delete(actor=request.user, reason="Deleted in the admin")

    def revert_disabled(self, request, obj=None):
        return True

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display())


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdmin):
    list_display = ("id", "meaning", "signer_full_name", "signer_username", "content_type", "object_id", "signed_at")
    list_filter = ("meaning", "content_type")
    search_fields = ("signer_username", "signer_full_name", "comment", "content_hash")
    list_select_related = ("content_type",)
    date_hierarchy = "signed_at"


@admin.register(Counter)
class CounterAdmin(ReadOnlyAdmin):
    list_display = ("name", "value")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "status_code", "created_at")
    list_select_related = ("user",)
