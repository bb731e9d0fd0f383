"""QMS deviations through the API: reporting, investigation edits, the workflow
open → investigating → closed (signed), site scoping and roles."""

import pytest

from deviations.models import Deviation
from deviations.tests.factories import DeviationFactory
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/deviations/"
REPORT = {"title": "Label roll mix-up", "description": "Two label lots found at line 3.", "severity": "major"}


def detail(deviation):
    return f"{URL}{deviation.pk}/"


# --- reporting -------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["operator", "verifier", "qa_reviewer", "qa_approver"])
def test_execution_and_qa_roles_report_deviations(persona, request, site, api_client_for):
    response = api_client_for(request.getfixturevalue(persona)).post(URL, {**REPORT, "site": site.pk})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["deviation_id"].startswith("DEV-")
    assert (body["status"], body["severity"], body["site_code"], body["created_by"]) == ("open", "major", "S1", persona)
    assert body["signatures"] == []


@pytest.mark.parametrize("persona", ["author", "records_admin"])
def test_other_roles_cannot_report_deviations(persona, request, site, api_client_for):
    response = api_client_for(request.getfixturevalue(persona)).post(URL, {**REPORT, "site": site.pk})
    assert response.status_code == 403
    assert not Deviation.objects.exists()


def test_reporting_for_a_site_the_user_is_not_in_is_400(operator, other_site, api_client_for):
    response = api_client_for(operator).post(URL, {**REPORT, "site": other_site.pk})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"site"}


@pytest.mark.parametrize("field", ["status", "root_cause", "conclusion", "closed_by", "closed_at", "deviation_id"])
def test_report_cannot_set_status_investigation_or_closure(field, operator, site, api_client_for):
    response = api_client_for(operator).post(URL, {**REPORT, "site": site.pk, field: "closed"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


def test_report_needs_title_description_and_site(operator, api_client_for):
    response = api_client_for(operator).post(URL, {"severity": "minor"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"title", "description", "site"}


# --- editing ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["open", "investigating"])
def test_qa_edits_the_investigation_while_not_closed(
    state, qa_reviewer, make_deviation, make_investigating_deviation, api_client_for
):
    deviation = make_deviation() if state == "open" else make_investigating_deviation()
    changes = {
        "description": "Two label lots found at line 3 during line clearance.",
        "severity": "critical",
        "root_cause": "Line clearance checklist missed the reject bin.",
        "conclusion": "Batch segregated; checklist revised (CC-221).",
    }
    response = api_client_for(qa_reviewer).patch(detail(deviation), {**changes, "reason": "Investigation findings"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert {name: body[name] for name in changes} == changes
    assert body["status"] == state
    assert deviation.history.latest("history_id").history_change_reason == "Investigation findings"


@pytest.mark.parametrize("field", ["title", "site", "status", "closed_by"])
def test_title_site_and_status_cannot_be_edited(field, qa_reviewer, make_deviation, other_site, api_client_for):
    deviation = make_deviation()
    value = {"site": other_site.pk, "status": "closed"}.get(field, "x")
    response = api_client_for(qa_reviewer).patch(detail(deviation), {field: value})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


@pytest.mark.parametrize("persona", ["operator", "verifier", "author", "records_admin"])
def test_only_qa_edits_deviations(persona, request, make_deviation, api_client_for):
    response = api_client_for(request.getfixturevalue(persona)).patch(detail(make_deviation()), {"root_cause": "x"})
    assert response.status_code == 403


def test_closed_deviation_cannot_be_edited(qa_approver, make_closed_deviation, api_client_for):
    deviation = make_closed_deviation()
    response = api_client_for(qa_approver).patch(detail(deviation), {"conclusion": "Rewritten"})
    assert response.status_code == 409
    assert response.json()["current_status"] == "closed"
    deviation.refresh_from_db()
    assert deviation.conclusion == "No product impact; thermostat replaced"


@pytest.mark.parametrize("state", ["open", "closed"])
def test_deviations_are_never_deleted(
    state, qa_approver, operator, make_deviation, make_closed_deviation, api_client_for
):
    deviation = make_deviation() if state == "open" else make_closed_deviation()
    for user in (qa_approver, operator):
        response = api_client_for(user).delete(detail(deviation))
        assert response.status_code == 409
        assert response.json()["action"] == "delete"
    assert Deviation.objects.filter(pk=deviation.pk).exists()


# --- investigate -----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["qa_reviewer", "qa_approver"])
def test_qa_starts_the_investigation(persona, request, make_deviation, api_client_for):
    deviation = make_deviation()
    response = api_client_for(request.getfixturevalue(persona)).post(
        f"{detail(deviation)}investigate/", {"reason": "Assigned to QA"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "investigating"
    assert deviation.history.latest("history_id").history_change_reason == "Assigned to QA"


@pytest.mark.parametrize("persona", ["operator", "verifier", "author", "records_admin"])
def test_other_roles_cannot_start_the_investigation(persona, request, make_deviation, api_client_for):
    deviation = make_deviation()
    response = api_client_for(request.getfixturevalue(persona)).post(f"{detail(deviation)}investigate/")
    assert response.status_code == 403
    deviation.refresh_from_db()
    assert deviation.status == "open"


@pytest.mark.parametrize("state", ["investigating", "closed"])
def test_investigate_is_409_unless_open(
    state, qa_reviewer, make_investigating_deviation, make_closed_deviation, api_client_for
):
    deviation = make_investigating_deviation() if state == "investigating" else make_closed_deviation()
    response = api_client_for(qa_reviewer).post(f"{detail(deviation)}investigate/")
    assert response.status_code == 409
    body = response.json()
    assert (body["current_status"], body["action"]) == (state, "investigate")
    assert state in body["detail"]


# --- close -----------------------------------------------------------------------------


def test_qa_approver_closes_with_a_signature(qa_approver, make_investigating_deviation, api_client_for):
    deviation = make_investigating_deviation(root_cause="Worn seal", conclusion="Seal replaced; no impact")
    response = api_client_for(qa_approver).post(
        f"{detail(deviation)}close/", {"password": PASSWORD, "comment": "Investigation complete"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "closed"
    assert body["closed_by"] == "qa_approver"
    assert body["closed_at"] is not None
    assert [(s["signer"], s["meaning"], s["comment"], s["valid"]) for s in body["signatures"]] == [
        ("qa_approver", "closed", "Investigation complete", True)
    ]
    assert body["allowed_actions"] == []


@pytest.mark.parametrize("missing", ["root_cause", "conclusion"])
def test_close_needs_root_cause_and_conclusion(missing, qa_approver, make_investigating_deviation, api_client_for):
    written = {"root_cause": "Worn seal", "conclusion": "Seal replaced", missing: "  "}
    deviation = make_investigating_deviation(**written)
    response = api_client_for(qa_approver).post(f"{detail(deviation)}close/", {"password": PASSWORD})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {missing}
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_by, deviation.signatures.count()) == ("investigating", None, 0)


def test_close_with_a_wrong_password_is_403_and_changes_nothing(
    qa_approver, make_investigating_deviation, api_client_for
):
    deviation = make_investigating_deviation(root_cause="x", conclusion="y")
    response = api_client_for(qa_approver).post(f"{detail(deviation)}close/", {"password": "wrong"})
    assert response.status_code == 403
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_at, deviation.signatures.count()) == ("investigating", None, 0)


def test_close_needs_a_password(qa_approver, make_investigating_deviation, api_client_for):
    deviation = make_investigating_deviation(root_cause="x", conclusion="y")
    response = api_client_for(qa_approver).post(f"{detail(deviation)}close/", {"comment": "done"})
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


@pytest.mark.parametrize("persona", ["operator", "verifier", "qa_reviewer", "author", "records_admin"])
def test_only_qa_approver_closes(persona, request, make_investigating_deviation, api_client_for):
    deviation = make_investigating_deviation(root_cause="x", conclusion="y")
    response = api_client_for(request.getfixturevalue(persona)).post(
        f"{detail(deviation)}close/", {"password": PASSWORD}
    )
    assert response.status_code == 403
    deviation.refresh_from_db()
    assert deviation.status == "investigating"


@pytest.mark.parametrize("state", ["open", "closed"])
def test_close_is_409_unless_investigating(state, qa_approver, make_deviation, make_closed_deviation, api_client_for):
    deviation = make_deviation(root_cause="x", conclusion="y") if state == "open" else make_closed_deviation()
    response = api_client_for(qa_approver).post(f"{detail(deviation)}close/", {"password": PASSWORD})
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (state, "close")
    assert deviation.signatures.count() == (1 if state == "closed" else 0)


# --- what each role is offered ------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "state", "actions"),
    [
        ("operator", "open", []),
        ("qa_reviewer", "open", ["investigate"]),
        ("qa_approver", "open", ["investigate"]),
        ("qa_reviewer", "investigating", []),
        ("qa_approver", "investigating", ["close"]),
        ("qa_approver", "closed", []),
    ],
)
def test_allowed_actions_follow_role_and_status(
    persona,
    state,
    actions,
    request,
    make_deviation,
    make_investigating_deviation,
    make_closed_deviation,
    api_client_for,
):
    makers = {"open": make_deviation, "investigating": make_investigating_deviation, "closed": make_closed_deviation}
    deviation = makers[state]()
    body = api_client_for(request.getfixturevalue(persona)).get(detail(deviation)).json()
    assert body["allowed_actions"] == actions


# --- site scoping ----------------------------------------------------------------------


def test_deviation_of_another_site_is_404_and_not_listed(qa_approver, other_site, make_deviation, api_client_for):
    mine = make_deviation()
    theirs = DeviationFactory(site=other_site)
    client = api_client_for(qa_approver)
    assert [row["id"] for row in client.get(URL).json()["results"]] == [mine.pk]
    assert client.get(detail(theirs)).status_code == 404
    assert client.patch(detail(theirs), {"root_cause": "x"}).status_code == 404
    assert client.post(f"{detail(theirs)}investigate/").status_code == 404
    assert client.post(f"{detail(theirs)}close/", {"password": PASSWORD}).status_code == 404
    assert client.get(f"{detail(theirs)}history/").status_code == 404


# --- lists -----------------------------------------------------------------------------


def test_list_filters_search_and_ordering(
    qa_reviewer, site, make_deviation, make_investigating_deviation, api_client_for
):
    make_deviation(title="Alpha spill", severity="minor")
    make_investigating_deviation(title="Beta label mix-up", severity="critical", description="Wrong label lot")
    client = api_client_for(qa_reviewer)

    def titles(**params):
        response = client.get(URL, params)
        assert response.status_code == 200, response.json()
        return sorted(row["title"] for row in response.json()["results"])

    assert titles(status="investigating") == ["Beta label mix-up"]
    assert titles(status=["open", "investigating"]) == ["Alpha spill", "Beta label mix-up"]
    assert titles(severity="critical") == ["Beta label mix-up"]
    assert titles(site=site.pk) == ["Alpha spill", "Beta label mix-up"]
    assert titles(search="label lot") == ["Beta label mix-up"]
    assert titles(search="spill") == ["Alpha spill"]
    assert len(titles(created_at__date__gte="2000-01-01")) == 2
    assert titles(created_at__date__lte="2000-01-01") == []
    ordered = [row["title"] for row in client.get(URL, {"ordering": "title"}).json()["results"]]
    assert ordered == ["Alpha spill", "Beta label mix-up"]
    assert client.get(URL, {"severity": "nonsense"}).status_code == 400


def test_history_shows_the_investigation_trail(qa_reviewer, make_deviation, api_client_for):
    deviation = make_deviation()
    client = api_client_for(qa_reviewer)
    client.patch(detail(deviation), {"root_cause": "Worn seal", "reason": "Findings"})
    entries = client.get(f"{detail(deviation)}history/").json()["results"]
    assert [(entry["action"], entry["user"]) for entry in entries] == [
        ("created", "operator"),
        ("changed", "qa_reviewer"),
    ]
    assert entries[1]["changes"] == [{"field": "root_cause", "old": "", "new": "Worn seal"}]


def test_list_query_count_does_not_grow_with_rows(
    qa_approver, make_deviation, make_closed_deviation, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(qa_approver)
    make_deviation()
    make_closed_deviation()
    with django_assert_max_num_queries(10) as few:
        assert client.get(URL).status_code == 200
    for _ in range(5):
        make_deviation()
        make_closed_deviation()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(URL).json()["count"] == 12


def test_detail_query_count_is_bounded(
    qa_approver, make_closed_deviation, api_client_for, django_assert_max_num_queries
):
    deviation = make_closed_deviation()
    with django_assert_max_num_queries(12):
        assert api_client_for(qa_approver).get(detail(deviation)).status_code == 200


def test_anonymous_requests_are_401(anonymous_client):
    assert anonymous_client.get(URL).status_code == 401
