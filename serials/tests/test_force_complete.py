"""Force-completion: the contract of the seed, word for word, and what it leaves behind."""

import json

import pytest
from django.contrib.contenttypes.models import ContentType

from core.models import Signature
from serials.models import SerialNumber, SerialStepStatus
from serials.services import (
    force_complete_serial,
    incomplete_required_steps,
    scrap_serial,
    waive_serial_step,
)
from users.tests.factories import PASSWORD

from .conftest import STEP_VALUES

pytestmark = pytest.mark.django_db
SERIALS = "/api/batch_records/serials/"

SCRAPPED = "Cannot force-complete a scrapped serial"
ALREADY_COMPLETED = "Serial is already completed"
NOTHING_INCOMPLETE = "Serial has no incomplete required steps — use normal completion"


def force_url(serial):
    return f"{SERIALS}{serial.serial_id}/force_complete/"


def step_ids(serial, *numbers):
    statuses = SerialStepStatus.objects.filter(serial=serial, step__step_number__in=numbers)
    return sorted(statuses.values_list("step_id", flat=True))


def test_force_complete_answers_the_completed_serial_with_its_metadata(serial, qa_approver, api_client_for):
    reason = "Customer accepted partial completion — remaining coating step waived verbally"

    response = api_client_for(qa_approver).post(
        force_url(serial), {"reason": reason, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["serial_id"] == serial.serial_id
    assert body["status"] == "completed"
    assert body["current_step_index"] == -1
    assert body["force_completed"] is True
    assert body["force_completed_by"] == "qa_approver"
    assert body["force_completed_at"] is not None
    assert body["force_completed_reason"] == reason
    assert body["incomplete_step_ids"] == step_ids(serial, 1, 2, 3)
    assert body["updated_at"] >= body["force_completed_at"][:19]
    assert body["allowed_actions"] == []
    [signature] = body["signatures"]
    assert signature["meaning"] == "force_completed"
    assert signature["signer"] == "qa_approver"
    assert signature["signer_name"] == "Qa Approver Tester"
    assert signature["valid"] is True


def test_force_complete_without_reason_leaves_the_reason_empty(serial, verifier, api_client_for):
    response = api_client_for(verifier).post(force_url(serial), {"password": PASSWORD}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["force_completed_reason"] is None
    assert response.json()["force_completed_by"] == "verifier"


def test_force_complete_writes_the_audit_event_with_the_bypassed_step_ids(serial, operator, qa_approver, advance):
    serial = advance(serial, operator)

    force_complete_serial(serial, actor=qa_approver, password=PASSWORD, reason="Rework line down")

    serial.refresh_from_db()
    expected_ids = step_ids(serial, 2, 3)
    entry = serial.history.first()
    assert (
        entry.history_change_reason == f'serial_force_completed {{"incomplete_step_ids": {json.dumps(expected_ids)}}}'
    )
    assert entry.history_user == qa_approver
    assert serial.incomplete_step_ids == expected_ids
    assert serial.force_completed_by == qa_approver
    assert serial.force_completed_at is not None


def test_force_complete_of_a_scrapped_serial_is_400(serial, verifier, api_client_for):
    scrap_serial(serial, actor=verifier, reason="Dropped")

    response = api_client_for(verifier).post(force_url(serial), {"password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == SCRAPPED


def test_force_complete_of_a_completed_serial_is_400(serial, operator, verifier, advance, api_client_for):
    advance(serial, operator, times=3)

    response = api_client_for(verifier).post(force_url(serial), {"password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == ALREADY_COMPLETED


def test_force_complete_twice_is_400_already_completed(serial, verifier, api_client_for):
    client = api_client_for(verifier)
    client.post(force_url(serial), {"password": PASSWORD}, format="json")

    response = client.post(force_url(serial), {"password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == ALREADY_COMPLETED


def test_force_complete_with_only_optional_steps_left_is_400(
    make_serialized_batch, operator, verifier, advance, api_client_for
):
    batch = make_serialized_batch(units=1, steps=3, optional_steps=(3,))
    serial = advance(SerialNumber.objects.get(batch=batch), operator, times=2)
    assert serial.status == "in_progress"

    response = api_client_for(verifier).post(force_url(serial), {"password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == NOTHING_INCOMPLETE
    serial.refresh_from_db()
    assert serial.status == "in_progress"


def test_a_waiver_makes_a_step_not_incomplete_required(
    make_serialized_batch, operator, verifier, advance, api_client_for
):
    batch = make_serialized_batch(units=1, steps=3, optional_steps=(3,))
    serial = SerialNumber.objects.get(batch=batch)
    assert [status.step.step_number for status in incomplete_required_steps(serial)] == [1, 2]

    waive_serial_step(serial, actor=verifier, step_number=2, reason="Done by the supplier", password=PASSWORD)
    assert [status.step.step_number for status in incomplete_required_steps(serial)] == [1]
    serial = advance(serial, operator)  # performs step 1, passes waived step 2, stops at optional step 3

    assert serial.current_step_index == 2
    response = api_client_for(verifier).post(force_url(serial), {"password": PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == NOTHING_INCOMPLETE


def test_waived_steps_are_not_listed_as_bypassed(serial, verifier):
    waive_serial_step(serial, actor=verifier, step_number=3, reason="Tested on the batch sample", password=PASSWORD)

    serial = force_complete_serial(serial, actor=verifier, password=PASSWORD)

    assert serial.incomplete_step_ids == step_ids(serial, 1, 2)


def test_force_complete_with_a_wrong_password_is_403_and_changes_nothing(serial, qa_approver, api_client_for):
    response = api_client_for(qa_approver).post(force_url(serial), {"password": "not-my-password"}, format="json")

    assert response.status_code == 403
    serial.refresh_from_db()
    assert serial.status == "in_progress"
    assert serial.force_completed is False
    assert serial.current_step_index == 0
    assert serial.history.count() == 1
    content_type = ContentType.objects.get_for_model(SerialNumber)
    assert not Signature.objects.filter(content_type=content_type, object_id=serial.pk).exists()


@pytest.mark.parametrize("role", ["operator", "qa_reviewer", "author", "records_admin"])
def test_force_complete_is_refused_to_other_roles(serial, role, request, api_client_for):
    user = request.getfixturevalue(role)

    response = api_client_for(user).post(force_url(serial), {"password": PASSWORD}, format="json")

    assert response.status_code == 403
    serial.refresh_from_db()
    assert serial.status == "in_progress"


def test_force_complete_refuses_a_client_sent_user(serial, qa_approver, api_client_for):
    response = api_client_for(qa_approver).post(
        force_url(serial), {"password": PASSWORD, "userId": "user_supervisor"}, format="json"
    )

    assert response.status_code == 400
    assert "userId" in response.json()["errors"]


def test_force_complete_is_irreversible(serial, operator, verifier, api_client_for):
    force_complete_serial(serial, actor=verifier, password=PASSWORD)
    operator_client, verifier_client = api_client_for(operator), api_client_for(verifier)

    answers = [
        operator_client.post(
            f"{SERIALS}{serial.serial_id}/advance/",
            {"actual_values": STEP_VALUES[1], "password": PASSWORD},
            format="json",
        ),
        operator_client.post(
            f"{SERIALS}{serial.serial_id}/advance_to_step/", {"step_number": 3, "reason": "x"}, format="json"
        ),
        verifier_client.post(
            f"{SERIALS}{serial.serial_id}/waive_step/",
            {"step_number": 2, "reason": "x", "password": PASSWORD},
            format="json",
        ),
        verifier_client.post(f"{SERIALS}{serial.serial_id}/scrap/", {"reason": "x"}, format="json"),
        verifier_client.post(force_url(serial), {"password": PASSWORD}, format="json"),
    ]

    assert [answer.status_code for answer in answers] == [409, 409, 409, 409, 400]
    serial.refresh_from_db()
    assert (serial.status, serial.force_completed, serial.current_step_index) == ("completed", True, -1)
