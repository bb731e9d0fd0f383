"""Admin building blocks: every GMP model's admin derives from AuditedModelAdmin.

- Audit, status and signature fields are read-only; history through simple-history's view,
  never reverted from there.
- Status changes only through admin actions that call the same services as the API; a
  signing action asks for the password on an intermediate page that shows the meaning.
- A change form may be saved through a service (`save_with_service`): what the service
  refuses shows on the form, never as a server error.
- Delete only where the workflow allows it (drafts); never for signatures or history.
- Site-bound records are shown only to users of their site (`user_scoped`).
"""

import copy
import functools
import inspect
import json
import re

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, router, transaction
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from core.exceptions import DomainError
from core.models import Counter, IdempotencyKey, Signature
from core.scoping import visible_to

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
        '<span class="status-badge status-{}" style="background:{};color:#fff;padding:2px 8px;'
        'border-radius:10px;white-space:nowrap">{}</span>',
        status,
        colour,
        label or status,
    )


def admin_link(record, text=None):
    """A link to `record`'s change page in the admin (plain text if it has none)."""
    if record is None:
        return "-"
    opts = record._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])
    except NoReverseMatch:
        return text or str(record)
    return format_html('<a href="{}">{}</a>', url, text or str(record))


def changelist_link(model, text, **filters):
    """A link to `model`'s admin list, filtered (e.g. the steps of one batch)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


def pretty_json(value):
    """JSON content as an indented, monospaced block (read-only display)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder, sort_keys=False)
    return format_html('<pre class="json-content" style="margin:0;white-space:pre-wrap">{}</pre>', text)


def json_table(rows, columns):
    """A list of JSON objects as an HTML table. `columns`: [(key or callable, heading)];
    nested values are shown as compact JSON."""
    if not rows:
        return "-"

    def cell(row, key):
        value = key(row) if callable(key) else row.get(key, "") if isinstance(row, dict) else ""
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder) if value else ""
        return "" if value is None else value

    head = format_html_join("", "<th>{}</th>", ((heading,) for _, heading in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell(row, key),) for key, _ in columns)),) for row in rows),
    )
    return format_html('<table class="json-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body)


class PrettyJSONFormField(forms.JSONField):
    """JSON edited as indented text, so that a long recipe stays readable in the form."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


JSON_WIDGET = forms.Textarea(attrs={"rows": 16, "cols": 100, "style": "font-family:monospace"})


# --- actions -----------------------------------------------------------------------------


def _accepts(service, name):
    parameters = inspect.signature(service).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def describe_error(error):
    """A DomainError's or ValidationError's message, naming the fields of a field dict."""
    if isinstance(error, DomainError):
        return error.message
    if hasattr(error, "error_dict"):
        return "; ".join(
            message if field == NON_FIELD_ERRORS else f"{field}: {message}"
            for field, field_messages in error.message_dict.items()
            for message in field_messages
        )
    return "; ".join(error.messages)


def workflow_admin_action(
    service,
    *,
    description,
    meaning=None,
    reason_required=False,
    reason_kwarg="reason",
    fields=None,
    permission=None,
    offer_comment=True,
):
    """An admin action that runs `service(record, actor=..., ...)` for each selected record.

    With a `meaning`, the intermediate page asks for the password and shows what is being
    signed; each record is its own transaction, so one refusal doesn't undo the others.
    `fields` adds inputs the service needs ({kwarg: form field}, e.g. quantities); a reason
    and a comment are offered only where the service takes them. With a `permission`, the
    action is offered only to users who hold it (the service checks it again).
    """
    offers_reason = reason_required or _accepts(service, reason_kwarg)
    offers_comment = bool(meaning) and offer_comment and _accepts(service, "comment")
    extra_fields = dict(fields or {})

    def make_form(data=None):
        form = forms.Form(data)
        if meaning:
            form.fields["password"] = forms.CharField(
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "current-password"}),
                required=False,
                help_text="Re-enter your password to sign (21 CFR 11.200).",
            )
        for name, field in extra_fields.items():
            form.fields[name] = copy.deepcopy(field)
        if offers_reason:
            form.fields["reason"] = forms.CharField(
                widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Reason"
            )
        if offers_comment:
            form.fields["comment"] = forms.CharField(required=False)
        return form

    def run(modeladmin, request, queryset):
        confirmed = "confirm" in request.POST
        form = make_form(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            data = form.cleaned_data
            if meaning and not data["password"]:
                form.add_error("password", "Your password is required to sign.")
            elif reason_required and not data["reason"].strip():
                form.add_error("reason", "A reason is required.")
            else:
                done = 0
                for record in queryset:
                    kwargs = {name: data[name] for name in extra_fields}
                    if meaning:
                        kwargs["password"] = data["password"]
                    if offers_comment:
                        kwargs["comment"] = data["comment"]
                    if offers_reason and (reason_required or data["reason"]):
                        kwargs[reason_kwarg] = data["reason"]
                    try:
                        with transaction.atomic():
                            service(record, actor=request.user, **kwargs)
                        done += 1
                    except (DomainError, ValidationError) as error:
                        modeladmin.message_user(request, f"{record}: {describe_error(error)}", messages.ERROR)
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
    run.required_permission = permission
    return run


def transition_admin_action(workflow, action, service=None, *, description=None, **kwargs):
    """The admin action of one declared transition: the signature meaning, whether a reason
    is required and the permission come from the table, and it runs `workflow.perform`
    (or `service`, an entry point with the same meaning, where one takes other inputs)."""
    transition = workflow[action]
    if service is None:

        def service(record, **data):
            return workflow.perform(record, action, **data)

        service.__name__ = f"{workflow_name(workflow)}_{action}"
        if transition.signature is None:
            kwargs.setdefault("offer_comment", False)
    return workflow_admin_action(
        service,
        description=description or transition.label,
        meaning=transition.signature,
        reason_required=transition.reason_required,
        permission=transition.permission,
        **kwargs,
    )


def workflow_name(workflow):
    transition = next(iter(workflow))
    return transition.permission.split(".")[0]


# --- forms saved through a service -------------------------------------------------------


class ServiceSavedFormMixin:
    """A ModelForm whose save is the admin's `save_with_service`: it runs once the form is
    valid, inside the admin's transaction, and what the service refuses becomes form errors."""

    model_admin = None
    request = None

    def _post_clean(self):
        # The service checks the record's constraints itself, with messages naming the
        # field ("quantity_planned: must be greater than 0"), rather than the constraint.
        self.instance.full_clean = functools.partial(self.instance.full_clean, validate_constraints=False)
        try:
            super()._post_clean()
        finally:
            del self.instance.full_clean
        if self.errors:
            return
        try:
            with transaction.atomic():
                self.instance = self.model_admin.save_with_service(
                    self.request, self, change=self.instance.pk is not None
                )
        except ValidationError as error:
            self._add_service_errors(error)
        except DomainError as error:
            self.add_error(None, error.message)

    def _add_service_errors(self, error):
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, field_messages in error.message_dict.items():
            # Content errors name the path of the bad element: bill_of_materials[0].quantity_per_unit.
            field = re.split(r"[\[.]", key, maxsplit=1)[0]
            for message in field_messages:
                if field in self.fields:
                    self.add_error(field, message if key == field else f"{key}: {message}")
                elif key == NON_FIELD_ERRORS:
                    self.add_error(None, message)
                else:
                    self.add_error(None, f"{key}: {message}")

    def save(self, commit=True):
        return self.instance

    def save_m2m(self):
        """Relations are saved by the service."""

    _save_m2m = save_m2m


# --- inlines -----------------------------------------------------------------------------


class SignatureInline(GenericTabularInline):
    model = Signature
    extra = 0
    can_delete = False
    fields = ("meaning", "signer_full_name", "signer_username", "signed_at", "record_status", "comment")
    readonly_fields = fields
    ct_field = "content_type"
    ct_fk_field = "object_id"
    verbose_name_plural = "electronic signatures"

    def has_view_permission(self, request, obj=None):
        # Signatures are part of the record they sign: whoever may see the record sees them.
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyTabularInline(admin.TabularInline):
    """Related records shown under their parent; they change only through their actions."""

    extra = 0
    can_delete = False
    show_change_link = True
    # Relations shown in the rows (and the parent, which each row's title names).
    select_related = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display())


# --- model admins ------------------------------------------------------------------------


class AuditedModelAdmin(SimpleHistoryAdmin):
    """Base admin of every audited model."""

    # Statuses in which a record may be deleted (drafts); empty: never.
    deletable_statuses = frozenset()
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"form_class": PrettyJSONFormField, "widget": JSON_WIDGET},
    }
    list_per_page = 50
    show_full_result_count = False
    # Show only the records of the user's sites (and product lines), as the API does.
    user_scoped = False
    # The lookup path to users.Site; None: the model's own `site_lookup`.
    site_field = None
    # Save the change form through `save_with_service` instead of a plain save.
    saved_through_service = False
    # Relations the change page shows; the list has its own `list_select_related` (which
    # the changelist skips when get_queryset already selects related rows).
    change_select_related = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.user_scoped:
            queryset = visible_to(queryset, request.user, self.site_field)
        return queryset

    def get_object(self, request, object_id, from_field=None):
        queryset = self.get_queryset(request)
        if self.change_select_related:
            queryset = queryset.select_related(*self.change_select_related)
        model = queryset.model
        field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (model.DoesNotExist, ValidationError, ValueError):
            return None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A user picks only among the sites and site-bound records they may see.
        related = db_field.related_model
        scoped = getattr(related, "site_lookup", None) or getattr(related, "product_line_lookup", None)
        if self.user_scoped and "queryset" not in kwargs and scoped:
            kwargs["queryset"] = visible_to(related._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def uses_service_save(self, request, obj):
        """Whether the form for `obj` (None: a new record) is saved by `save_with_service`."""
        return self.saved_through_service

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not self.uses_service_save(request, obj):
            return form
        return type(form)(
            f"Service{form.__name__}",
            (ServiceSavedFormMixin, form),
            {"model_admin": self, "request": request, "__module__": form.__module__},
        )

    def save_with_service(self, request, form, change):
        """Save `form` through the record's service and return the saved record; raise
        ValidationError or a DomainError to refuse (shown on the form)."""
        raise NotImplementedError

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        non_editable = [f.name for f in self.model._meta.fields if not f.editable and f.name not in readonly]
        status = ["status"] if any(f.name == "status" for f in self.model._meta.fields) else []
        return list(dict.fromkeys([*readonly, *non_editable, *status]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a queryset delete would bypass the trail
        for name, (func, _, _) in list(actions.items()):
            permission = getattr(func, "required_permission", None)
            if permission and not request.user.has_perm(permission):
                del actions[name]
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is None or getattr(obj, "status", None) not in self.deletable_statuses:
            return False
        return super().has_delete_permission(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with transaction.atomic(using=router.db_for_write(self.model)):
            response = self._changeform_view(request, object_id, form_url, extra_context)
            if request.method == "POST" and not getattr(request, "_ebr_form_saved", False):
                # A form shown again with errors keeps nothing, not even what a service
                # did while the form was validated (an inline may have failed after it).
                transaction.set_rollback(True)
            return response

    def save_model(self, request, obj, form, change):
        request._ebr_form_saved = True
        if isinstance(form, ServiceSavedFormMixin):
            return  # saved by the service while the form was validated
        obj.save(actor=request.user, reason="Changed in the admin" if change else "Created in the admin")

    def delete_model(self, request, obj):
        obj.delete(actor=request.user, reason="Deleted in the admin")

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # The trail is read, never written back: a past version is not restored from here.
        if request.method == "POST" and self.revert_disabled(request):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

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
    show_full_result_count = False


@admin.register(Counter)
class CounterAdmin(ReadOnlyAdmin):
    list_display = ("name", "value")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "status_code", "created_at")
    list_select_related = ("user",)


# --- links contributed by the apps above ------------------------------------------------
# A page shows records of apps that depend on its own (a deviation's batch deviations, an
# equipment's batch uses) without importing them: those apps register the links here.
_RELATED_LINKS = {}


def register_related_link(model, field, render):
    """Have the read-only field `field` of `model`'s admin page show `render(obj)` (a link)."""
    _RELATED_LINKS.setdefault((model._meta.label_lower, field), []).append(render)


def related_links(obj, field):
    """The links registered for `field` of `obj`'s page, in registration order ("-" if none)."""
    renders = _RELATED_LINKS.get((obj._meta.label_lower, field), [])
    return format_html_join(" · ", "{}", ((render(obj),) for render in renders)) or "-"
