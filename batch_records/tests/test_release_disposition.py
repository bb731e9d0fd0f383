"""The QA part of a batch's lifecycle (SPEC §3): submit_for_review, release, reject,
quarantine and return_to_review, one test per allowed and per refused transition."""

import pytest

from batch_records.tests.review_helpers import BATCHES, batch_in_status
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

STATUSES = ["pending", "in_progress", "completed", "under_review", "quarantined", "released", "rejected"]
ALLOWED = {
    "submit_for_review": {"completed": "under_review"},
    "release": {"under_review": "released"},
    "reject": {"under_review": "rejected", "quarantined": "rejected"},
    "quarantine": {"in_progress": "quarantined", "completed": "quarantined", "under_review": "quarantined"},
    "return_to_review": {"quarantined": "under_review"},
}
BODIES = {
    "submit_for_review": {},
    "release": {"password": PASSWORD},
    "reject": {"reason": "Assay out of specification", "password": PASSWORD},
    "quarantine": {"reason": "Possible cross-contamination"},
    "return_to_review": {"reason": "Swab results negative"},
}
ACTOR = {
    "submit_for_review": "qa_reviewer",
    "release": "qa_approver",
    "reject": "qa_approver",
    "quarantine": "qa_reviewer",
    "return_to_review": "qa_reviewer",
}
ALLOWED_CASES = [(action, source) for action, moves in ALLOWED.items() for source in moves]
REFUSED_CASES = [(action, source) for action in ALLOWED for source in STATUSES if source not in ALLOWED[action]]


@pytest.fixture
def batch_in(make_batch, make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    def make(status):
        return batch_in_status(
            status,
            make_batch=make_batch,
            make_started_batch=make_started_batch,
            operator=operator,
            verifier=verifier,
            qa_reviewer=qa_reviewer,
            qa_approver=qa_approver,
        )

    return make


def post(client, batch, action, body):
    return client.post(f"{BATCHES}{batch.pk}/{action}/", body)


@pytest.mark.parametrize(("action", "source"), ALLOWED_CASES)
def test_allowed_transition(action, source, batch_in, request, api_client_for):
    batch = batch_in(source)
    actor = request.getfixturevalue(ACTOR[action])
    response = post(api_client_for(actor), batch, action, BODIES[action])
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == ALLOWED[action][source]
    batch.refresh_from_db()
    assert batch.status == ALLOWED[action][source]
    latest = batch.history.order_by("-history_id").filter(status=batch.status).last()
    assert latest.history_user == actor


@pytest.mark.parametrize(("action", "source"), REFUSED_CASES)
def test_refused_transition(action, source, batch_in, request, api_client_for):
    batch = batch_in(source)
    response = post(api_client_for(request.getfixturevalue(ACTOR[action])), batch, action, BODIES[action])
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["current_status"] == source
    assert source in body["detail"]
    batch.refresh_from_db()
    assert batch.status == source


# --- who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["qa_reviewer", "qa_approver"])
def test_qa_submits_a_completed_batch_for_review(role, batch_in, request, api_client_for):
    response = post(api_client_for(request.getfixturevalue(role)), batch_in("completed"), "submit_for_review", {})
    assert response.status_code == 200
    assert response.json()["status"] == "under_review"


@pytest.mark.parametrize(
    ("action", "source", "role"),
    [
        ("submit_for_review", "completed", "operator"),
        ("submit_for_review", "completed", "records_admin"),
        ("reject", "under_review", "qa_reviewer"),
        ("reject", "under_review", "operator"),
        ("quarantine", "in_progress", "operator"),
        ("quarantine", "under_review", "verifier"),
        ("return_to_review", "quarantined", "operator"),
        ("return_to_review", "quarantined", "author"),
    ],
)
def test_disposition_is_refused_to_roles_without_its_permission(
    action, source, role, batch_in, request, api_client_for
):
    batch = batch_in(source)
    response = post(api_client_for(request.getfixturevalue(role)), batch, action, BODIES[action])
    assert response.status_code == 403
    batch.refresh_from_db()
    assert batch.status == source


# --- reject ----------------------------------------------------------------------------


def test_reject_records_the_reason_and_a_signature(batch_in, qa_approver, api_client_for):
    batch = batch_in("under_review")
    body = {"reason": "Assay 91% (spec 95–105%)", "password": PASSWORD, "comment": "OOS confirmed"}
    response = post(api_client_for(qa_approver), batch, "reject", body)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["disposition_reason"]) == ("rejected", "Assay 91% (spec 95–105%)")
    [signature] = body["signatures"]
    assert (signature["meaning"], signature["signer"], signature["comment"]) == (
        "rejected",
        "qa_approver",
        "OOS confirmed",
    )
    assert batch.history.order_by("-history_id").first().history_change_reason == "Rejected: Assay 91% (spec 95–105%)"


@pytest.mark.parametrize("body", [{"password": PASSWORD}, {"reason": "  ", "password": PASSWORD}])
def test_reject_needs_a_reason(body, batch_in, qa_approver, api_client_for):
    batch = batch_in("under_review")
    response = post(api_client_for(qa_approver), batch, "reject", body)
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    batch.refresh_from_db()
    assert batch.status == "under_review"


def test_reject_with_a_wrong_password_is_403_and_changes_nothing(batch_in, qa_approver, api_client_for):
    batch = batch_in("quarantined")
    response = post(api_client_for(qa_approver), batch, "reject", {"reason": "OOS", "password": "wrong"})
    assert response.status_code == 403
    batch.refresh_from_db()
    assert (batch.status, batch.disposition_reason) == ("quarantined", "Suspected label mix-up")
    assert not batch.signatures.exists()


# --- quarantine and return to review ---------------------------------------------------


def test_quarantine_holds_the_batch_with_its_reason(batch_in, qa_reviewer, api_client_for):
    batch = batch_in("under_review")
    response = post(api_client_for(qa_reviewer), batch, "quarantine", {"reason": "Possible cross-contamination"})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["disposition_reason"]) == ("quarantined", "Possible cross-contamination")
    assert body["allowed_actions"] == ["return_to_review"]
    assert batch.history.order_by("-history_id").first().history_change_reason == (
        "Quarantined: Possible cross-contamination"
    )


@pytest.mark.parametrize("action", ["quarantine", "return_to_review"])
@pytest.mark.parametrize("body", [{}, {"reason": ""}])
def test_quarantine_and_return_need_a_reason(action, body, batch_in, qa_reviewer, api_client_for):
    batch = batch_in("under_review" if action == "quarantine" else "quarantined")
    response = post(api_client_for(qa_reviewer), batch, action, body)
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_return_to_review_lifts_the_hold_and_the_batch_can_be_released(
    batch_in, qa_reviewer, qa_approver, api_client_for
):
    batch = batch_in("quarantined")
    response = post(api_client_for(qa_reviewer), batch, "return_to_review", {"reason": "Swab results negative"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["disposition_reason"]) == ("under_review", "")
    reasons = list(batch.history.order_by("history_id").values_list("history_change_reason", flat=True))
    assert reasons[-2:] == ["Quarantined: Suspected label mix-up", "Returned to review: Swab results negative"]
    assert post(api_client_for(qa_approver), batch, "release", {"password": PASSWORD}).status_code == 200


def test_a_batch_quarantined_in_production_cannot_be_released_unfinished(
    batch_in, qa_reviewer, qa_approver, api_client_for
):
    """quarantined → under_review is allowed wherever the batch was held; the release gate
    then refuses a batch whose production never finished."""
    batch = batch_in("in_progress")
    client = api_client_for(qa_reviewer)
    assert post(client, batch, "quarantine", {"reason": "Power cut"}).status_code == 200
    assert post(client, batch, "return_to_review", {"reason": "Assess for rejection"}).status_code == 200
    response = post(api_client_for(qa_approver), batch, "release", {"password": PASSWORD})
    assert response.status_code == 409
    kinds = [item["kind"] for item in response.json()["unmet_conditions"]]
    assert kinds == [
        "production_not_completed",
        "step_not_performed",
        "step_not_performed",
        "step_not_performed",
        "material_not_consumed_or_returned",
        "material_not_consumed_or_returned",
    ]
    review = api_client_for(qa_reviewer).get(f"{BATCHES}{batch.pk}/review/").json()
    assert [item["kind"] for item in review["exceptions"]][:4] == [
        "production_not_completed",
        "step_not_performed",
        "step_not_performed",
        "step_not_performed",
    ]


def test_allowed_actions_follow_the_role(batch_in, qa_reviewer, qa_approver, api_client_for):
    batch = batch_in("under_review")
    url = f"{BATCHES}{batch.pk}/"
    # Both may document the review (POST review/); only the approver decides the disposition.
    assert api_client_for(qa_reviewer).get(url).json()["allowed_actions"] == ["review", "quarantine"]
    assert api_client_for(qa_approver).get(url).json()["allowed_actions"] == [
        "review",
        "release",
        "reject",
        "quarantine",
    ]
