"""A batch's own lifecycle through the API: start, complete with a server-side yield,
edits and deletion only while pending."""

from decimal import Decimal

import pytest

from batch_records.models import BatchDeviation, BatchMaterial, BatchRecord, BatchStep
from batch_records.services.steps import complete_step, skip_step, start_step
from batch_records.tests.review_helpers import reconcile_materials, return_unused_materials
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/batch-records/"
GOOD = {1: {"blend_time": 10}, 2: {"appearance_ok": True, "remarks": "ok"}, 3: {"hardness": 6}}


def perform_all(batch, operator, values=GOOD):
    for step in batch.steps.order_by("step_number"):
        start_step(step, actor=operator)
        complete_step(step, actor=operator, actual_values=values[step.step_number], password=PASSWORD)


def complete(client, batch, produced, rejected="0"):
    return client.post(f"{URL}{batch.pk}/complete/", {"quantity_produced": produced, "quantity_rejected": rejected})


@pytest.fixture
def finished_batch(make_started_batch, operator, verifier):
    """A batch in progress whose steps are all performed within spec and whose materials
    are dispensed, verified and consumed."""
    batch = make_started_batch()
    perform_all(batch, operator)
    reconcile_materials(batch, operator, verifier)
    return batch


# --- start -----------------------------------------------------------------------------


def test_operator_starts_a_pending_batch(make_batch, operator, api_client_for):
    batch = make_batch()
    response = api_client_for(operator).post(f"{URL}{batch.pk}/start/", {})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["started_at"] is not None
    # Its steps are still to be executed: `complete` would be refused (409), so it is not offered.
    assert body["allowed_actions"] == []


def test_start_a_batch_in_progress_is_409(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    response = api_client_for(operator).post(f"{URL}{batch.pk}/start/", {})
    assert response.status_code == 409
    body = response.json()
    assert (body["current_status"], body["action"]) == ("in_progress", "start")
    assert "in_progress" in body["detail"]


def test_verifier_cannot_start_a_batch(make_batch, verifier, api_client_for):
    batch = make_batch()
    assert api_client_for(verifier).post(f"{URL}{batch.pk}/start/", {}).status_code == 403
    batch.refresh_from_db()
    assert batch.status == "pending"


# --- complete --------------------------------------------------------------------------


def test_complete_computes_the_yield_on_the_server(finished_batch, operator, api_client_for):
    response = complete(api_client_for(operator), finished_batch, "98.5", "1.5")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert (body["quantity_produced"], body["quantity_rejected"]) == ("98.500", "1.500")
    assert body["yield_percentage"] == "98.50"
    assert body["completed_at"] is not None
    assert body["deviations"] == []
    assert (body["has_deviations"], body["review_by_exception"]) == (False, True)


def test_yield_is_rounded_half_up_to_two_places(make_started_batch, operator, api_client_for):
    batch = make_started_batch(quantity_planned=Decimal("200"))
    perform_all(batch, operator)
    return_unused_materials(batch, operator)
    # 196.01 / 200 × 100 = 98.005 → 98.01 (banker's rounding would give 98.00)
    response = complete(api_client_for(operator), batch, "196.01")
    assert response.json()["yield_percentage"] == "98.01"


@pytest.mark.parametrize("produced", ["95", "102"])
def test_yield_at_its_limits_is_acceptable(finished_batch, operator, api_client_for, produced):
    response = complete(api_client_for(operator), finished_batch, produced)
    assert response.status_code == 200
    assert response.json()["deviations"] == []
    assert response.json()["review_by_exception"] is True


@pytest.mark.parametrize(("produced", "expected"), [("94.99", "94.99"), ("102.01", "102.01")])
def test_yield_outside_its_limits_opens_a_process_deviation(
    finished_batch, operator, api_client_for, produced, expected
):
    response = complete(api_client_for(operator), finished_batch, produced)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["yield_percentage"] == expected
    [deviation] = body["deviations"]
    assert deviation["deviation_type"] == "process_deviation"
    assert deviation["status"] == "open"
    assert deviation["batch_step"] is None
    assert f"Yield {expected}%" in deviation["description"]
    assert "95.00% – 102.00%" in deviation["description"]
    assert (body["has_deviations"], body["review_by_exception"]) == (True, False)


def test_complete_with_open_steps_is_409_listing_them(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    step = batch.steps.get(step_number=1)
    complete_step(start_step(step, actor=operator), actor=operator, actual_values=GOOD[1], password=PASSWORD)
    start_step(batch.steps.get(step_number=2), actor=operator)
    response = complete(api_client_for(operator), batch, "100")
    assert response.status_code == 409
    body = response.json()
    assert body["open_steps"] == [2, 3]
    assert "step(s) 2, 3" in body["detail"]
    assert (body["current_status"], body["action"]) == ("in_progress", "complete")
    batch.refresh_from_db()
    assert (batch.status, batch.quantity_produced, batch.yield_percentage) == ("in_progress", None, None)


def test_skipped_and_deviated_steps_do_not_block_completion(make_started_batch, operator, verifier, api_client_for):
    batch = make_started_batch()
    skip_step(batch.steps.get(step_number=1), actor=verifier, reason="Pre-blended lot", password=PASSWORD)
    step = start_step(batch.steps.get(step_number=2), actor=operator)
    complete_step(step, actor=operator, actual_values=GOOD[2], password=PASSWORD)
    step = start_step(batch.steps.get(step_number=3), actor=operator)
    complete_step(step, actor=operator, actual_values={"hardness": 12}, password=PASSWORD)
    return_unused_materials(batch, operator)
    response = complete(api_client_for(operator), batch, "100")
    assert response.status_code == 200
    assert response.json()["review_by_exception"] is False


def test_complete_a_pending_batch_is_409(make_batch, operator, api_client_for):
    response = complete(api_client_for(operator), make_batch(), "100")
    assert response.status_code == 409
    assert response.json()["current_status"] == "pending"


def test_complete_twice_is_409(finished_batch, operator, api_client_for):
    client = api_client_for(operator)
    assert complete(client, finished_batch, "100").status_code == 200
    response = complete(client, finished_batch, "50")
    assert response.status_code == 409
    finished_batch.refresh_from_db()
    assert finished_batch.yield_percentage == Decimal("100.00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity_produced": "-1", "quantity_rejected": "0"}, "quantity_produced"),
        ({"quantity_produced": "90", "quantity_rejected": "-0.5"}, "quantity_rejected"),
        ({"quantity_produced": "90"}, "quantity_rejected"),
        ({"quantity_produced": "lots", "quantity_rejected": "0"}, "quantity_produced"),
        ({"quantity_produced": "90", "quantity_rejected": "0", "yield_percentage": "100"}, "yield_percentage"),
    ],
)
def test_complete_quantities_are_validated(finished_batch, operator, api_client_for, body, field):
    response = api_client_for(operator).post(f"{URL}{finished_batch.pk}/complete/", body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    finished_batch.refresh_from_db()
    assert finished_batch.status == "in_progress"


def test_zero_produced_is_recorded_with_a_yield_deviation(finished_batch, operator, api_client_for):
    response = complete(api_client_for(operator), finished_batch, "0", "100")
    assert response.status_code == 200
    assert response.json()["yield_percentage"] == "0.00"
    assert BatchDeviation.objects.filter(batch=finished_batch, deviation_type="process_deviation").count() == 1


# --- edit and delete -------------------------------------------------------------------


def test_pending_batch_lot_and_line_can_be_edited_with_a_reason(make_batch, verifier, api_client_for):
    batch = make_batch()
    client = api_client_for(verifier)
    response = client.patch(f"{URL}{batch.pk}/", {"lot_number": "L-NEW", "production_line": "Line 2", "reason": "Plan"})
    assert response.status_code == 200, response.json()
    assert (response.json()["lot_number"], response.json()["production_line"]) == ("L-NEW", "Line 2")
    last = client.get(f"{URL}{batch.pk}/history/").json()["results"][-1]
    assert last["reason"] == "Plan"


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity_planned", "50"), ("mbr", 1), ("batch_number", "B-X"), ("site", 1), ("status", "released")],
)
def test_snapshot_and_status_fields_are_read_only_after_creation(make_batch, verifier, api_client_for, field, value):
    batch = make_batch()
    response = api_client_for(verifier).patch(f"{URL}{batch.pk}/", {field: value})
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_edit_after_start_is_409(make_started_batch, verifier, api_client_for):
    batch = make_started_batch()
    response = api_client_for(verifier).patch(f"{URL}{batch.pk}/", {"lot_number": "L-LATE"})
    assert response.status_code == 409
    batch.refresh_from_db()
    assert batch.lot_number != "L-LATE"


def test_pending_batch_can_be_deleted_with_its_snapshot(make_batch, verifier, api_client_for):
    batch = make_batch()
    assert api_client_for(verifier).delete(f"{URL}{batch.pk}/").status_code == 204
    assert not BatchRecord.objects.exists()
    assert not BatchStep.objects.exists()
    assert not BatchMaterial.objects.exists()
    assert batch.history.filter(history_type="-").count() == 1


def test_batch_in_progress_cannot_be_deleted(make_started_batch, verifier, api_client_for):
    batch = make_started_batch()
    response = api_client_for(verifier).delete(f"{URL}{batch.pk}/")
    assert response.status_code == 409
    assert "in_progress" in response.json()["detail"]
    assert BatchRecord.objects.filter(pk=batch.pk).exists()


def test_pending_batch_with_a_reported_deviation_cannot_be_deleted(make_batch, operator, verifier, api_client_for):
    batch = make_batch()
    reported = api_client_for(operator).post(
        "/api/batch_records/batch-deviations/",
        {
            "batch": batch.pk,
            "batch_step": batch.steps.first().pk,
            "deviation_type": "material_issue",
            "description": "Torn bag",
        },
    )
    assert reported.status_code == 201
    response = api_client_for(verifier).delete(f"{URL}{batch.pk}/")
    assert response.status_code == 409
    assert "deviations" in response.json()["detail"]
