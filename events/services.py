"""Business actions of the outbox: record an event, register webhooks, re-deliver."""

import hashlib
import hmac

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import Conflict, NotPermitted

from .choices import DeliveryStatus
from .models import DomainEvent, Webhook, WebhookDelivery
from .registry import EVENT_TYPES, known_event_types

SIGNATURE_HEADER = "X-EBR-Signature"


# PostgreSQL advisory lock (per database) shared by every transaction that writes an event
# and taken alone, for an instant, by the feed: see committed_events().
OUTBOX_LOCK = 0x4542_525F_4F42  # "EBR_OB"


def _take_outbox_lock(*, exclusive):
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time already
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [OUTBOX_LOCK])


def record_event(event_type, *, aggregate_id, site_id, actor, payload):
    """Write `event_type` to the outbox inside the caller's transaction.

    Refused outside a transaction: an event committed apart from its change could be
    published for a change that is then rolled back, or lost for one that is committed.
    """
    if not connection.in_atomic_block:
        raise RuntimeError(f"{event_type} must be recorded inside the transaction of the change it describes.")
    declared = EVENT_TYPES.get(event_type)
    if declared is None:
        raise ValueError(f"Undeclared event type {event_type!r}.")
    _take_outbox_lock(exclusive=False)  # before the position is drawn (see committed_events)
    return DomainEvent.objects.create(
        event_type=event_type,
        domain=declared.domain,
        aggregate_type=declared.aggregate,
        aggregate_id=aggregate_id,
        site_id=site_id,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_username=actor.get_username() if getattr(actor, "pk", None) else "",
        payload=payload,
    )


def committed_events():
    """The events a feed may show: all rows up to a position below which no transaction can
    still commit one.

    PostgreSQL draws positions when a row is inserted, not when it commits, so an event can
    commit after a later one; a client that read past it would never see it. Every writer
    holds a shared advisory lock from before it draws its position until it ends; the feed
    takes the lock exclusively for an instant, which waits for the writers already under
    way, and reads the highest committed position. A writer that starts afterwards draws a
    higher one."""
    events = DomainEvent.objects.all()
    if connection.vendor != "postgresql":
        return events
    with transaction.atomic():
        _take_outbox_lock(exclusive=True)
        horizon = DomainEvent.objects.order_by("-position").values_list("position", flat=True).first()
    return events.filter(position__lte=horizon or 0)


# --- webhooks ----------------------------------------------------------------------------


def signature_of(secret, body):
    """The X-EBR-Signature value of `body` (bytes): "sha256=" + hex HMAC-SHA256 with the secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _clean_webhook(*, url=None, event_types=None, secret=None):
    errors = {}
    if url is not None and not url.lower().startswith(("http://", "https://")):
        errors["url"] = ["Only http:// and https:// URLs can receive webhooks."]
    if event_types is not None:
        if not isinstance(event_types, list) or not event_types:
            errors["event_types"] = ["Name at least one event type."]
        else:
            unknown = sorted({str(name) for name in event_types} - set(known_event_types()))
            if unknown:
                errors["event_types"] = [
                    f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(known_event_types())}."
                ]
    if secret is not None and len(secret) < 16:
        errors["secret"] = ["Use a secret of at least 16 characters."]
    if errors:
        raise ValidationError(errors)


def _check_site(actor, site):
    if not actor.is_superuser and not actor.sites.filter(pk=site.pk).exists():
        raise ValidationError({"site": [f"You can only register webhooks for your own sites; {site.code} is not one."]})


@transaction.atomic
def register_webhook(*, actor, site, url, event_types, secret, description="", is_active=True):
    if not actor.has_perm("events.add_webhook"):
        raise NotPermitted("You do not have permission to register webhooks.")
    _clean_webhook(url=url, event_types=event_types, secret=secret)
    _check_site(actor, site)
    webhook = Webhook(
        site=site,
        url=url,
        event_types=sorted(set(event_types)),
        secret=secret,
        description=description,
        is_active=is_active,
    )
    webhook.save(actor=actor, reason="Webhook registered")
    return webhook


@transaction.atomic
def update_webhook(webhook, *, actor, reason=None, **changes):
    if not actor.has_perm("events.change_webhook"):
        raise NotPermitted("You do not have permission to change webhooks.")
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    _clean_webhook(
        url=changes.get("url"),
        event_types=changes.get("event_types"),
        secret=changes.get("secret"),
    )
    if "site" in changes:
        _check_site(actor, changes["site"])
    if "event_types" in changes:
        changes["event_types"] = sorted(set(changes["event_types"]))
    for name, value in changes.items():
        setattr(webhook, name, value)
    webhook.save(actor=actor, reason=reason or "Webhook changed")
    return webhook


def dispatch_to_webhooks(event, webhooks):
    """One pending delivery per active webhook of the event's site that wants its type."""
    deliveries = [
        WebhookDelivery.objects.get_or_create(webhook=webhook, event=event)[0]
        for webhook in webhooks
        if webhook.site_id == event.site_id and webhook.wants(event.event_type)
    ]
    event.webhooks_dispatched_at = timezone.now()
    event.save(update_fields=["webhooks_dispatched_at"])
    return deliveries


@transaction.atomic
def redeliver(delivery, *, actor):
    """A dead (or delivered) delivery sent again from the first attempt, on demand."""
    if not actor.has_perm("events.redeliver_webhookdelivery"):
        raise NotPermitted("You do not have permission to re-deliver webhook deliveries.")
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict(
            f"Delivery {delivery.pk} is already pending; the relay sends it at its next attempt.",
            current_status=delivery.status,
            action="redeliver",
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.redelivery_requested_by = actor
    delivery.redelivery_requested_at = timezone.now()
    delivery.save()
    return delivery
