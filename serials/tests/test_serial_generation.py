"""Serials are generated when a serialized batch starts: one per planned unit, numbered
from a race-free counter, each with a status per batch step."""

from decimal import Decimal

import pytest

from batch_records.models import BatchRecord
from batch_records.services.batches import start_batch
from core.testing import run_concurrently
from serials.models import SerialNumber, SerialStepStatus
from serials.services import generate_serials

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"


def test_starting_a_serialized_batch_generates_one_serial_per_planned_unit(make_serialized_batch, operator):
    batch = make_serialized_batch(units=3, steps=3)

    serials = list(SerialNumber.objects.filter(batch=batch).order_by("id"))
    assert [serial.serial_id for serial in serials] == ["SN-00001", "SN-00002", "SN-00003"]
    for serial in serials:
        assert serial.status == "in_progress"
        assert serial.current_step_index == 0
        assert serial.force_completed is False
        assert serial.created_by == operator
        statuses = list(serial.step_statuses.select_related("step").order_by("step_index"))
        assert [(status.step_index, status.step.step_number) for status in statuses] == [(0, 1), (1, 2), (2, 3)]
        assert [status.status for status in statuses] == ["in_progress", "pending", "pending"]
        assert serial.history.first().history_change_reason == f"Generated at the start of {batch.batch_id}"


def test_serials_are_generated_through_the_batch_start_endpoint(
    make_serialized_mbr, make_batch, api_client_for, operator
):
    batch = make_batch(make_serialized_mbr(), quantity_planned=Decimal("2"))

    response = api_client_for(operator).post(f"{BATCHES}{batch.pk}/start/", {}, format="json")

    assert response.status_code == 200, response.json()
    assert SerialNumber.objects.filter(batch=batch).count() == 2


def test_a_batch_that_is_not_serialized_gets_no_serials(make_started_batch):
    batch = make_started_batch()

    assert batch.is_serialized is False
    assert not SerialNumber.objects.filter(batch=batch).exists()


def test_generation_is_idempotent(serialized_batch, operator):
    before = list(SerialNumber.objects.filter(batch=serialized_batch).values_list("serial_id", flat=True))

    again = generate_serials(serialized_batch, actor=operator)

    assert sorted(serial.serial_id for serial in again) == sorted(before)
    assert SerialNumber.objects.filter(batch=serialized_batch).count() == len(before)
    assert SerialStepStatus.objects.filter(serial__batch=serialized_batch).count() == len(before) * 3


def test_a_fractional_planned_quantity_refuses_the_start_and_changes_nothing(
    make_serialized_mbr, make_batch, api_client_for, operator
):
    batch = make_batch(make_serialized_mbr(), quantity_planned=Decimal("2.5"))

    response = api_client_for(operator).post(f"{BATCHES}{batch.pk}/start/", {}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "quantity_planned": ["A serialized batch is made of whole units, and 2.5 is not a whole number."]
    }
    batch.refresh_from_db()
    assert batch.status == "pending"
    assert not SerialNumber.objects.filter(batch=batch).exists()


def test_too_many_units_refuse_the_start(make_serialized_mbr, make_batch, operator, monkeypatch):
    monkeypatch.setattr("serials.services.MAX_UNITS_PER_BATCH", 2)
    batch = make_batch(make_serialized_mbr(), quantity_planned=Decimal("3"))

    with pytest.raises(Exception, match="at most 2 units"):
        start_batch(batch, actor=operator)


def test_serial_numbers_continue_across_batches(make_serialized_batch):
    first = make_serialized_batch(units=2)
    second = make_serialized_batch(units=2)

    assert list(SerialNumber.objects.filter(batch=first).values_list("serial_id", flat=True)) == [
        "SN-00001",
        "SN-00002",
    ]
    assert list(SerialNumber.objects.filter(batch=second).values_list("serial_id", flat=True)) == [
        "SN-00003",
        "SN-00004",
    ]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_batch_starts_get_distinct_gapless_serial_numbers(make_serialized_mbr, make_batch, operator):
    mbr = make_serialized_mbr()
    batches = [make_batch(mbr, quantity_planned=Decimal("5")) for _ in range(4)]

    outcomes = run_concurrently(
        lambda index: start_batch(BatchRecord.objects.get(pk=batches[index].pk), actor=operator).pk, 4
    )

    assert [error for _, error in outcomes if error] == []
    serial_ids = sorted(SerialNumber.objects.values_list("serial_id", flat=True))
    assert serial_ids == [f"SN-{number:05d}" for number in range(1, 21)]
    for batch in batches:
        assert SerialNumber.objects.filter(batch=batch).count() == 5
