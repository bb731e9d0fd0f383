"""Advancing a unit through its steps, jumping forward, waiving a step, scrapping: one test
per allowed and per refused transition, through the API with real users and signatures."""

import pytest
from django.contrib.contenttypes.models import ContentType

from batch_records.models import BatchDeviation
from core.models import Signature
from serials.models import SerialNumber, SerialStepOverride, SerialStepStatus
from serials.services import scrap_serial, waive_serial_step
from users.tests.factories import PASSWORD

from .conftest import STEP_VALUES

pytestmark = pytest.mark.django_db
SERIALS = "/api/batch_records/serials/"


def url(serial, action):
    return f"{SERIALS}{serial.serial_id}/{action}/"


def signatures_of(record, meaning):
    content_type = ContentType.objects.get_for_model(record)
    return Signature.objects.filter(content_type=content_type, object_id=record.pk, meaning=meaning)


def step_status(serial, step_number):
    return SerialStepStatus.objects.get(serial=serial, step__step_number=step_number)


# --- advance ---------------------------------------------------------------------------


def test_operator_performs_the_current_step_signed_performed(serial, operator, api_client_for):
    response = api_client_for(operator).post(
        url(serial, "advance"), {"actual_values": {"blend_time": 10.5}, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["current_step_index"] == 1
    assert body["current_step_number"] == 2
    assert body["status"] == "in_progress"
    done = step_status(serial, 1)
    assert done.status == "completed"
    assert done.actual_values == {"blend_time": "10.5"}
    assert done.is_within_spec is True
    assert done.performed_by == operator
    assert done.performed_at is not None
    [signature] = signatures_of(done, "performed")
    assert signature.signer == operator
    assert signature.signer_full_name == "Operator Tester"
    assert step_status(serial, 2).status == "in_progress"


def test_advance_naming_a_step_the_unit_has_left_is_409(serial, operator, advance, api_client_for):
    serial = advance(serial, operator)
    client = api_client_for(operator)

    replayed = client.post(
        url(serial, "advance"),
        {"actual_values": STEP_VALUES[1], "step_number": 1, "password": PASSWORD},
        format="json",
    )
    current = client.post(
        url(serial, "advance"),
        {"actual_values": STEP_VALUES[2], "step_number": 2, "password": PASSWORD},
        format="json",
    )

    assert replayed.status_code == 409
    assert replayed.json()["current_step_number"] == 2
    assert current.status_code == 200
    assert current.json()["current_step_number"] == 3


def test_advancing_past_the_last_step_completes_the_unit(serial, operator, advance):
    serial = advance(serial, operator, times=2)
    assert serial.status == "in_progress"

    serial = advance(serial, operator)

    serial.refresh_from_db()
    assert serial.status == "completed"
    assert serial.current_step_index == -1
    assert serial.force_completed is False
    assert serial.completed_at is not None
    assert serial.history.first().history_change_reason == "Step 3 performed; unit completed"


def test_advance_skips_steps_already_waived(serial, operator, verifier, advance):
    waive_serial_step(serial, actor=verifier, step_number=2, reason="Not applicable to this unit", password=PASSWORD)

    serial = advance(serial, operator)

    assert serial.current_step_index == 2
    assert step_status(serial, 3).status == "in_progress"


def test_advance_with_mistyped_or_missing_values_is_400_and_changes_nothing(serial, operator, api_client_for):
    client = api_client_for(operator)

    wrong_type = client.post(url(serial, "advance"), {"actual_values": {"blend_time": "ten"}, "password": PASSWORD})
    missing = client.post(url(serial, "advance"), {"actual_values": {}, "password": PASSWORD})
    unknown = client.post(
        url(serial, "advance"), {"actual_values": {"blend_time": 10, "colour": "red"}, "password": PASSWORD}
    )

    assert wrong_type.status_code == 400
    assert wrong_type.json()["errors"] == {"actual_values": ["blend_time: a number is required"]}
    assert missing.json()["errors"] == {"actual_values": ["blend_time: this field is required"]}
    assert unknown.json()["errors"] == {"actual_values": ["colour: not a data field of this step"]}
    assert step_status(serial, 1).status == "in_progress"


def test_advance_out_of_spec_is_recorded_and_opens_a_deviation(serial, operator, api_client_for):
    response = api_client_for(operator).post(
        url(serial, "advance"), {"actual_values": {"blend_time": 15}, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    done = step_status(serial, 1)
    assert done.status == "completed"
    assert done.is_within_spec is False
    [deviation] = BatchDeviation.objects.filter(batch=serial.batch)
    assert deviation.deviation_type == "parameter_excursion"
    assert deviation.batch_step_id == done.step_id
    assert serial.serial_id in deviation.description
    assert "blend_time = 15" in deviation.description


def test_advance_with_a_wrong_password_is_403_and_changes_nothing(serial, operator, api_client_for):
    response = api_client_for(operator).post(
        url(serial, "advance"), {"actual_values": STEP_VALUES[1], "password": "wrong-password"}, format="json"
    )

    assert response.status_code == 403
    serial.refresh_from_db()
    assert serial.current_step_index == 0
    assert step_status(serial, 1).status == "in_progress"
    assert not signatures_of(step_status(serial, 1), "performed").exists()


def test_advance_is_refused_to_a_verifier(serial, verifier, api_client_for):
    response = api_client_for(verifier).post(
        url(serial, "advance"), {"actual_values": STEP_VALUES[1], "password": PASSWORD}, format="json"
    )

    assert response.status_code == 403


def test_advance_of_a_completed_unit_is_409(serial, operator, advance, api_client_for):
    advance(serial, operator, times=3)

    response = api_client_for(operator).post(
        url(serial, "advance"), {"actual_values": STEP_VALUES[1], "password": PASSWORD}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["current_status"] == "completed"
    assert response.json()["action"] == "advance"


def test_units_of_a_batch_no_longer_in_progress_cannot_move(serial, operator, qa_reviewer, api_client_for):
    from batch_records.services.review import quarantine_batch

    quarantine_batch(serial.batch, actor=qa_reviewer, reason="Contamination suspected")

    response = api_client_for(operator).post(
        url(serial, "advance"), {"actual_values": STEP_VALUES[1], "password": PASSWORD}, format="json"
    )

    assert response.status_code == 409
    body = response.json()
    assert body["batch_status"] == "quarantined"
    assert "only while their batch is in progress" in body["detail"]


# --- advance_to_step ---------------------------------------------------------------------


def test_advance_to_step_jumps_forward_past_optional_steps(make_serialized_batch, operator, api_client_for):
    batch = make_serialized_batch(units=1, steps=4, optional_steps=(2, 3))
    serial = SerialNumber.objects.get(batch=batch)
    client = api_client_for(operator)
    client.post(url(serial, "advance"), {"actual_values": STEP_VALUES[1], "password": PASSWORD}, format="json")

    response = client.post(
        url(serial, "advance_to_step"), {"step_number": 4, "reason": "Optional checks not needed"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["current_step_number"] == 4
    assert [step_status(serial, number).status for number in (1, 2, 3, 4)] == [
        "completed",
        "pending",
        "pending",
        "in_progress",
    ]
    serial.refresh_from_db()
    assert serial.history.first().history_change_reason == (
        "Advanced from step 2 to step 4: Optional checks not needed"
    )


def test_advance_to_step_past_an_optional_and_a_waived_step(make_serialized_batch, operator, verifier, api_client_for):
    batch = make_serialized_batch(units=1, steps=4, optional_steps=(2,))
    serial = SerialNumber.objects.get(batch=batch)
    waive_serial_step(serial, actor=verifier, step_number=3, reason="Tested on the batch sample", password=PASSWORD)
    client = api_client_for(operator)
    client.post(url(serial, "advance"), {"actual_values": STEP_VALUES[1], "password": PASSWORD}, format="json")

    response = client.post(url(serial, "advance_to_step"), {"step_number": 4, "reason": "Go on"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["current_step_number"] == 4
    assert step_status(serial, 2).status == "pending"
    assert step_status(serial, 3).status == "waived"


def test_advance_to_step_past_a_required_step_is_409_with_blocking_steps(serial, operator, api_client_for):
    response = api_client_for(operator).post(
        url(serial, "advance_to_step"), {"step_number": 3, "reason": "Hurry"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["blocking_steps"] == [1, 2]
    serial.refresh_from_db()
    assert serial.current_step_index == 0


def test_advance_to_step_backwards_is_409(serial, operator, advance, api_client_for):
    serial = advance(serial, operator, times=2)

    response = api_client_for(operator).post(
        url(serial, "advance_to_step"), {"step_number": 1, "reason": "Redo"}, format="json"
    )

    assert response.status_code == 409
    assert "only moves forward" in response.json()["detail"]
    assert response.json()["current_step_number"] == 3


def test_advance_to_the_current_step_is_409(serial, operator, api_client_for):
    response = api_client_for(operator).post(
        url(serial, "advance_to_step"), {"step_number": 1, "reason": "Again"}, format="json"
    )

    assert response.status_code == 409
    assert "already at it" in response.json()["detail"]


def test_advance_to_an_unknown_step_or_without_reason_is_400(serial, operator, api_client_for):
    client = api_client_for(operator)

    unknown = client.post(url(serial, "advance_to_step"), {"step_number": 9, "reason": "x"}, format="json")
    no_reason = client.post(url(serial, "advance_to_step"), {"step_number": 2}, format="json")
    blank_reason = client.post(url(serial, "advance_to_step"), {"step_number": 2, "reason": "  "}, format="json")

    assert unknown.status_code == 400
    assert unknown.json()["errors"] == {"step_number": [f"{serial.batch.batch_id} has no step 9."]}
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["errors"]
    assert blank_reason.status_code == 400


def test_advance_to_step_is_refused_to_qa(serial, qa_reviewer, api_client_for):
    response = api_client_for(qa_reviewer).post(
        url(serial, "advance_to_step"), {"step_number": 2, "reason": "x"}, format="json"
    )

    assert response.status_code == 403


# --- waive_step ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["verifier", "qa_reviewer", "qa_approver"])
def test_waiving_a_step_is_signed_waived(serial, role, request, api_client_for):
    user = request.getfixturevalue(role)

    response = api_client_for(user).post(
        url(serial, "waive_step"),
        {"step_number": 3, "reason": "Hardness tested on the batch sample", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 200, response.json()
    [waiver] = response.json()["waivers"]
    assert waiver["step_number"] == 3
    assert waiver["reason"] == "Hardness tested on the batch sample"
    assert waiver["active"] is True
    assert [signature["meaning"] for signature in waiver["signatures"]] == ["waived"]
    assert waiver["signatures"][0]["signer"] == user.username
    assert step_status(serial, 3).status == "waived"
    assert response.json()["current_step_index"] == 0


def test_waiving_the_last_open_step_completes_the_unit(serial, operator, verifier, advance):
    serial = advance(serial, operator, times=2)

    waive_serial_step(serial, actor=verifier, step_number=3, reason="Not needed", password=PASSWORD)

    serial.refresh_from_db()
    assert serial.status == "completed"
    assert serial.current_step_index == -1
    assert serial.force_completed is False


def test_waiving_a_completed_or_waived_step_is_409(serial, operator, verifier, advance, api_client_for):
    serial = advance(serial, operator)
    client = api_client_for(verifier)
    completed = client.post(
        url(serial, "waive_step"), {"step_number": 1, "reason": "x", "password": PASSWORD}, format="json"
    )
    client.post(url(serial, "waive_step"), {"step_number": 3, "reason": "x", "password": PASSWORD}, format="json")
    waived = client.post(
        url(serial, "waive_step"), {"step_number": 3, "reason": "again", "password": PASSWORD}, format="json"
    )

    assert completed.status_code == 409
    assert completed.json()["step_status"] == "completed"
    assert waived.status_code == 409
    assert waived.json()["step_status"] == "waived"
    assert SerialStepOverride.objects.filter(serial=serial).count() == 1


def test_waiving_with_a_wrong_password_is_403_and_leaves_no_waiver(serial, verifier, api_client_for):
    response = api_client_for(verifier).post(
        url(serial, "waive_step"), {"step_number": 2, "reason": "x", "password": "nope-nope"}, format="json"
    )

    assert response.status_code == 403
    assert not SerialStepOverride.objects.exists()
    assert step_status(serial, 2).status == "pending"


def test_waiving_needs_a_reason(serial, verifier, api_client_for):
    response = api_client_for(verifier).post(
        url(serial, "waive_step"), {"step_number": 2, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_waiving_is_refused_to_an_operator(serial, operator, api_client_for):
    response = api_client_for(operator).post(
        url(serial, "waive_step"), {"step_number": 2, "reason": "x", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 403


# --- scrap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["verifier", "qa_reviewer", "qa_approver"])
def test_scrapping_a_unit_records_who_when_and_why(serial, role, request, api_client_for):
    user = request.getfixturevalue(role)

    response = api_client_for(user).post(url(serial, "scrap"), {"reason": "Cracked housing"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "scrapped"
    assert body["scrapped_reason"] == "Cracked housing"
    assert body["scrapped_by"] == user.username
    assert body["scrapped_at"] is not None
    assert body["allowed_actions"] == []


def test_scrapping_needs_a_reason(serial, verifier, api_client_for):
    response = api_client_for(verifier).post(url(serial, "scrap"), {}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_scrapping_a_completed_unit_is_409(serial, operator, verifier, advance, api_client_for):
    advance(serial, operator, times=3)

    response = api_client_for(verifier).post(url(serial, "scrap"), {"reason": "x"}, format="json")

    assert response.status_code == 409
    assert response.json()["current_status"] == "completed"


def test_scrapping_a_scrapped_unit_is_409(serial, verifier, api_client_for):
    scrap_serial(serial, actor=verifier, reason="Dropped")

    response = api_client_for(verifier).post(url(serial, "scrap"), {"reason": "again"}, format="json")

    assert response.status_code == 409
    assert response.json()["current_status"] == "scrapped"


def test_a_scrapped_unit_cannot_advance(serial, operator, verifier, api_client_for):
    scrap_serial(serial, actor=verifier, reason="Dropped")

    response = api_client_for(operator).post(
        url(serial, "advance"), {"actual_values": STEP_VALUES[1], "password": PASSWORD}, format="json"
    )

    assert response.status_code == 409


def test_scrapping_is_refused_to_an_operator(serial, operator, api_client_for):
    response = api_client_for(operator).post(url(serial, "scrap"), {"reason": "x"}, format="json")

    assert response.status_code == 403
