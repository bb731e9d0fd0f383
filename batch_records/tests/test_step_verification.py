"""Second-person verification, skipping and correcting steps: who may, when, and what the
signatures and the audit trail show afterwards."""

import pytest
from django.contrib.auth.models import Group

from batch_records.models import BatchDeviation
from batch_records.services.steps import complete_step, correct_step, start_step, verify_step
from users.roles import OPERATOR, VERIFIER
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
STEPS = "/api/batch_records/batch-steps/"


def step_of(batch, number):
    return batch.steps.get(step_number=number)


def perform(step, operator, values):
    return complete_step(start_step(step, actor=operator), actor=operator, actual_values=values, password=PASSWORD)


def post(client, step, action, **body):
    return client.post(f"{STEPS}{step.pk}/{action}/", body)


@pytest.fixture
def batch(make_started_batch):
    return make_started_batch()


@pytest.fixture
def performed_step_1(batch, operator):
    return perform(step_of(batch, 1), operator, {"blend_time": 10})


@pytest.fixture
def shift_lead(site):
    """A supervisor who also runs the line: holds both the operator and the verifier role."""
    user = UserFactory(username="shift_lead", first_name="Shift", last_name="Lead")
    user.groups.add(Group.objects.get(name=OPERATOR), Group.objects.get(name=VERIFIER))
    user.sites.add(site)
    return user


# --- verify ----------------------------------------------------------------------------


def test_verifier_verifies_a_completed_step(performed_step_1, verifier, api_client_for):
    response = post(api_client_for(verifier), performed_step_1, "verify", password=PASSWORD, comment="Checked")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["verifier"] == "verifier"
    assert body["verifier_signed_at"] is not None
    assert body["status"] == "completed"
    assert [(s["signer"], s["meaning"], s["valid"]) for s in body["signatures"]] == [
        ("operator", "performed", True),
        ("verifier", "verified", True),
    ]


def test_a_deviated_step_can_be_verified(batch, operator, verifier, api_client_for):
    step = perform(step_of(batch, 1), operator, {"blend_time": 99})
    assert post(api_client_for(verifier), step, "verify", password=PASSWORD).status_code == 200


def test_verifier_must_not_be_the_operator_of_the_step(batch, shift_lead, api_client_for):
    step = perform(step_of(batch, 1), shift_lead, {"blend_time": 10})
    response = post(api_client_for(shift_lead), step, "verify", password=PASSWORD)
    assert response.status_code == 403
    assert "someone else" in response.json()["detail"]
    step.refresh_from_db()
    assert step.verifier is None
    assert step.signatures.count() == 1


def test_verify_a_step_that_does_not_require_it_is_409(batch, operator, verifier, api_client_for):
    perform(step_of(batch, 1), operator, {"blend_time": 10})
    step = perform(step_of(batch, 2), operator, {"appearance_ok": True, "remarks": "ok"})
    response = post(api_client_for(verifier), step, "verify", password=PASSWORD)
    assert response.status_code == 409
    assert "does not require" in response.json()["detail"]


def test_verify_twice_is_409(performed_step_1, verifier, api_client_for):
    client = api_client_for(verifier)
    assert post(client, performed_step_1, "verify", password=PASSWORD).status_code == 200
    response = post(client, performed_step_1, "verify", password=PASSWORD)
    assert response.status_code == 409
    assert "already verified by verifier" in response.json()["detail"]
    assert performed_step_1.signatures.filter(meaning="verified").count() == 1


def test_verify_a_step_not_yet_performed_is_409(batch, verifier, api_client_for):
    response = post(api_client_for(verifier), step_of(batch, 1), "verify", password=PASSWORD)
    assert response.status_code == 409
    assert response.json()["current_status"] == "pending"


def test_operator_role_cannot_verify(performed_step_1, operator2, api_client_for):
    assert post(api_client_for(operator2), performed_step_1, "verify", password=PASSWORD).status_code == 403


def test_verify_with_a_wrong_password_is_403_and_changes_nothing(performed_step_1, verifier, api_client_for):
    assert post(api_client_for(verifier), performed_step_1, "verify", password="nope").status_code == 403
    performed_step_1.refresh_from_db()
    assert performed_step_1.verifier is None


# --- skip ------------------------------------------------------------------------------


def test_verifier_skips_a_pending_step_with_reason_and_signature(batch, verifier, api_client_for):
    step = step_of(batch, 2)
    response = post(api_client_for(verifier), step, "skip", reason="Visual check done in IPC lab", password=PASSWORD)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "skipped"
    assert body["skip_reason"] == "Visual check done in IPC lab"
    [signature] = body["signatures"]
    assert (signature["signer"], signature["meaning"], signature["comment"]) == (
        "verifier",
        "skipped",
        "Visual check done in IPC lab",
    )
    batch.refresh_from_db()
    assert batch.review_by_exception is False


def test_skip_needs_a_reason(batch, verifier, api_client_for):
    response = post(api_client_for(verifier), step_of(batch, 2), "skip", password=PASSWORD)
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    blank = post(api_client_for(verifier), step_of(batch, 2), "skip", reason="  ", password=PASSWORD)
    assert blank.status_code == 400
    assert step_of(batch, 2).status == "pending"


def test_skip_needs_the_signature(batch, verifier, api_client_for):
    missing = post(api_client_for(verifier), step_of(batch, 2), "skip", reason="n/a")
    assert missing.status_code == 400
    assert "password" in missing.json()["errors"]
    wrong = post(api_client_for(verifier), step_of(batch, 2), "skip", reason="n/a", password="wrong")
    assert wrong.status_code == 403
    assert step_of(batch, 2).status == "pending"


@pytest.mark.parametrize("role", ["operator", "qa_reviewer", "records_admin"])
def test_skip_is_refused_to_roles_without_the_permission(batch, request, api_client_for, role):
    user = request.getfixturevalue(role)
    response = post(api_client_for(user), step_of(batch, 2), "skip", reason="n/a", password=PASSWORD)
    assert response.status_code == 403
    assert step_of(batch, 2).status == "pending"


def test_skip_a_step_already_started_is_409(batch, operator, verifier, api_client_for):
    step = start_step(step_of(batch, 1), actor=operator)
    response = post(api_client_for(verifier), step, "skip", reason="n/a", password=PASSWORD)
    assert response.status_code == 409
    assert response.json()["current_status"] == "in_progress"


def test_skip_in_a_pending_batch_is_409(make_batch, verifier, api_client_for):
    batch = make_batch()
    response = post(api_client_for(verifier), step_of(batch, 1), "skip", reason="n/a", password=PASSWORD)
    assert response.status_code == 409
    assert response.json()["batch_status"] == "pending"


# --- correct ---------------------------------------------------------------------------


def test_correction_keeps_old_values_in_history_and_invalidates_earlier_signatures(
    performed_step_1, operator, verifier, qa_reviewer, api_client_for
):
    verify_step(performed_step_1, actor=verifier, password=PASSWORD)
    client = api_client_for(qa_reviewer)
    response = post(
        client,
        performed_step_1,
        "correct",
        actual_values={"blend_time": "10.4"},
        reason="Transcription error: timer showed 10.4 min",
        password=PASSWORD,
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["actual_values"] == {"blend_time": "10.4"}
    assert body["correction_count"] == 1
    assert body["status"] == "completed"
    assert body["operator"] == "operator"
    # A correction must be verified again.
    assert body["verifier"] is None
    assert body["verifier_signed_at"] is None
    assert [(s["meaning"], s["valid"]) for s in body["signatures"]] == [
        ("performed", False),
        ("verified", False),
        ("corrected", True),
    ]
    assert body["signatures"][2]["signer"] == "qa_reviewer"

    history = client.get(f"{STEPS}{performed_step_1.pk}/history/").json()["results"]
    last = history[-1]
    assert last["reason"] == "Correction: Transcription error: timer showed 10.4 min"
    assert last["user"] == "qa_reviewer"
    assert {"field": "actual_values", "old": {"blend_time": "10"}, "new": {"blend_time": "10.4"}} in last["changes"]

    again = post(api_client_for(verifier), performed_step_1, "verify", password=PASSWORD)
    assert again.status_code == 200
    assert again.json()["signatures"][-1]["valid"] is True


def test_correction_newly_out_of_spec_opens_a_deviation(performed_step_1, operator, api_client_for):
    response = post(
        api_client_for(operator),
        performed_step_1,
        "correct",
        actual_values={"blend_time": 14},
        reason="Wrong timer read",
        password=PASSWORD,
    )
    assert response.status_code == 200
    assert response.json()["status"] == "deviated"
    assert response.json()["is_within_spec"] is False
    deviation = BatchDeviation.objects.get()
    assert deviation.deviation_type == "parameter_excursion"
    assert "blend_time = 14" in deviation.description
    assert "Wrong timer read" in deviation.description


def test_correction_of_a_deviated_step_into_spec_keeps_its_deviation_open(batch, operator, api_client_for):
    step = perform(step_of(batch, 1), operator, {"blend_time": 1})
    response = post(
        api_client_for(operator),
        step,
        "correct",
        actual_values={"blend_time": 10},
        reason="Typed 1 for 10",
        password=PASSWORD,
    )
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert BatchDeviation.objects.get().status == "open"
    batch.refresh_from_db()
    assert batch.has_deviations is True
    assert batch.review_by_exception is False


def test_correction_is_validated_like_completion(performed_step_1, operator, api_client_for):
    response = post(
        api_client_for(operator),
        performed_step_1,
        "correct",
        actual_values={"blend_time": "x"},
        reason="r",
        password=PASSWORD,
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"actual_values": ["blend_time: a number is required"]}


def test_correction_needs_a_reason_and_a_change(performed_step_1, operator, api_client_for):
    client = api_client_for(operator)
    no_reason = post(client, performed_step_1, "correct", actual_values={"blend_time": 9.5}, password=PASSWORD)
    assert no_reason.status_code == 400
    same = post(client, performed_step_1, "correct", actual_values={"blend_time": 10}, reason="r", password=PASSWORD)
    assert same.status_code == 400
    assert "nothing to correct" in same.json()["detail"]
    performed_step_1.refresh_from_db()
    assert performed_step_1.correction_count == 0


def test_correct_a_step_not_performed_is_409(batch, operator, api_client_for):
    response = post(
        api_client_for(operator),
        step_of(batch, 1),
        "correct",
        actual_values={"blend_time": 10},
        reason="r",
        password=PASSWORD,
    )
    assert response.status_code == 409
    assert response.json()["current_status"] == "pending"


def test_verifier_role_cannot_correct(performed_step_1, verifier, api_client_for):
    response = post(
        api_client_for(verifier),
        performed_step_1,
        "correct",
        actual_values={"blend_time": 9.5},
        reason="r",
        password=PASSWORD,
    )
    assert response.status_code == 403


def test_whoever_corrected_a_step_cannot_verify_it(performed_step_1, shift_lead):
    from core.exceptions import NotPermitted

    correct_step(performed_step_1, actor=shift_lead, actual_values={"blend_time": 9.8}, reason="r", password=PASSWORD)
    with pytest.raises(NotPermitted):
        verify_step(performed_step_1, actor=shift_lead, password=PASSWORD)
