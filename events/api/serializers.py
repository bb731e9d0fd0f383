from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import AuditedModelSerializer, SiteScopedRelationsMixin, StrictFieldsMixin
from events.models import DomainEvent, Webhook, WebhookDelivery
from users.models import Site


class DomainEventSerializer(serializers.ModelSerializer):
    """An event as every consumer sees it (the NATS message and the webhook body are the same)."""

    id = serializers.UUIDField(source="event_id", read_only=True)
    type = serializers.CharField(source="event_type", read_only=True)
    version = serializers.IntegerField(source="payload_version", read_only=True)
    subject = serializers.CharField(read_only=True)
    site = serializers.CharField(source="site.code", read_only=True, allow_null=True)
    actor = serializers.CharField(source="actor_username", read_only=True)
    cursor = serializers.CharField(source="position", read_only=True)
    published_to_nats = serializers.SerializerMethodField()

    class Meta:
        model = DomainEvent
        fields = [
            "id",
            "type",
            "version",
            "domain",
            "subject",
            "aggregate_type",
            "aggregate_id",
            "site",
            "occurred_at",
            "actor",
            "cursor",
            "payload",
            "published_to_nats",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_published_to_nats(self, event):
        return event.nats_published_at is not None


class EventFeedPageSerializer(serializers.Serializer):
    """One page of the feed: send `next_cursor` as `after` to read on."""

    results = DomainEventSerializer(many=True)
    next_cursor = serializers.CharField()
    has_more = serializers.BooleanField()


class WebhookSerializer(AuditedModelSerializer):
    """A webhook: the site whose events it receives, which types, where; the secret signs each
    body (X-EBR-Signature) and is never shown back."""

    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False)
    secret = serializers.CharField(write_only=True, min_length=16, max_length=200)
    reason = serializers.CharField(write_only=True, required=False, help_text="Reason for the change (audit trail).")

    class Meta:
        model = Webhook
        fields = [
            "id",
            "site",
            "url",
            "event_types",
            "secret",
            "description",
            "is_active",
            "reason",
            *AuditedModelSerializer.audit_fields,
        ]
        read_only_fields = ["id", *AuditedModelSerializer.audit_fields]


class WebhookDeliverySerializer(SiteScopedRelationsMixin, StrictFieldsMixin, serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.event_id", read_only=True)
    event_type = serializers.CharField(source="event.event_type", read_only=True)
    url = serializers.CharField(source="webhook.url", read_only=True)
    redelivery_requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "url",
            "event",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "redelivery_requested_by",
            "redelivery_requested_at",
            "created_at",
        ]
        read_only_fields = fields
