"""A serialized batch completes with the quantities its units say (completed units
produced, scrapped units rejected), and no unit still in progress."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from batch_records.services.steps import complete_step, start_step
from batch_records.tests.review_helpers import return_unused_materials
from serials.models import SerialNumber
from serials.services import check_serialized_completion, force_complete_serial, scrap_serial
from users.tests.factories import PASSWORD

from .conftest import STEP_VALUES

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"


def perform_batch_steps(batch, operator):
    for step in batch.steps.order_by("step_number"):
        step = start_step(step, actor=operator)
        complete_step(step, actor=operator, actual_values=STEP_VALUES[step.step_number], password=PASSWORD)


@pytest.fixture
def settled_batch(make_serialized_batch, operator, verifier, advance):
    """Four units: two completed (one of them force-completed), one scrapped, one open."""
    batch = make_serialized_batch(units=4)
    one, two, three, four = SerialNumber.objects.filter(batch=batch).order_by("id")
    advance(one, operator, times=3)
    force_complete_serial(two, actor=verifier, password=PASSWORD)
    scrap_serial(three, actor=verifier, reason="Cracked")
    perform_batch_steps(batch, operator)
    return_unused_materials(batch, operator)
    return batch, four


def test_matching_quantities_pass(settled_batch, verifier):
    batch, last = settled_batch
    scrap_serial(last, actor=verifier, reason="Scratched")

    check_serialized_completion(batch, Decimal("2"), Decimal("2"))
    check_serialized_completion(batch, "2.000", 2)


def test_produced_quantity_must_match_completed_serials(settled_batch, verifier):
    batch, last = settled_batch
    scrap_serial(last, actor=verifier, reason="Scratched")

    with pytest.raises(ValidationError) as refused:
        check_serialized_completion(batch, Decimal("10.000"), Decimal("2"))

    assert refused.value.message_dict == {
        "quantity_produced": ["quantity_produced 10 does not match 2 completed serials"]
    }


def test_rejected_quantity_must_match_scrapped_serials(settled_batch, verifier):
    batch, last = settled_batch
    scrap_serial(last, actor=verifier, reason="Scratched")

    with pytest.raises(ValidationError) as refused:
        check_serialized_completion(batch, Decimal("2"), Decimal("0"))

    assert refused.value.message_dict == {
        "quantity_rejected": ["quantity_rejected 0 does not match 2 scrapped serials"]
    }


def test_units_still_in_progress_refuse_completion(settled_batch):
    batch, last = settled_batch

    with pytest.raises(ValidationError) as refused:
        check_serialized_completion(batch, Decimal("2"), Decimal("1"))

    assert refused.value.message_dict == {
        "serials": [
            f"1 serial still in progress ({last.serial_id}): complete, force-complete or scrap each unit "
            "before completing the batch."
        ]
    }


def test_batch_completion_through_the_api_checks_the_units(settled_batch, operator, verifier, api_client_for):
    batch, last = settled_batch
    force_complete_serial(last, actor=verifier, password=PASSWORD)
    client = api_client_for(operator)

    wrong = client.post(
        f"{BATCHES}{batch.pk}/complete/", {"quantity_produced": "4", "quantity_rejected": "1"}, format="json"
    )
    batch.refresh_from_db()
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "quantity_produced: quantity_produced 4 does not match 3 completed serials"
    assert batch.status == "in_progress"

    right = client.post(
        f"{BATCHES}{batch.pk}/complete/", {"quantity_produced": "3", "quantity_rejected": "1"}, format="json"
    )
    assert right.status_code == 200, right.json()
    batch.refresh_from_db()
    assert batch.status == "completed"
    assert batch.quantity_produced == Decimal("3")


def test_a_batch_that_is_not_serialized_is_not_checked(make_started_batch):
    batch = make_started_batch()

    check_serialized_completion(batch, Decimal("99"), Decimal("1"))


def test_units_of_a_completed_batch_can_no_longer_change(settled_batch, operator, verifier, api_client_for):
    batch, last = settled_batch
    scrap_serial(last, actor=verifier, reason="Scratched")
    client = api_client_for(operator)
    client.post(f"{BATCHES}{batch.pk}/complete/", {"quantity_produced": "2", "quantity_rejected": "2"}, format="json")
    first = SerialNumber.objects.filter(batch=batch).order_by("id").first()

    response = api_client_for(verifier).post(
        f"/api/batch_records/serials/{first.serial_id}/force_complete/", {"password": PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "Serial is already completed"
