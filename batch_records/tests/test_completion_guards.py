"""Completion guards (issue 19): no batch completes with a material line still open (it
could then be neither dispensed, returned nor released), and the declared quantities must
be a plausible account of the batch (seed 000)."""

from decimal import Decimal

import pytest

from batch_records.models import BatchRecord
from batch_records.services.materials import dispense_material
from batch_records.tests.review_helpers import perform_steps, return_unused_materials
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/batch-records/"


def complete(client, batch, produced, rejected="0"):
    return client.post(
        f"{URL}{batch.pk}/complete/", {"quantity_produced": produced, "quantity_rejected": rejected}, format="json"
    )


def test_completion_is_refused_while_a_material_line_is_open(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    perform_steps(batch, operator)
    first = batch.materials.get(line_number=1)
    dispense_material(first, actor=operator, lot_number="L-1", quantity=Decimal("50"), password=PASSWORD)
    history = batch.history.count()
    response = complete(api_client_for(operator), batch, "100")
    assert response.status_code == 409
    body = response.json()
    assert body["open_materials"] == [
        {"line_number": 1, "material_code": "API-001", "status": "dispensed"},
        {"line_number": 2, "material_code": "EXC-002", "status": "pending"},
    ]
    assert body["open_steps"] == []
    assert "material line(s) 1 (API-001, dispensed), 2 (EXC-002, pending)" in body["detail"]
    assert (body["current_status"], body["action"]) == ("in_progress", "complete")
    stored = BatchRecord.objects.get(pk=batch.pk)
    assert (stored.status, stored.quantity_produced, stored.history.count()) == ("in_progress", None, history)


def test_open_steps_and_materials_are_listed_together(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    body = complete(api_client_for(operator), batch, "100").json()
    assert body["open_steps"] == [1, 2, 3]
    assert [row["line_number"] for row in body["open_materials"]] == [1, 2]


def test_completion_is_allowed_once_every_line_is_consumed_or_returned(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    perform_steps(batch, operator)
    return_unused_materials(batch, operator)
    response = complete(api_client_for(operator), batch, "99")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "completed"


@pytest.mark.parametrize(("produced", "rejected"), [("10000", "0"), ("150", "60"), ("0", "201")])
def test_an_absurd_declared_quantity_is_refused_naming_both_numbers(
    produced, rejected, make_started_batch, operator, api_client_for
):
    batch = make_started_batch()
    perform_steps(batch, operator)
    return_unused_materials(batch, operator)
    history = batch.history.count()
    response = complete(api_client_for(operator), batch, produced, rejected)
    assert response.status_code == 400
    message = response.json()["errors"]["quantity_produced"][0]
    declared = (Decimal(produced) + Decimal(rejected)).quantize(Decimal("0.001"))
    assert f"= {declared} " in message
    assert "200% of the 100.000 planned" in message
    stored = BatchRecord.objects.get(pk=batch.pk)
    assert (stored.status, stored.quantity_produced, stored.history.count()) == ("in_progress", None, history)
    assert not stored.deviations.exists()


def test_a_declared_quantity_beyond_the_yield_limits_but_plausible_opens_a_deviation(
    make_started_batch, operator, api_client_for
):
    batch = make_started_batch()
    perform_steps(batch, operator)
    return_unused_materials(batch, operator)
    response = complete(api_client_for(operator), batch, "150", "50")
    assert response.status_code == 200, response.json()
    assert response.json()["yield_percentage"] == "150.00"
    [deviation] = BatchRecord.objects.get(pk=batch.pk).deviations.all()
    assert deviation.deviation_type == "process_deviation"


def test_the_plausibility_limit_is_a_setting(make_started_batch, operator, api_client_for, settings):
    settings.EBR_DECLARED_QUANTITY_MAX_PERCENT = "120"
    batch = make_started_batch()
    perform_steps(batch, operator)
    return_unused_materials(batch, operator)
    response = complete(api_client_for(operator), batch, "121")
    assert response.status_code == 400
    assert "120% of the 100.000 planned" in response.json()["errors"]["quantity_produced"][0]
