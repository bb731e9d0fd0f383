"""The transactional outbox of domain events, and the webhooks they are delivered to.

A DomainEvent row is written in the same database transaction as the change it describes
(`events.services.record_event`): a rolled-back change leaves no event, a committed change
always has one. The relay (`manage.py relay_events`) reads committed rows and marks what it
has delivered; consumers de-duplicate by `event_id`.

Outbox rows and delivery attempts are infrastructure, not GMP records: the change they
describe is in the audit trail of its own record. Webhook registrations are audited.
"""

import uuid
from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import AuditedModel

from .choices import DeliveryStatus

# The version of the payload schema of every event type; bumped when a payload changes shape.
PAYLOAD_VERSION = 1


class DomainEvent(models.Model):
    """One business transition (BATCH_COMPLETED, LOT_RELEASED...), as committed."""

    # Feed cursor; the feed shows a position only once no transaction can still commit a
    # lower one (events.services.committed_events), so a cursor never skips a row.
    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField("event ID", default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=64, db_index=True)
    domain = models.CharField(max_length=32)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField("aggregate ID", max_length=64, db_index=True)
    site = models.ForeignKey(
        "users.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=True
    )
    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # As at the time of the event, like a signature's printed name.
    actor_username = models.CharField(max_length=150, blank=True)
    payload_version = models.PositiveSmallIntegerField(default=PAYLOAD_VERSION)
    payload = models.JSONField(default=dict)
    # NATS JetStream delivery: set once the stream acknowledged the message.
    nats_published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    nats_stream_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    nats_attempts = models.PositiveIntegerField(default=0)
    nats_last_error = models.TextField(blank=True)
    # Webhooks: set once a delivery row exists for every matching webhook.
    webhooks_dispatched_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["position"]
        indexes = [models.Index(fields=["site", "position"], name="event_site_position")]

    def __str__(self):
        return f"{self.event_type} {self.aggregate_id} ({self.event_id})"

    @property
    def subject(self):
        return f"{settings.EBR_EVENTS_SUBJECT_PREFIX}.{self.domain}"

    def envelope(self):
        """The message every consumer receives (NATS, webhooks, the feed): the same JSON."""
        return {
            "id": str(self.event_id),
            "type": self.event_type,
            "version": self.payload_version,
            "domain": self.domain,
            "subject": self.subject,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "site": self.site.code if self.site_id else None,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "actor": self.actor_username or None,
            "cursor": str(self.position),
            "payload": self.payload,
        }


class Webhook(AuditedModel):
    """An HTTP endpoint that receives the events of one site, signed with its secret."""

    site_lookup = "site"

    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="webhooks")
    url = models.URLField("URL", max_length=500)
    # Event types delivered (BATCH_COMPLETED...); validated against the declared types.
    event_types = models.JSONField(default=list)
    # The HMAC-SHA256 key of the X-EBR-Signature header; never shown back by the API.
    secret = models.CharField(max_length=200)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.url} ({', '.join(self.event_types)})"

    def wants(self, event_type):
        return self.is_active and event_type in self.event_types


class WebhookDelivery(models.Model):
    """One event for one webhook: retried with exponential backoff, then dead-lettered."""

    site_lookup = "webhook__site"

    webhook = models.ForeignKey(Webhook, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(DomainEvent, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    redelivery_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    redelivery_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event"], name="webhook_delivery_once_per_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]
        permissions = [("redeliver_webhookdelivery", "Can re-deliver a webhook delivery")]

    def __str__(self):
        return f"{self.event.event_type} → {self.webhook.url} ({self.status})"
