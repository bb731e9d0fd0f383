"""The transactional outbox: every business transition writes its event in the transaction
of the change, a refused or rolled-back change writes none."""

from decimal import Decimal

import pytest
from django.db import transaction

from batch_records.services.batches import complete_batch
from batch_records.services.deviations import open_batch_deviation
from batch_records.tests.conftest import make_approved_mbr, make_batch, make_draft_mbr, make_started_batch
from batch_records.tests.review_helpers import perform_steps, return_unused_materials, verify_steps
from core.exceptions import Conflict
from events.models import DomainEvent
from events.services import record_event

__all__ = ["make_approved_mbr", "make_batch", "make_draft_mbr", "make_started_batch"]

pytestmark = pytest.mark.django_db


def events_of(aggregate_id):
    return list(DomainEvent.objects.filter(aggregate_id__startswith=aggregate_id).order_by("position"))


def test_a_batch_lifecycle_writes_one_event_per_transition(make_started_batch, operator, verifier, site):
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    return_unused_materials(batch, operator)
    complete_batch(batch, actor=operator, quantity_produced=Decimal("95"), quantity_rejected=Decimal("2"))

    batch_events = [(event.event_type, event.actor_username) for event in events_of(batch.batch_id)]
    assert batch_events == [
        ("BATCH_CREATED", "verifier"),
        ("BATCH_STARTED", "operator"),
        ("STEP_COMPLETED", "operator"),
        ("STEP_COMPLETED", "operator"),
        ("STEP_COMPLETED", "operator"),
        ("STEP_VERIFIED", "verifier"),
        ("STEP_VERIFIED", "verifier"),
        ("BATCH_COMPLETED", "operator"),
    ]
    completed = DomainEvent.objects.get(event_type="BATCH_COMPLETED")
    assert completed.site_id == site.pk
    assert completed.domain == "production"
    assert completed.subject == "progress.notification.production"
    assert completed.aggregate_type == "batch_record"
    assert completed.payload_version == 1
    assert completed.payload["batch"] == batch.batch_id
    assert completed.payload["completed_quantity"] == "95.000"
    assert completed.payload["rejected_quantity"] == "2.000"
    assert completed.payload["serials"] == []
    assert completed.envelope()["occurred_at"].endswith("Z")


def test_a_refused_completion_writes_no_event(make_started_batch, operator):
    batch = make_started_batch()
    with pytest.raises(Conflict):
        complete_batch(batch, actor=operator, quantity_produced=Decimal("95"), quantity_rejected=Decimal("0"))

    assert not DomainEvent.objects.filter(event_type="BATCH_COMPLETED").exists()


def test_a_rolled_back_completion_writes_no_event(make_started_batch, operator):
    batch = make_started_batch()
    perform_steps(batch, operator)
    return_unused_materials(batch, operator)
    with transaction.atomic():
        complete_batch(batch, actor=operator, quantity_produced=Decimal("95"), quantity_rejected=Decimal("0"))
        assert DomainEvent.objects.filter(event_type="BATCH_COMPLETED").count() == 1
        transaction.set_rollback(True)

    assert not DomainEvent.objects.filter(event_type="BATCH_COMPLETED").exists()


def test_a_reported_deviation_is_an_event(make_started_batch, operator):
    batch = make_started_batch()
    deviation = open_batch_deviation(
        batch, actor=operator, deviation_type="documentation_error", description="Late entry."
    )

    event = DomainEvent.objects.get(event_type="BATCH_DEVIATION_OPENED")
    assert event.aggregate_id == deviation.deviation_id
    assert event.payload["batch"] == batch.batch_id


@pytest.mark.django_db(transaction=True)
def test_an_event_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        record_event("BATCH_COMPLETED", aggregate_id="BR-9999", site_id=None, actor=None, payload={})
