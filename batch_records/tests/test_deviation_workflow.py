"""A batch deviation's investigation by QA (21 CFR 211.192): open → investigating →
resolved (root cause, signed "resolved") → closed (signed "closed"); the investigation is
written while open or investigating only; deviations are never deleted."""

import pytest

from batch_records.models import BatchDeviation
from batch_records.services.deviations import (
    close_batch_deviation,
    investigate_batch_deviation,
    open_batch_deviation,
    resolve_batch_deviation,
)
from batch_records.tests.review_helpers import DEVIATIONS
from capa.tests.factories import CAPAFactory
from deviations.tests.factories import DeviationFactory
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def url(deviation, action=None):
    return f"{DEVIATIONS}{deviation.pk}/" + (f"{action}/" if action else "")


@pytest.fixture
def batch(make_started_batch):
    return make_started_batch()


@pytest.fixture
def make_deviation(batch, operator, qa_reviewer, qa_approver):
    """A deviation of `batch` brought to `status` through the services."""

    def make(status="open"):
        deviation = open_batch_deviation(
            batch, actor=operator, deviation_type="environmental", description="Room humidity 71% for 20 minutes"
        )
        if status == "open":
            return deviation
        deviation = investigate_batch_deviation(deviation, actor=qa_reviewer)
        if status == "investigating":
            return deviation
        deviation = resolve_batch_deviation(
            deviation, actor=qa_approver, root_cause="HVAC damper stuck", password=PASSWORD
        )
        if status == "resolved":
            return deviation
        return close_batch_deviation(deviation, actor=qa_approver, password=PASSWORD)

    return make


def resolve_body(**extra):
    return {"root_cause": "HVAC damper stuck half-open", "password": PASSWORD, **extra}


# --- investigate -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["qa_reviewer", "qa_approver"])
def test_qa_starts_the_investigation_of_an_open_deviation(role, make_deviation, request, api_client_for):
    deviation = make_deviation()
    response = api_client_for(request.getfixturevalue(role)).post(url(deviation, "investigate"), {})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "investigating"
    assert body["updated_by"] == role
    # Only a QA approver may resolve.
    assert body["allowed_actions"] == (["resolve"] if role == "qa_approver" else [])


@pytest.mark.parametrize("role", ["operator", "verifier", "author", "records_admin"])
def test_investigate_is_refused_to_roles_outside_qa(role, make_deviation, request, api_client_for):
    deviation = make_deviation()
    response = api_client_for(request.getfixturevalue(role)).post(url(deviation, "investigate"), {})
    assert response.status_code == 403
    deviation.refresh_from_db()
    assert deviation.status == "open"


@pytest.mark.parametrize("status", ["investigating", "resolved", "closed"])
def test_investigate_is_refused_outside_open(status, make_deviation, qa_reviewer, api_client_for):
    deviation = make_deviation(status)
    response = api_client_for(qa_reviewer).post(url(deviation, "investigate"), {})
    assert response.status_code == 409
    body = response.json()
    assert (body["current_status"], body["action"]) == (status, "investigate")
    assert status in body["detail"]


# --- resolve ---------------------------------------------------------------------------


def test_qa_approver_resolves_with_root_cause_and_signature(make_deviation, qa_approver, api_client_for):
    deviation = make_deviation("investigating")
    body = resolve_body(impact_assessment="No product impact: blend already sealed", comment="Reviewed HVAC log")
    response = api_client_for(qa_approver).post(url(deviation, "resolve"), body)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "resolved"
    assert body["root_cause"] == "HVAC damper stuck half-open"
    assert body["impact_assessment"] == "No product impact: blend already sealed"
    assert body["resolved_by"] == "qa_approver"
    assert body["resolution_date"] is not None
    [signature] = body["signatures"]
    assert (signature["meaning"], signature["signer"], signature["valid"]) == ("resolved", "qa_approver", True)
    assert signature["comment"] == "Reviewed HVAC log"
    assert body["allowed_actions"] == ["close"]


def test_resolve_links_a_qms_deviation_and_a_capa_of_the_batch_site(
    make_deviation, site, operator, qa_approver, api_client_for
):
    deviation = make_deviation("investigating")
    qms_deviation = DeviationFactory(site=site)
    capa = CAPAFactory(site=site, owner=operator)
    body = resolve_body(linked_deviation=qms_deviation.pk, linked_capa=capa.pk)
    response = api_client_for(qa_approver).post(url(deviation, "resolve"), body)
    assert response.status_code == 200, response.json()
    assert (response.json()["linked_deviation"], response.json()["linked_capa"]) == (qms_deviation.pk, capa.pk)


@pytest.mark.parametrize("field", ["linked_deviation", "linked_capa"])
def test_resolve_refuses_qms_records_of_another_site(
    field, make_deviation, other_site, operator, qa_approver, api_client_for
):
    deviation = make_deviation("investigating")
    # A member of both sites: the link is refused for the batch's site, not for the user's.
    qa_approver.sites.add(other_site)
    if field == "linked_deviation":
        foreign = DeviationFactory(site=other_site)
    else:
        foreign = CAPAFactory(site=other_site, owner=operator)
    response = api_client_for(qa_approver).post(url(deviation, "resolve"), resolve_body(**{field: foreign.pk}))
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert "another site" in response.json()["errors"][field][0]
    deviation.refresh_from_db()
    assert (deviation.status, deviation.root_cause) == ("investigating", "")


@pytest.mark.parametrize("root_cause", [None, "", "   "])
def test_resolve_needs_a_root_cause(root_cause, make_deviation, qa_approver, api_client_for):
    deviation = make_deviation("investigating")
    body = {"password": PASSWORD}
    if root_cause is not None:
        body["root_cause"] = root_cause
    response = api_client_for(qa_approver).post(url(deviation, "resolve"), body)
    assert response.status_code == 400
    assert "root_cause" in response.json()["errors"]
    deviation.refresh_from_db()
    assert deviation.status == "investigating"
    assert not deviation.signatures.exists()


def test_resolve_needs_the_signature(make_deviation, qa_approver, api_client_for):
    deviation = make_deviation("investigating")
    response = api_client_for(qa_approver).post(url(deviation, "resolve"), {"root_cause": "HVAC"})
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_resolve_with_a_wrong_password_is_403_and_changes_nothing(make_deviation, qa_approver, api_client_for):
    deviation = make_deviation("investigating")
    response = api_client_for(qa_approver).post(url(deviation, "resolve"), resolve_body(password="wrong"))
    assert response.status_code == 403
    deviation.refresh_from_db()
    assert (deviation.status, deviation.root_cause, deviation.resolved_by) == ("investigating", "", None)
    assert not deviation.signatures.exists()


@pytest.mark.parametrize("role", ["qa_reviewer", "operator", "verifier"])
def test_resolve_is_refused_without_the_qa_approver_role(role, make_deviation, request, api_client_for):
    deviation = make_deviation("investigating")
    response = api_client_for(request.getfixturevalue(role)).post(url(deviation, "resolve"), resolve_body())
    assert response.status_code == 403
    deviation.refresh_from_db()
    assert deviation.status == "investigating"


@pytest.mark.parametrize("status", ["open", "resolved", "closed"])
def test_resolve_is_refused_outside_investigating(status, make_deviation, qa_approver, api_client_for):
    deviation = make_deviation(status)
    response = api_client_for(qa_approver).post(url(deviation, "resolve"), resolve_body())
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (status, "resolve")


# --- close -----------------------------------------------------------------------------


def test_qa_approver_closes_a_resolved_deviation_with_a_signature(make_deviation, qa_approver, api_client_for):
    deviation = make_deviation("resolved")
    response = api_client_for(qa_approver).post(url(deviation, "close"), {"password": PASSWORD})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["closed_by"]) == ("closed", "qa_approver")
    assert body["closed_at"] is not None
    assert [(s["meaning"], s["valid"]) for s in body["signatures"]] == [("resolved", True), ("closed", True)]
    assert body["allowed_actions"] == []


def test_close_with_a_wrong_password_is_403_and_changes_nothing(make_deviation, qa_approver, api_client_for):
    deviation = make_deviation("resolved")
    response = api_client_for(qa_approver).post(url(deviation, "close"), {"password": "wrong"})
    assert response.status_code == 403
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_by, deviation.closed_at) == ("resolved", None, None)


@pytest.mark.parametrize("role", ["qa_reviewer", "operator"])
def test_close_is_refused_without_the_qa_approver_role(role, make_deviation, request, api_client_for):
    deviation = make_deviation("resolved")
    response = api_client_for(request.getfixturevalue(role)).post(url(deviation, "close"), {"password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.parametrize("status", ["open", "investigating", "closed"])
def test_close_is_refused_outside_resolved(status, make_deviation, qa_approver, api_client_for):
    deviation = make_deviation(status)
    response = api_client_for(qa_approver).post(url(deviation, "close"), {"password": PASSWORD})
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (status, "close")


# --- editing the investigation ---------------------------------------------------------


@pytest.mark.parametrize("status", ["open", "investigating"])
def test_qa_writes_the_investigation_while_open_or_investigating(
    status, make_deviation, site, qa_reviewer, api_client_for
):
    deviation = make_deviation(status)
    qms_deviation = DeviationFactory(site=site)
    payload = {
        "impact_assessment": "Blend may have absorbed moisture",
        "immediate_action": "Lot put on hold",
        "root_cause": "Suspected HVAC damper",
        "linked_deviation": qms_deviation.pk,
        "reason": "Investigation notes",
    }
    response = api_client_for(qa_reviewer).patch(url(deviation), payload, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["impact_assessment"], body["immediate_action"], body["root_cause"]) == (
        "Blend may have absorbed moisture",
        "Lot put on hold",
        "Suspected HVAC damper",
    )
    assert (body["linked_deviation"], body["status"]) == (qms_deviation.pk, status)
    latest = deviation.history.order_by("-history_id").first()
    assert (latest.history_change_reason, latest.history_user) == ("Investigation notes", qa_reviewer)


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_the_investigation_is_frozen_once_resolved(status, make_deviation, qa_reviewer, api_client_for):
    deviation = make_deviation(status)
    response = api_client_for(qa_reviewer).patch(url(deviation), {"root_cause": "Changed my mind"}, format="json")
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (status, "update")
    deviation.refresh_from_db()
    assert deviation.root_cause == "HVAC damper stuck"


def test_patch_cannot_set_status_or_description(make_deviation, qa_reviewer, api_client_for):
    deviation = make_deviation()
    response = api_client_for(qa_reviewer).patch(
        url(deviation), {"status": "closed", "description": "Nothing happened"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "description"}


def test_patch_refuses_a_capa_of_another_site(make_deviation, other_site, operator, qa_reviewer, api_client_for):
    deviation = make_deviation()
    capa = CAPAFactory(site=other_site, owner=operator)
    client = api_client_for(qa_reviewer)
    response = client.patch(url(deviation), {"linked_capa": capa.pk}, format="json")
    assert response.status_code == 400
    assert "linked_capa" in response.json()["errors"]
    qa_reviewer.sites.add(other_site)
    response = client.patch(url(deviation), {"linked_capa": capa.pk}, format="json")
    assert response.status_code == 400
    assert "another site" in response.json()["errors"]["linked_capa"][0]


@pytest.mark.parametrize("role", ["operator", "verifier"])
def test_patch_is_refused_outside_qa(role, make_deviation, request, api_client_for):
    deviation = make_deviation()
    client = api_client_for(request.getfixturevalue(role))
    assert client.patch(url(deviation), {"root_cause": "x"}, format="json").status_code == 403


def test_put_is_not_offered(make_deviation, qa_reviewer, api_client_for):
    deviation = make_deviation()
    assert api_client_for(qa_reviewer).put(url(deviation), {"root_cause": "x"}, format="json").status_code == 405


@pytest.mark.parametrize("status", ["open", "closed"])
def test_a_deviation_is_never_deleted(status, make_deviation, qa_approver, api_client_for):
    deviation = make_deviation(status)
    response = api_client_for(qa_approver).delete(url(deviation))
    assert response.status_code == 409
    assert "kept" in response.json()["detail"]
    assert BatchDeviation.objects.filter(pk=deviation.pk).exists()


def test_a_deviation_of_another_site_is_404(make_deviation, other_site, qa_approver, api_client_for):
    deviation = make_deviation("investigating")
    qa_approver.sites.set([other_site])
    assert api_client_for(qa_approver).post(url(deviation, "resolve"), resolve_body()).status_code == 404


# --- effect on the batch ---------------------------------------------------------------


def test_a_settled_deviation_still_marks_the_batch(make_deviation, batch):
    make_deviation("closed")
    batch.refresh_from_db()
    assert (batch.has_deviations, batch.review_by_exception) == (True, False)


def test_each_step_of_the_investigation_is_in_the_history(make_deviation, api_client_for, qa_approver):
    deviation = make_deviation("closed")
    response = api_client_for(qa_approver).get(url(deviation, "history"))
    reasons = [entry["reason"] for entry in response.json()["results"]]
    assert reasons[1:] == ["Investigation started", "Resolved: HVAC damper stuck", "Closed"]
