"""The relay: committed outbox rows to NATS JetStream and to webhooks, at least once.

Each pass works in short transactions that lock the rows they handle with
SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL), so two relays never handle the same row at
once. A row is marked delivered in the transaction that locked it, after the receiver
acknowledged it: a relay killed between the two leaves the row unmarked, and the next pass
sends it again. JetStream drops the repeat (its message id, Nats-Msg-Id, is the event id);
webhook receivers de-duplicate by the X-EBR-Event-Id header.
"""

import asyncio
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .choices import DeliveryStatus
from .models import DomainEvent, Webhook, WebhookDelivery
from .services import SIGNATURE_HEADER, dispatch_to_webhooks, signature_of

logger = logging.getLogger("ebr.events.relay")


def message_body(event):
    return json.dumps(event.envelope(), cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _lock_batch(queryset, size):
    """Up to `size` rows of `queryset`, locked; rows another relay holds are skipped."""
    return list(queryset.select_for_update(skip_locked=True, of=("self",))[:size])


class JetStreamPublisher:
    """A NATS connection driven from synchronous code (the ORM is synchronous): one event
    loop of its own, run for each call."""

    def __init__(self, url=None, stream=None, timeout=None):
        self.url = url or settings.EBR_NATS_URL
        self.stream = stream or settings.EBR_EVENTS_STREAM
        self.timeout = timeout or settings.EBR_NATS_TIMEOUT_SECONDS
        self.loop = asyncio.new_event_loop()
        self.connection = None
        self.jetstream = None

    def _run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def connect(self):
        import nats

        self.connection = self._run(
            nats.connect(self.url, connect_timeout=self.timeout, max_reconnect_attempts=2, allow_reconnect=True)
        )
        self.jetstream = self.connection.jetstream(timeout=self.timeout)
        self._run(self._ensure_stream())
        return self

    async def _ensure_stream(self):
        """The stream that holds our subjects: an existing one, or ours created."""
        from nats.js.errors import NotFoundError

        prefix = settings.EBR_EVENTS_SUBJECT_PREFIX
        try:
            self.stream = await self.jetstream.find_stream_name_by_subject(f"{prefix}.production")
        except NotFoundError:
            await self.jetstream.add_stream(
                name=self.stream,
                subjects=[f"{prefix}.>"],
                duplicate_window=settings.EBR_EVENTS_DUPLICATE_WINDOW_SECONDS,
            )

    def publish(self, event):
        """Publish and wait for the stream's acknowledgement (PubAck: seq, duplicate)."""
        return self._run(
            self.jetstream.publish(
                event.subject, message_body(event), headers={"Nats-Msg-Id": str(event.event_id)}, stream=self.stream
            )
        )

    def close(self):
        if self.connection is not None and not self.connection.is_closed:
            self._run(self.connection.close())
        self.loop.close()


def mark_published(event, ack):
    event.nats_published_at = timezone.now()
    event.nats_stream_sequence = ack.seq
    event.nats_attempts += 1
    event.nats_last_error = ""
    event.save(update_fields=["nats_published_at", "nats_stream_sequence", "nats_attempts", "nats_last_error"])


def publish_pending(publisher, *, batch_size=100):
    """One transaction: lock up to `batch_size` unpublished events, publish each, mark it.
    Returns the number published. A failure stops the batch: what was acknowledged before
    it is committed, the failure is noted on its event, and RelayUnavailable is raised."""
    published, failure = 0, None
    with transaction.atomic():
        pending = DomainEvent.objects.filter(nats_published_at__isnull=True).select_related("site").order_by("position")
        for event in _lock_batch(pending, batch_size):
            try:
                ack = publisher.publish(event)
            except Exception as error:  # the broker's failure is the event's state, not a crash
                logger.warning("Publishing %s failed: %s", event.event_id, error)
                event.nats_attempts += 1
                event.nats_last_error = f"{type(error).__name__}: {error}"[:2000]
                event.save(update_fields=["nats_attempts", "nats_last_error"])
                failure = error
                break
            mark_published(event, ack)
            published += 1
    if failure is not None:
        raise RelayUnavailable(str(failure)) from failure
    return published


class RelayUnavailable(Exception):
    """The broker could not be reached; the relay waits and tries again."""


def dispatch_pending(*, batch_size=100):
    """Make the webhook delivery rows of events not yet dispatched (one transaction)."""
    with transaction.atomic():
        pending = DomainEvent.objects.filter(webhooks_dispatched_at__isnull=True).order_by("position")
        events = _lock_batch(pending, batch_size)
        if not events:
            return 0
        webhooks = list(Webhook.objects.filter(is_active=True, site_id__in={event.site_id for event in events}))
        for event in events:
            dispatch_to_webhooks(event, webhooks)
    return len(events)


@dataclass
class HttpResult:
    status_code: int | None
    error: str = ""

    @property
    def ok(self):
        return self.status_code is not None and 200 <= self.status_code < 300


def post_webhook(url, body, headers, timeout):
    # Webhook URLs are http(s) only (events.services checks them at registration).
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return HttpResult(response.status)
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, f"HTTP {error.code}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return HttpResult(None, f"{type(error).__name__}: {error}")


def backoff(attempts):
    """Seconds before the next attempt after `attempts` failures: base × 2^(attempts-1), capped."""
    base = settings.EBR_WEBHOOK_BACKOFF_SECONDS
    return min(base * 2 ** max(attempts - 1, 0), settings.EBR_WEBHOOK_BACKOFF_MAX_SECONDS)


def deliver_one(delivery, *, send=post_webhook):
    """Send one locked delivery and record the outcome on it (the caller's transaction)."""
    event, webhook = delivery.event, delivery.webhook
    body = message_body(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ebr-events-relay",
        "X-EBR-Event-Id": str(event.event_id),
        "X-EBR-Event-Type": event.event_type,
        "X-EBR-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: signature_of(webhook.secret, body),
    }
    result = send(webhook.url, body, headers, settings.EBR_WEBHOOK_TIMEOUT_SECONDS)
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    if result.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
    else:
        delivery.last_error = result.error or f"HTTP {result.status_code}"
        if delivery.attempts >= settings.EBR_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.DEAD
            logger.warning("Webhook delivery %s dead after %s attempts", delivery.pk, delivery.attempts)
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts))
    delivery.save()
    return delivery


def deliver_due(*, batch_size=20, send=post_webhook):
    """Send the deliveries that are due, each in its own transaction (a slow receiver holds
    one row lock, not the others)."""
    handled = 0
    for _ in range(batch_size):
        with transaction.atomic():
            due = (
                WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
                .select_related("event__site", "webhook")
                .order_by("next_attempt_at", "id")
            )
            locked = _lock_batch(due, 1)
            if not locked:
                break
            deliver_one(locked[0], send=send)
            handled += 1
    return handled


def relay_once(publisher, *, batch_size=100, send=post_webhook):
    """One pass: publish to NATS (when connected), dispatch and deliver webhooks."""
    counts = {"published": 0, "dispatched": dispatch_pending(batch_size=batch_size)}
    if publisher is not None:
        counts["published"] = publish_pending(publisher, batch_size=batch_size)
    counts["delivered"] = deliver_due(batch_size=batch_size, send=send)
    return counts
