"""Executing the steps of a batch through the API: order, typed values, specifications,
signatures and the deviations an excursion opens."""

import pytest

from batch_records.models import BatchDeviation
from batch_records.services.steps import complete_step, skip_step, start_step
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
STEPS = "/api/batch_records/batch-steps/"
BATCHES = "/api/batch_records/batch-records/"
GOOD = {1: {"blend_time": 10}, 2: {"appearance_ok": True, "remarks": "Uniform granules"}, 3: {"hardness": 6}}


def step_of(batch, number):
    return batch.steps.get(step_number=number)


def start(client, step):
    return client.post(f"{STEPS}{step.pk}/start/", {})


def complete(client, step, values, **extra):
    return client.post(f"{STEPS}{step.pk}/complete/", {"actual_values": values, "password": PASSWORD, **extra})


@pytest.fixture
def batch(make_started_batch):
    return make_started_batch()


@pytest.fixture
def started_step_1(batch, operator):
    return start_step(step_of(batch, 1), actor=operator)


# --- start -----------------------------------------------------------------------------


def test_operator_starts_the_first_step(batch, operator, api_client_for):
    response = start(api_client_for(operator), step_of(batch, 1))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["operator"] == "operator"
    assert body["started_at"] is not None
    assert "complete" in body["allowed_actions"]


def test_start_is_blocked_by_lower_steps_not_done_and_names_them(batch, operator, api_client_for):
    response = start(api_client_for(operator), step_of(batch, 3))
    assert response.status_code == 409
    body = response.json()
    assert body["blocking_steps"] == [1, 2]
    assert "step(s) 1, 2 must be completed, deviated or skipped first" in body["detail"]
    assert body["current_status"] == "pending"
    assert step_of(batch, 3).status == "pending"


def test_start_after_lower_steps_completed_deviated_or_skipped(batch, operator, verifier, api_client_for):
    complete_step(
        start_step(step_of(batch, 1), actor=operator),
        actor=operator,
        actual_values={"blend_time": 20},
        password=PASSWORD,
    )
    skip_step(step_of(batch, 2), actor=verifier, reason="Not applicable to this strength", password=PASSWORD)
    assert step_of(batch, 1).status == "deviated"
    assert start(api_client_for(operator), step_of(batch, 3)).status_code == 200


def test_start_step_of_a_batch_not_in_progress_is_409(make_batch, operator, api_client_for):
    pending = make_batch()
    response = start(api_client_for(operator), step_of(pending, 1))
    assert response.status_code == 409
    body = response.json()
    assert body["batch_status"] == "pending"
    assert "the batch is 'pending'" in body["detail"]
    assert step_of(pending, 1).status == "pending"


def test_start_twice_is_409(started_step_1, operator, api_client_for):
    response = start(api_client_for(operator), started_step_1)
    assert response.status_code == 409
    assert response.json()["current_status"] == "in_progress"


def test_verifier_cannot_start_steps(batch, verifier, api_client_for):
    assert start(api_client_for(verifier), step_of(batch, 1)).status_code == 403


# --- complete --------------------------------------------------------------------------


def test_complete_records_values_and_the_performed_signature(started_step_1, operator, api_client_for):
    response = complete(api_client_for(operator), started_step_1, {"blend_time": 10.5}, comment="Blended")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["actual_values"] == {"blend_time": "10.5"}
    assert body["is_within_spec"] is True
    assert body["operator"] == "operator"
    assert body["operator_signed_at"] is not None
    assert body["completed_at"] is not None
    [signature] = body["signatures"]
    assert (signature["signer"], signature["meaning"], signature["valid"]) == ("operator", "performed", True)
    assert signature["comment"] == "Blended"
    assert signature["record_status"] == "completed"


def test_any_operator_may_complete_and_becomes_the_operator(started_step_1, operator2, api_client_for):
    response = complete(api_client_for(operator2), started_step_1, GOOD[1])
    assert response.status_code == 200
    assert response.json()["operator"] == "operator_two"
    assert response.json()["signatures"][0]["signer"] == "operator_two"


def test_complete_with_a_wrong_password_is_403_and_changes_nothing(started_step_1, operator, api_client_for):
    response = api_client_for(operator).post(
        f"{STEPS}{started_step_1.pk}/complete/", {"actual_values": GOOD[1], "password": "wrong"}
    )
    assert response.status_code == 403
    started_step_1.refresh_from_db()
    assert started_step_1.status == "in_progress"
    assert started_step_1.actual_values == {}
    assert started_step_1.signatures.count() == 0


def test_complete_a_pending_step_is_409(batch, operator, api_client_for):
    response = complete(api_client_for(operator), step_of(batch, 1), GOOD[1])
    assert response.status_code == 409
    assert response.json()["current_status"] == "pending"
    assert response.json()["action"] == "complete"


def test_complete_twice_is_409_and_keeps_the_first_values(started_step_1, operator, api_client_for):
    client = api_client_for(operator)
    assert complete(client, started_step_1, {"blend_time": 10}).status_code == 200
    assert complete(client, started_step_1, {"blend_time": 9.5}).status_code == 409
    started_step_1.refresh_from_db()
    assert started_step_1.actual_values == {"blend_time": "10"}
    assert started_step_1.signatures.count() == 1


@pytest.mark.parametrize(
    ("number", "values", "message"),
    [
        (1, {}, "blend_time: this field is required"),
        (1, {"blend_time": "ten"}, "blend_time: a number is required"),
        (1, {"blend_time": True}, "blend_time: a number is required"),
        (2, {"appearance_ok": "yes", "remarks": "ok"}, "appearance_ok: true or false is required"),
        (2, {"appearance_ok": 1, "remarks": "ok"}, "appearance_ok: true or false is required"),
        (2, {"appearance_ok": True, "remarks": 42}, "remarks: a text is required"),
        (1, {"blend_time": 10, "temperature": 21}, "temperature: not a data field of this step"),
    ],
)
def test_values_are_typed_against_the_step_fields(batch, operator, verifier, api_client_for, number, values, message):
    if number == 2:
        complete_step(
            start_step(step_of(batch, 1), actor=operator), actor=operator, actual_values=GOOD[1], password=PASSWORD
        )
    step = start_step(step_of(batch, number), actor=operator)
    response = complete(api_client_for(operator), step, values)
    assert response.status_code == 400
    assert response.json()["errors"] == {"actual_values": [message]}
    step.refresh_from_db()
    assert step.status == "in_progress"
    assert step.signatures.count() == 0


def test_actual_values_must_be_an_object(started_step_1, operator, api_client_for):
    response = complete(api_client_for(operator), started_step_1, [10])
    assert response.status_code == 400
    assert "actual_values" in response.json()["errors"]


@pytest.mark.parametrize(
    ("value", "status"), [(9, "completed"), ("11.000", "completed"), (8.99, "deviated"), ("11.01", "deviated")]
)
def test_specification_limits_are_inclusive(started_step_1, operator, api_client_for, value, status):
    response = complete(api_client_for(operator), started_step_1, {"blend_time": value})
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert response.json()["is_within_spec"] is (status == "completed")


def test_excursion_opens_a_parameter_excursion_deviation_for_the_step(batch, started_step_1, operator, api_client_for):
    response = complete(api_client_for(operator), started_step_1, {"blend_time": 12.5})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "deviated"
    deviation = BatchDeviation.objects.get()
    assert body["deviations"] == [deviation.deviation_id]
    assert deviation.deviation_type == "parameter_excursion"
    assert deviation.batch_step_id == started_step_1.pk
    assert deviation.batch_id == batch.pk
    assert deviation.status == "open"
    assert "blend_time = 12.5 is outside its specification (min 9, max 11)" in deviation.description
    assert deviation.created_by.username == "operator"
    # The performed signature still stands: the values signed are the values recorded.
    assert body["signatures"][0]["valid"] is True


def test_has_deviations_is_set_through_the_model_with_a_history_row(batch, started_step_1, operator, api_client_for):
    assert batch.has_deviations is False
    complete(api_client_for(operator), started_step_1, {"blend_time": 30})
    batch.refresh_from_db()
    assert batch.has_deviations is True
    assert batch.review_by_exception is False
    changes = api_client_for(operator).get(f"{BATCHES}{batch.pk}/history/").json()["results"]
    flagged = [entry for entry in changes if {"field": "has_deviations", "old": False, "new": True} in entry["changes"]]
    assert len(flagged) == 1
    assert flagged[0]["reason"].startswith("Deviation BD-")
    assert flagged[0]["user"] == "operator"


def test_review_by_exception_stays_true_while_every_step_is_within_spec(
    batch, started_step_1, operator, api_client_for
):
    complete(api_client_for(operator), started_step_1, GOOD[1])
    batch.refresh_from_db()
    assert (batch.has_deviations, batch.review_by_exception) == (False, True)


def test_a_deleted_deviation_clears_the_flag(batch, started_step_1, operator):
    complete_step(started_step_1, actor=operator, actual_values={"blend_time": 30}, password=PASSWORD)
    deviation = BatchDeviation.objects.get()
    # Only an administrator in the database could do this; the flag must still follow.
    deviation.batch_step = None
    deviation.save(actor=operator)
    deviation.delete(actor=operator)
    batch.refresh_from_db()
    assert batch.has_deviations is False
    # The step itself is still out of spec: review by exception stays off.
    assert batch.review_by_exception is False
