"""PostgreSQL, real connections and threads: two relays never send the same event or
delivery twice (SELECT ... FOR UPDATE SKIP LOCKED), and the feed's cursor never skips an
event whose transaction commits after a later one."""

import threading
from types import SimpleNamespace

import pytest
from django.db import connection, transaction

from events import relay
from events.choices import DeliveryStatus
from events.models import DomainEvent, Webhook, WebhookDelivery
from events.relay import HttpResult
from events.services import committed_events, record_event

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def record(count, site=None):
    ids = []
    for number in range(count):
        with transaction.atomic():
            event = record_event(
                "BATCH_STARTED", aggregate_id=f"BR-{number:04d}", site_id=site and site.pk, actor=None, payload={}
            )
        ids.append(event.event_id)
    return ids


def run_in_threads(work, threads=2):
    errors = []

    def target():
        try:
            work()
        except Exception as error:  # reported by the test
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=target) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors


class CountingPublisher:
    """Stands in for JetStream: records what it is asked to publish, a little slowly."""

    def __init__(self):
        self.sent = []
        self.lock = threading.Lock()

    def publish(self, event):
        threading.Event().wait(0.005)
        with self.lock:
            self.sent.append(event.event_id)
            return SimpleNamespace(seq=len(self.sent), duplicate=False)


def test_two_relays_publish_each_event_once():
    ids = record(60)
    publisher = CountingPublisher()

    def relay_until_empty():
        while relay.publish_pending(publisher, batch_size=5):
            pass

    run_in_threads(relay_until_empty)

    assert sorted(publisher.sent) == sorted(ids)
    assert not DomainEvent.objects.filter(nats_published_at__isnull=True).exists()


def test_two_relays_deliver_each_webhook_delivery_once():
    from users.tests.factories import SiteFactory

    site = SiteFactory(code="S9")
    webhook = Webhook.objects.create(
        site=site, url="http://127.0.0.1:9/x", event_types=["BATCH_STARTED"], secret="s" * 20
    )
    record(30, site=site)
    relay.dispatch_pending()
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 30
    sent, lock = [], threading.Lock()

    def send(url, body, headers, timeout):
        threading.Event().wait(0.005)
        with lock:
            sent.append(headers["X-EBR-Event-Id"])
        return HttpResult(200)

    def deliver_until_empty():
        while relay.deliver_due(batch_size=5, send=send):
            pass

    run_in_threads(deliver_until_empty)

    assert len(sent) == len(set(sent)) == 30
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_the_feed_waits_for_a_transaction_that_commits_late():
    """An event drawn a lower position but committing after a later one: the feed waits for
    it rather than answering past it (a client would then never see it)."""
    inserted, release = threading.Event(), threading.Event()
    read = []

    def slow_writer():
        with transaction.atomic():
            record_event("BATCH_STARTED", aggregate_id="BR-SLOW", site_id=None, actor=None, payload={})
            inserted.set()
            release.wait(30)

    def feed_reader():
        read.extend(committed_events().order_by("position").values_list("aggregate_id", flat=True))

    writer = threading.Thread(target=lambda: (slow_writer(), connection.close()))
    writer.start()
    assert inserted.wait(30)
    record(1)  # a later position (BR-0000), committed first
    reader = threading.Thread(target=lambda: (feed_reader(), connection.close()))
    reader.start()
    reader.join(1.0)
    assert reader.is_alive()  # the feed waits for the open writer
    assert read == []

    release.set()
    writer.join(30)
    reader.join(30)
    assert read == ["BR-SLOW", "BR-0000"]  # both, in position order: nothing skipped
