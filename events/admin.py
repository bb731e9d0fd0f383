from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from core.admin import AuditedModelAdmin, ReadOnlyAdmin, pretty_json, status_badge, workflow_admin_action
from core.scoping import visible_to

from . import services
from .models import DomainEvent, Webhook, WebhookDelivery


class SiteScopedReadOnlyAdmin(ReadOnlyAdmin):
    site_field = None

    def get_queryset(self, request):
        return visible_to(super().get_queryset(request), request.user, self.site_field)


@admin.register(DomainEvent)
class DomainEventAdmin(SiteScopedReadOnlyAdmin):
    list_display = ("position", "event_type", "aggregate_id", "site", "actor_username", "occurred_at", "published")
    list_filter = ("event_type", "domain", "site")
    search_fields = ("=event_id", "aggregate_id", "event_type")
    list_select_related = ("site",)
    date_hierarchy = "occurred_at"
    site_field = "site"
    readonly_fields = ("payload_shown",)
    exclude = ("payload",)

    @admin.display(boolean=True, description="NATS")
    def published(self, event):
        return event.nats_published_at is not None

    @admin.display(description="payload")
    def payload_shown(self, event):
        return pretty_json(event.payload)


class WebhookForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="At least 16 characters; leave empty to keep the current secret.",
    )

    class Meta:
        model = Webhook
        fields = ["site", "url", "event_types", "secret", "description", "is_active"]


@admin.register(Webhook)
class WebhookAdmin(AuditedModelAdmin):
    form = WebhookForm
    list_display = ("id", "url", "site", "event_types", "is_active", "updated_at")
    list_filter = ("is_active", "site")
    search_fields = ("url", "description")
    user_scoped = True
    saved_through_service = True

    def save_with_service(self, request, form, change):
        data = dict(form.cleaned_data)
        if not data.get("secret"):
            data.pop("secret")
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            return services.update_webhook(form.instance, actor=request.user, reason="Changed in the admin", **changed)
        if "secret" not in data:
            raise ValidationError({"secret": ["A new webhook needs a secret."]})
        return services.register_webhook(actor=request.user, **data)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(SiteScopedReadOnlyAdmin):
    list_display = ("id", "event", "webhook", "status_shown", "attempts", "last_status_code", "next_attempt_at")
    list_filter = ("status",)
    search_fields = ("=event__event_id", "webhook__url")
    list_select_related = ("event", "webhook")
    site_field = "webhook__site"
    actions = [
        workflow_admin_action(
            services.redeliver,
            description="Re-deliver (dead letters and delivered ones)",
            permission="events.redeliver_webhookdelivery",
        )
    ]

    @admin.display(description="status", ordering="status")
    def status_shown(self, delivery):
        return status_badge(delivery.status, delivery.get_status_display())
