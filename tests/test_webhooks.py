"""Webhooks registered through the API receive signed events from the relay; a failing
receiver is retried with exponential backoff, then dead-lettered, and re-delivered on demand.
The receiver is a real HTTP server on 127.0.0.1."""

import hashlib
import hmac
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from batch_records.services.batches import complete_batch
from batch_records.tests.conftest import make_approved_mbr, make_batch, make_draft_mbr, make_started_batch
from batch_records.tests.review_helpers import perform_steps, return_unused_materials
from events import relay
from events.choices import DeliveryStatus
from events.models import DomainEvent, Webhook, WebhookDelivery

__all__ = ["make_approved_mbr", "make_batch", "make_draft_mbr", "make_started_batch"]

pytestmark = pytest.mark.django_db
WEBHOOKS = "/api/events/webhooks/"
DELIVERIES = "/api/events/webhook-deliveries/"
SECRET = "a-long-shared-secret-of-the-receiver"


class Receiver:
    """An HTTP endpoint that records what it is sent and answers `status`."""

    def __init__(self):
        self.requests = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))  # case-insensitive
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/ebr"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def register(api_client_for, records_admin, site, receiver):
    def register_webhook(event_types=("BATCH_COMPLETED",)):
        response = api_client_for(records_admin).post(
            WEBHOOKS,
            {"site": site.pk, "url": receiver.url, "event_types": list(event_types), "secret": SECRET},
            format="json",
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return register_webhook


@pytest.fixture
def completed_batch(make_started_batch, operator):
    def complete():
        batch = make_started_batch()
        perform_steps(batch, operator)
        return_unused_materials(batch, operator)
        return complete_batch(batch, actor=operator, quantity_produced=Decimal("97"), quantity_rejected=Decimal("0"))

    return complete


def test_a_registered_webhook_receives_the_completion_signed(register, completed_batch, receiver):
    webhook = register()
    assert "secret" not in webhook
    batch = completed_batch()

    relay.relay_once(None)

    assert len(receiver.requests) == 1  # only the type it asked for
    headers, body = receiver.requests[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-EBR-Signature"], expected)
    envelope = json.loads(body)
    event = DomainEvent.objects.get(event_type="BATCH_COMPLETED")
    assert headers["X-EBR-Event-Id"] == envelope["id"] == str(event.event_id)
    assert envelope["type"] == "BATCH_COMPLETED"
    assert envelope["payload"]["batch"] == batch.batch_id
    assert envelope["payload"]["completed_quantity"] == "97.000"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 1, 200)

    relay.relay_once(None)  # delivered once: nothing is sent again
    assert len(receiver.requests) == 1


def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered(
    register, completed_batch, receiver, settings, api_client_for, records_admin
):
    settings.EBR_WEBHOOK_MAX_ATTEMPTS = 3
    settings.EBR_WEBHOOK_BACKOFF_SECONDS = 30
    register()
    completed_batch()
    receiver.status = 500

    relay.relay_once(None)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    waited = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert waited == 30
    relay.relay_once(None)  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    def attempt_now():
        delivery.refresh_from_db()
        delivery.next_attempt_at = timezone.now()
        delivery.save()
        relay.relay_once(None)
        delivery.refresh_from_db()

    attempt_now()
    assert delivery.attempts == 2
    assert (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() == 60  # doubled
    attempt_now()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 3)
    assert len(receiver.requests) == 3

    client = api_client_for(records_admin)
    dead = client.get(DELIVERIES, {"status": "dead"}).json()["results"]
    assert [row["id"] for row in dead] == [delivery.pk]
    assert dead[0]["last_error"] == "HTTP 500"

    receiver.status = 204
    response = client.post(f"{DELIVERIES}{delivery.pk}/redeliver/", {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "pending"
    relay.relay_once(None)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 4
    assert len({headers["X-EBR-Event-Id"] for headers, _ in receiver.requests}) == 1


def test_an_unreachable_receiver_is_an_error_not_a_crash(register, completed_batch, receiver):
    register()
    completed_batch()
    receiver.close()

    relay.relay_once(None)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_status_code is None
    assert delivery.last_error


def test_webhook_registration_is_validated_and_restricted(api_client_for, records_admin, operator, site, other_site):
    admin = api_client_for(records_admin)
    body = {"site": site.pk, "url": "http://127.0.0.1:9/x", "event_types": ["BATCH_DONE"], "secret": SECRET}

    response = admin.post(WEBHOOKS, body, format="json")
    assert response.status_code == 400
    assert "BATCH_DONE" in response.json()["errors"]["event_types"][0]

    short = admin.post(WEBHOOKS, {**body, "event_types": ["BATCH_COMPLETED"], "secret": "short"}, format="json")
    assert short.status_code == 400
    assert "secret" in short.json()["errors"]

    elsewhere = admin.post(WEBHOOKS, {**body, "event_types": ["BATCH_COMPLETED"], "site": other_site.pk}, format="json")
    assert elsewhere.status_code == 400
    assert "site" in elsewhere.json()["errors"]

    refused = api_client_for(operator).post(WEBHOOKS, {**body, "event_types": ["BATCH_COMPLETED"]}, format="json")
    assert refused.status_code == 403
    assert not Webhook.objects.exists()


def test_a_webhook_with_deliveries_is_kept_and_deactivated(register, completed_batch, api_client_for, records_admin):
    webhook = register()
    completed_batch()
    relay.dispatch_pending()
    client = api_client_for(records_admin)

    assert client.delete(f"{WEBHOOKS}{webhook['id']}/").status_code == 409
    response = client.patch(
        f"{WEBHOOKS}{webhook['id']}/", {"is_active": False, "reason": "Receiver retired"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["is_active"] is False
    assert Webhook.objects.get().history.first().history_change_reason == "Receiver retired"
