"""The one-call `record` action of a batch step (issue 23): started and completed in one
transaction, signed "performed", idempotent, refused where the MBR asks for a separate start."""

import pytest

from batch_records.models import BatchDeviation
from batch_records.tests.factories import manufacturing_instructions
from core.models import Signature
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
STEPS = "/api/batch_records/batch-steps/"


def step_of(batch, number):
    return batch.steps.get(step_number=number)


def record(client, step, values, headers=None, **extra):
    body = {"actual_values": values, "password": PASSWORD, **extra}
    return client.post(f"{STEPS}{step.pk}/record/", body, headers=headers)


@pytest.fixture
def batch(make_started_batch):
    return make_started_batch()


def test_record_starts_completes_and_signs_in_one_call(batch, operator, api_client_for):
    response = record(api_client_for(operator), step_of(batch, 1), {"blend_time": "10.5"}, comment="Blended")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["actual_values"] == {"blend_time": "10.5"}
    assert body["is_within_spec"] is True
    assert body["operator"] == "operator"
    assert body["started_at"] == body["completed_at"] == body["operator_signed_at"]
    [signature] = body["signatures"]
    assert (signature["meaning"], signature["signer"], signature["valid"]) == ("performed", "operator", True)
    assert signature["comment"] == "Blended"
    step = step_of(batch, 1)
    assert step.history.first().history_change_reason == "Blended"


def test_record_out_of_spec_deviates_and_opens_the_excursion(batch, operator, api_client_for):
    response = record(api_client_for(operator), step_of(batch, 1), {"blend_time": 20})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "deviated"
    deviation = BatchDeviation.objects.get(batch_step=step_of(batch, 1))
    assert deviation.deviation_type == "parameter_excursion"
    assert "blend_time = 20 is outside its specification (min 9, max 11)" in deviation.description


def test_record_is_idempotent(batch, operator, api_client_for):
    client = api_client_for(operator)
    step = step_of(batch, 1)
    first = record(client, step, {"blend_time": 10}, headers={"Idempotency-Key": "tablet-1"})
    retry = record(client, step, {"blend_time": 10}, headers={"Idempotency-Key": "tablet-1"})
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Signature.objects.filter(meaning="performed").count() == 1
    # A new attempt without the key: the step is no longer pending.
    again = record(client, step, {"blend_time": 10})
    assert again.status_code == 409
    assert again.json()["detail"].startswith(f"Cannot record {batch.batch_id} step 1")


def test_record_refuses_a_wrong_password_and_changes_nothing(batch, operator, api_client_for):
    step = step_of(batch, 1)
    response = api_client_for(operator).post(
        f"{STEPS}{step.pk}/record/", {"actual_values": {"blend_time": 10}, "password": "wrong"}
    )
    assert response.status_code in (400, 403)
    step.refresh_from_db()
    assert (step.status, step.actual_values, step.started_at) == ("pending", {}, None)
    assert step.history.count() == 1


def test_record_refuses_bad_values_naming_the_field(batch, operator, api_client_for):
    response = record(api_client_for(operator), step_of(batch, 1), {"blend_time": "ten"})
    assert response.status_code == 400
    assert "blend_time: a number is required" in str(response.json())
    assert step_of(batch, 1).status == "pending"


def test_record_in_order_only(batch, operator, api_client_for):
    response = record(api_client_for(operator), step_of(batch, 3), {"hardness": 6})
    assert response.status_code == 409
    body = response.json()
    assert body["blocking_steps"] == [1, 2]
    assert body["detail"] == (
        f"Cannot record {batch.batch_id} step 3: step(s) 1, 2 must be completed, deviated or skipped first."
    )


def test_record_refused_for_a_step_that_needs_a_separate_start(
    make_approved_mbr, make_started_batch, operator, api_client_for
):
    instructions = manufacturing_instructions()
    instructions[0]["requires_separate_start"] = True
    batch = make_started_batch(make_approved_mbr(manufacturing_instructions=instructions))
    step = step_of(batch, 1)
    assert step.requires_separate_start is True
    client = api_client_for(operator)
    response = record(client, step, {"blend_time": 10})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Cannot record {batch.batch_id} step 1 in one call: its master batch record requires a separate start "
        "(start it, then complete it)."
    )
    # The timed step keeps start, then complete.
    assert client.post(f"{STEPS}{step.pk}/start/", {}).status_code == 200
    assert (
        client.post(f"{STEPS}{step.pk}/complete/", {"actual_values": {"blend_time": 10}, "password": PASSWORD}).json()[
            "status"
        ]
        == "completed"
    )


def test_record_refused_while_the_batch_is_not_in_progress(make_batch, operator, api_client_for):
    batch = make_batch()
    response = record(api_client_for(operator), step_of(batch, 1), {"blend_time": 10})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Cannot record {batch.batch_id} step 1: the batch is 'pending', and this is only possible while it is "
        "'in_progress'."
    )


@pytest.mark.parametrize("role", ["verifier", "qa_reviewer", "records_admin"])
def test_record_needs_the_operator_role(role, batch, api_client_for, request):
    user = request.getfixturevalue(role)
    response = record(api_client_for(user), step_of(batch, 1), {"blend_time": 10})
    assert response.status_code == 403
    assert step_of(batch, 1).status == "pending"


def test_allowed_actions_offer_record_on_a_pending_step(batch, operator, api_client_for):
    body = api_client_for(operator).get(f"{STEPS}{step_of(batch, 1).pk}/").json()
    assert "record" in body["allowed_actions"]
    assert "start" in body["allowed_actions"]


def test_a_decimal_comma_gets_a_hint(batch, operator, api_client_for):
    response = record(api_client_for(operator), step_of(batch, 1), {"blend_time": "12,5"})
    assert response.status_code == 400
    assert response.json()["errors"]["actual_values"] == [
        "blend_time: a number is required (use a decimal point: 12.5)"
    ]
    assert step_of(batch, 1).status == "pending"


def test_a_scripted_operator_records_90_steps_at_10_a_minute_without_a_429(
    make_approved_mbr, make_started_batch, operator, api_client_for, monkeypatch
):
    """The real signature rate (settings), the throttle's clock moved 6 s per step instead of
    sleeping: next, then record, 90 times."""
    from django.conf import settings

    from core.api.viewsets import SignatureRateThrottle

    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["signature"] == "60/min"
    batch = make_started_batch(make_approved_mbr(manufacturing_instructions=manufacturing_instructions(90)))
    clock = {"now": 1_000_000.0}
    monkeypatch.setattr(SignatureRateThrottle, "timer", lambda self: clock["now"])
    client = api_client_for(operator)
    values = {1: {"blend_time": 10}, 2: {"appearance_ok": True, "remarks": "Uniform"}, 3: {"hardness": 6}}
    for number in range(1, 91):
        body = client.get(f"/api/batch_records/batch-records/{batch.pk}/next/").json()
        [step] = [row for row in body["steps"] if "record" in row["allowed_actions"]]
        assert step["step_number"] == number
        response = record(
            client,
            step_of(batch, number),
            values.get(number, {"temperature": 20}),
            headers={"Idempotency-Key": f"s{number}"},
        )
        assert response.status_code == 200, (number, response.json())
        clock["now"] += 6
    assert batch.steps.filter(status="completed").count() == 90


def test_an_invalid_choice_lists_the_valid_ones(make_approved_mbr, make_started_batch, operator, api_client_for):
    instructions = manufacturing_instructions()
    instructions[0]["required_data_fields"].append(
        {"name": "mixer_speed", "type": "choice", "choices": ["low", "medium", "high"]}
    )
    batch = make_started_batch(make_approved_mbr(manufacturing_instructions=instructions))
    client = api_client_for(operator)
    [row] = client.get(f"/api/batch_records/batch-records/{batch.pk}/next/").json()["steps"]
    assert row["data_fields"][1] == {
        "name": "mixer_speed",
        "type": "choice",
        "unit": None,
        "choices": ["low", "medium", "high"],
        "min": None,
        "max": None,
    }
    response = record(client, step_of(batch, 1), {"blend_time": 10, "mixer_speed": "fast"})
    assert response.status_code == 400
    assert response.json()["errors"]["actual_values"] == [
        "mixer_speed: 'fast' is not a valid choice; valid choices: low, medium, high"
    ]
    response = record(client, step_of(batch, 1), {"blend_time": 10, "mixer_speed": "medium"})
    assert response.status_code == 200, response.json()
    assert response.json()["actual_values"] == {"blend_time": "10", "mixer_speed": "medium"}


def test_an_mbr_choice_field_must_list_its_choices(author, api_client_for):
    from django.core.exceptions import ValidationError

    from batch_records.validation import clean_manufacturing_instructions

    instructions = manufacturing_instructions(1)
    instructions[0]["required_data_fields"].append({"name": "speed", "type": "choice"})
    with pytest.raises(ValidationError) as refused:
        clean_manufacturing_instructions(instructions)
    assert "must be a non-empty list of texts" in str(refused.value)
