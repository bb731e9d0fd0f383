"""Delivery to the real NATS JetStream server (127.0.0.1:4222, or NATS_URL): a completion is
published once on progress.notification.production; a rolled-back one never; a relay killed
between the broker's acknowledgement and its own commit sends again, and a consumer still
sees one message per event id.

Other test runs may share the server and its stream, so every check reads the messages
published since the test began and picks this test's own by its unique batch number.
"""

import json
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction

from batch_records.services.batches import complete_batch
from batch_records.tests.conftest import make_approved_mbr, make_batch, make_draft_mbr, make_started_batch
from batch_records.tests.review_helpers import perform_steps, return_unused_materials
from events import relay
from events.models import DomainEvent

__all__ = ["make_approved_mbr", "make_batch", "make_draft_mbr", "make_started_batch"]

pytestmark = pytest.mark.django_db
SUBJECT = "progress.notification.production"


class StreamReader:
    """Reads back what the stream holds after a starting sequence (a consumer's view)."""

    def __init__(self, publisher):
        self.publisher = publisher
        self.start = self._last_sequence()

    def _last_sequence(self):
        info = self.publisher._run(self.publisher.jetstream.stream_info(self.publisher.stream))
        return info.state.last_seq

    def messages(self, batch_number):
        """[(Nats-Msg-Id, envelope)] on SUBJECT since the start, for `batch_number` only."""
        found = []
        for sequence in range(self.start + 1, self._last_sequence() + 1):
            message = self.publisher._run(self.publisher.jetstream.get_msg(self.publisher.stream, sequence))
            if message.subject != SUBJECT:
                continue
            envelope = json.loads(message.data)
            if envelope["payload"].get("batch_number") == batch_number:
                found.append((message.headers["Nats-Msg-Id"], envelope))
        return found


@pytest.fixture
def jetstream():
    publisher = relay.JetStreamPublisher(timeout=2)
    try:
        publisher.connect()
    except Exception as error:
        publisher.close()
        pytest.skip(f"NATS JetStream not reachable at {settings.EBR_NATS_URL} ({error}); start `nats-server -js`")
    yield publisher
    publisher.close()


@pytest.fixture
def executed_batch(make_started_batch, operator):
    """A started batch, every step performed, with a batch number no other run uses."""
    batch = make_started_batch(batch_number=f"NATS-{uuid.uuid4().hex[:12]}")
    perform_steps(batch, operator)
    return_unused_materials(batch, operator)
    return batch


def completed_messages(reader, batch):
    return [(msg_id, env) for msg_id, env in reader.messages(batch.batch_number) if env["type"] == "BATCH_COMPLETED"]


def test_a_completion_publishes_exactly_one_batch_completed(jetstream, executed_batch, operator):
    reader = StreamReader(jetstream)
    complete_batch(executed_batch, actor=operator, quantity_produced=Decimal("96.5"), quantity_rejected=Decimal("1"))

    relay.publish_pending(jetstream)
    relay.publish_pending(jetstream)  # a second pass finds nothing left to send

    published = completed_messages(reader, executed_batch)
    event = DomainEvent.objects.get(event_type="BATCH_COMPLETED")
    assert len(published) == 1
    msg_id, envelope = published[0]
    assert msg_id == str(event.event_id) == envelope["id"]
    assert envelope["payload"]["completed_quantity"] == "96.500"
    assert envelope["payload"]["batch"] == executed_batch.batch_id
    assert envelope["actor"] == "operator"
    assert event.nats_published_at is not None
    assert not DomainEvent.objects.filter(nats_published_at__isnull=True).exists()


def test_a_rolled_back_completion_publishes_nothing(jetstream, executed_batch, operator):
    reader = StreamReader(jetstream)
    with transaction.atomic():
        complete_batch(executed_batch, actor=operator, quantity_produced=Decimal("95"), quantity_rejected=Decimal("0"))
        transaction.set_rollback(True)

    relay.publish_pending(jetstream)

    assert completed_messages(reader, executed_batch) == []
    # The batch's earlier events were published.
    published = [envelope["type"] for _, envelope in reader.messages(executed_batch.batch_number)]
    assert published == ["BATCH_CREATED", "BATCH_STARTED"]


class Killed(BaseException):
    """The relay process dying: not an Exception, so nothing in the relay handles it."""


def test_a_relay_killed_between_publish_and_commit_sends_again_and_consumers_see_one_per_id(
    jetstream, executed_batch, operator, monkeypatch
):
    complete_batch(executed_batch, actor=operator, quantity_produced=Decimal("95"), quantity_rejected=Decimal("0"))
    reader = StreamReader(jetstream)
    acknowledged = []
    mark = relay.mark_published

    def die_after_three_acknowledgements(event, ack):
        acknowledged.append((event.event_id, ack))
        if len(acknowledged) == 3:
            raise Killed  # the broker has the messages; the relay never commits
        mark(event, ack)

    monkeypatch.setattr(relay, "mark_published", die_after_three_acknowledgements)
    with pytest.raises(Killed):
        relay.publish_pending(jetstream)
    monkeypatch.setattr(relay, "mark_published", mark)
    # Nothing was marked: the relay's transaction died with it.
    assert DomainEvent.objects.filter(nats_published_at__isnull=False).count() == 0

    relay.publish_pending(jetstream)  # the restarted relay

    events = {
        str(event.event_id) for event in DomainEvent.objects.filter(payload__batch_number=executed_batch.batch_number)
    }
    seen = [msg_id for msg_id, _ in reader.messages(executed_batch.batch_number)]
    assert sorted(seen) == sorted(events)  # one message per event id, none lost, none twice
    assert not DomainEvent.objects.filter(nats_published_at__isnull=True).exists()
    repeated = DomainEvent.objects.filter(event_id__in=[event_id for event_id, _ in acknowledged])
    assert repeated.count() == 3
    assert all(event.nats_stream_sequence for event in repeated)
