"""CAPAs through the API: opening (owner and deviation of the same site), editing, the
workflow open → in_progress → effectiveness_check → closed (signed), roles, site scoping."""

from datetime import timedelta

import pytest
from django.utils import timezone

from capa.models import CAPA
from capa.tests.factories import CAPAFactory
from deviations.tests.factories import DeviationFactory
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/capa/"


def in_days(days):
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def detail(capa):
    return f"{URL}{capa.pk}/"


@pytest.fixture
def opening(site, operator):
    return {
        "title": "Prevent label mix-ups",
        "description": "Two label lots found on line 3.",
        "action_plan": "Revise checklist CL-12.",
        "site": site.pk,
        "owner": operator.pk,
        "due_date": in_days(60),
    }


# --- opening ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["qa_reviewer", "qa_approver"])
def test_qa_opens_a_capa_owned_by_a_user_of_the_site(persona, request, opening, api_client_for):
    response = api_client_for(request.getfixturevalue(persona)).post(URL, opening)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["capa_id"].startswith("CAPA-")
    assert (body["status"], body["owner_username"], body["site_code"]) == ("open", "operator", "S1")
    assert (body["deviation"], body["deviation_number"], body["is_overdue"]) == (None, None, False)
    assert body["created_by"] == persona


@pytest.mark.parametrize("persona", ["operator", "verifier", "author", "records_admin"])
def test_other_roles_cannot_open_a_capa(persona, request, opening, api_client_for):
    assert api_client_for(request.getfixturevalue(persona)).post(URL, opening).status_code == 403
    assert not CAPA.objects.exists()


def test_owner_from_another_site_is_400(qa_reviewer, other_site, opening, api_client_for):
    stranger = UserFactory(username="stranger")
    stranger.sites.add(other_site)
    response = api_client_for(qa_reviewer).post(URL, {**opening, "owner": stranger.pk})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"owner"}


def test_inactive_owner_is_400(qa_reviewer, operator2, opening, api_client_for):
    operator2.is_active = False
    operator2.save()
    response = api_client_for(qa_reviewer).post(URL, {**opening, "owner": operator2.pk})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"owner"}


def test_opening_for_a_site_the_user_is_not_in_is_400(qa_reviewer, other_site, opening, api_client_for):
    response = api_client_for(qa_reviewer).post(URL, {**opening, "site": other_site.pk})
    assert response.status_code == 400
    assert "site" in response.json()["errors"]


def test_capa_links_a_deviation_of_the_same_site(qa_reviewer, site, opening, api_client_for):
    deviation = DeviationFactory(site=site)
    client = api_client_for(qa_reviewer)
    response = client.post(URL, {**opening, "deviation": deviation.pk})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["deviation"], body["deviation_number"]) == (deviation.pk, deviation.deviation_id)
    assert client.get(f"/api/deviations/{deviation.pk}/").json()["capas"] == [body["capa_id"]]


def test_deviation_of_another_site_cannot_be_linked(qa_reviewer, other_site, opening, api_client_for):
    deviation = DeviationFactory(site=other_site)
    response = api_client_for(qa_reviewer).post(URL, {**opening, "deviation": deviation.pk})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"deviation"}


def test_due_date_in_the_past_is_400(qa_reviewer, opening, api_client_for):
    response = api_client_for(qa_reviewer).post(URL, {**opening, "due_date": in_days(-1)})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"due_date"}


@pytest.mark.parametrize("field", ["status", "effectiveness_result", "closed_by", "closed_at", "capa_id"])
def test_opening_cannot_set_status_result_or_closure(field, qa_reviewer, opening, api_client_for):
    response = api_client_for(qa_reviewer).post(URL, {**opening, field: "closed"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


# --- editing ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["open", "in_progress", "effectiveness_check"])
def test_qa_edits_a_capa_while_not_closed(
    state, qa_reviewer, operator2, make_capa, make_in_progress_capa, make_capa_in_effectiveness_check, api_client_for
):
    makers = {
        "open": make_capa,
        "in_progress": make_in_progress_capa,
        "effectiveness_check": make_capa_in_effectiveness_check,
    }
    capa = makers[state]()
    changes = {
        "action_plan": "Revise CL-12; add a second-person label check.",
        "effectiveness_result": "Audit pending",
        "owner": operator2.pk,
        "due_date": in_days(90),
    }
    response = api_client_for(qa_reviewer).patch(detail(capa), {**changes, "reason": "Plan extended"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert {name: body[name] for name in changes} == changes
    assert body["status"] == state


def test_an_overdue_capa_can_be_edited_without_moving_its_due_date(qa_reviewer, operator, site, api_client_for):
    capa = CAPAFactory(site=site, owner=operator, due_date=timezone.localdate() - timedelta(days=3))
    response = api_client_for(qa_reviewer).patch(
        detail(capa), {"title": "Renamed", "due_date": capa.due_date.isoformat()}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["is_overdue"] is True


def test_reassigning_to_an_owner_of_another_site_is_400(qa_reviewer, other_site, make_capa, api_client_for):
    stranger = UserFactory(username="stranger")
    stranger.sites.add(other_site)
    response = api_client_for(qa_reviewer).patch(detail(make_capa()), {"owner": stranger.pk})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"owner"}


@pytest.mark.parametrize("field", ["site", "status", "closed_by"])
def test_site_and_status_cannot_be_edited(field, qa_reviewer, other_site, make_capa, api_client_for):
    value = {"site": other_site.pk, "status": "closed"}.get(field, "x")
    response = api_client_for(qa_reviewer).patch(detail(make_capa()), {field: value})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


def test_owner_without_qa_role_cannot_edit(operator, make_capa, api_client_for):
    response = api_client_for(operator).patch(detail(make_capa(owner=operator)), {"action_plan": "x"})
    assert response.status_code == 403


def test_closed_capa_cannot_be_edited(qa_approver, make_closed_capa, api_client_for):
    capa = make_closed_capa()
    response = api_client_for(qa_approver).patch(detail(capa), {"effectiveness_result": "Rewritten"})
    assert response.status_code == 409
    assert response.json()["current_status"] == "closed"


@pytest.mark.parametrize("state", ["open", "closed"])
def test_capas_are_never_deleted(state, qa_approver, make_capa, make_closed_capa, api_client_for):
    capa = make_capa() if state == "open" else make_closed_capa()
    response = api_client_for(qa_approver).delete(detail(capa))
    assert response.status_code == 409
    assert response.json()["action"] == "delete"
    assert CAPA.objects.filter(pk=capa.pk).exists()


# --- start -----------------------------------------------------------------------------


def test_owner_starts_their_capa_whatever_their_role(operator, make_capa, api_client_for):
    capa = make_capa(owner=operator)
    response = api_client_for(operator).post(f"{detail(capa)}start/", {"reason": "Work begins"})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "in_progress"
    last = capa.history.latest("history_id")
    assert (last.history_user, last.history_change_reason) == (operator, "Work begins")


@pytest.mark.parametrize("persona", ["qa_reviewer", "qa_approver"])
def test_qa_starts_any_capa(persona, request, make_capa, api_client_for):
    response = api_client_for(request.getfixturevalue(persona)).post(f"{detail(make_capa())}start/")
    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"


@pytest.mark.parametrize("persona", ["operator2", "verifier", "author", "records_admin"])
def test_others_cannot_start_someone_elses_capa(persona, request, operator, make_capa, api_client_for):
    capa = make_capa(owner=operator)
    response = api_client_for(request.getfixturevalue(persona)).post(f"{detail(capa)}start/")
    assert response.status_code == 403
    capa.refresh_from_db()
    assert capa.status == "open"


@pytest.mark.parametrize("state", ["in_progress", "closed"])
def test_start_is_409_unless_open(state, operator, make_in_progress_capa, make_closed_capa, api_client_for):
    capa = make_in_progress_capa() if state == "in_progress" else make_closed_capa()
    response = api_client_for(operator).post(f"{detail(capa)}start/")
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (state, "start")


# --- check_effectiveness ---------------------------------------------------------------


@pytest.mark.parametrize("persona", ["qa_reviewer", "qa_approver"])
def test_qa_moves_a_capa_to_its_effectiveness_check(persona, request, make_in_progress_capa, api_client_for):
    capa = make_in_progress_capa()
    response = api_client_for(request.getfixturevalue(persona)).post(f"{detail(capa)}check_effectiveness/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "effectiveness_check"


def test_effectiveness_check_needs_an_action_plan(qa_reviewer, make_in_progress_capa, api_client_for):
    capa = make_in_progress_capa(action_plan=" ")
    response = api_client_for(qa_reviewer).post(f"{detail(capa)}check_effectiveness/")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"action_plan"}
    capa.refresh_from_db()
    assert capa.status == "in_progress"


@pytest.mark.parametrize("persona", ["operator", "verifier", "author", "records_admin"])
def test_other_roles_cannot_move_to_effectiveness_check(
    persona, request, operator, make_in_progress_capa, api_client_for
):
    capa = make_in_progress_capa(owner=operator)
    response = api_client_for(request.getfixturevalue(persona)).post(f"{detail(capa)}check_effectiveness/")
    assert response.status_code == 403


@pytest.mark.parametrize("state", ["open", "effectiveness_check", "closed"])
def test_check_effectiveness_is_409_unless_in_progress(
    state, qa_reviewer, make_capa, make_capa_in_effectiveness_check, make_closed_capa, api_client_for
):
    makers = {"open": make_capa, "effectiveness_check": make_capa_in_effectiveness_check, "closed": make_closed_capa}
    capa = makers[state]()
    response = api_client_for(qa_reviewer).post(f"{detail(capa)}check_effectiveness/")
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (state, "check_effectiveness")


# --- close -----------------------------------------------------------------------------


def test_qa_approver_closes_with_a_signature(qa_approver, make_capa_in_effectiveness_check, api_client_for):
    capa = make_capa_in_effectiveness_check(effectiveness_result="No recurrence in 6 audits.")
    response = api_client_for(qa_approver).post(f"{detail(capa)}close/", {"password": PASSWORD, "comment": "Effective"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["closed_by"]) == ("closed", "qa_approver")
    assert body["closed_at"] is not None
    assert [(s["signer"], s["meaning"], s["valid"]) for s in body["signatures"]] == [("qa_approver", "closed", True)]


def test_close_needs_the_effectiveness_result(qa_approver, make_capa_in_effectiveness_check, api_client_for):
    capa = make_capa_in_effectiveness_check()
    response = api_client_for(qa_approver).post(f"{detail(capa)}close/", {"password": PASSWORD})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"effectiveness_result"}
    capa.refresh_from_db()
    assert (capa.status, capa.signatures.count()) == ("effectiveness_check", 0)


def test_close_with_a_wrong_password_is_403_and_changes_nothing(
    qa_approver, make_capa_in_effectiveness_check, api_client_for
):
    capa = make_capa_in_effectiveness_check(effectiveness_result="Effective")
    response = api_client_for(qa_approver).post(f"{detail(capa)}close/", {"password": "wrong"})
    assert response.status_code == 403
    capa.refresh_from_db()
    assert (capa.status, capa.closed_by, capa.signatures.count()) == ("effectiveness_check", None, 0)


@pytest.mark.parametrize("persona", ["operator", "qa_reviewer", "verifier", "records_admin"])
def test_only_qa_approver_closes(persona, request, operator, make_capa_in_effectiveness_check, api_client_for):
    capa = make_capa_in_effectiveness_check(owner=operator, effectiveness_result="Effective")
    response = api_client_for(request.getfixturevalue(persona)).post(f"{detail(capa)}close/", {"password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.parametrize("state", ["open", "in_progress", "closed"])
def test_close_is_409_unless_in_effectiveness_check(
    state, qa_approver, make_capa, make_in_progress_capa, make_closed_capa, api_client_for
):
    makers = {"open": make_capa, "in_progress": make_in_progress_capa, "closed": make_closed_capa}
    capa = makers[state](effectiveness_result="Effective")
    response = api_client_for(qa_approver).post(f"{detail(capa)}close/", {"password": PASSWORD})
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (state, "close")


# --- what each user is offered ----------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "state", "actions"),
    [
        ("operator", "open", ["start"]),  # the owner
        ("operator2", "open", []),
        ("qa_reviewer", "open", ["start"]),
        ("operator", "in_progress", []),
        ("qa_reviewer", "in_progress", ["check_effectiveness"]),
        ("qa_reviewer", "effectiveness_check", []),
        ("qa_approver", "effectiveness_check", ["close"]),
        ("qa_approver", "closed", []),
    ],
)
def test_allowed_actions_follow_owner_role_and_status(
    persona,
    state,
    actions,
    request,
    operator,
    make_capa,
    make_in_progress_capa,
    make_capa_in_effectiveness_check,
    make_closed_capa,
    api_client_for,
):
    makers = {
        "open": make_capa,
        "in_progress": make_in_progress_capa,
        "effectiveness_check": make_capa_in_effectiveness_check,
        "closed": make_closed_capa,
    }
    capa = makers[state](owner=operator)
    body = api_client_for(request.getfixturevalue(persona)).get(detail(capa)).json()
    assert body["allowed_actions"] == actions


# --- site scoping ----------------------------------------------------------------------


def test_capa_of_another_site_is_404_and_not_listed(qa_approver, other_site, make_capa, api_client_for):
    mine = make_capa()
    owner = UserFactory(username="stranger")
    owner.sites.add(other_site)
    theirs = CAPAFactory(site=other_site, owner=owner)
    client = api_client_for(qa_approver)
    assert [row["id"] for row in client.get(URL).json()["results"]] == [mine.pk]
    assert client.get(detail(theirs)).status_code == 404
    assert client.patch(detail(theirs), {"title": "x"}).status_code == 404
    for action in ("start", "check_effectiveness"):
        assert client.post(f"{detail(theirs)}{action}/").status_code == 404
    assert client.post(f"{detail(theirs)}close/", {"password": PASSWORD}).status_code == 404


# --- lists -----------------------------------------------------------------------------


def test_list_filters_search_and_ordering(
    qa_reviewer, operator, operator2, site, make_capa, make_closed_capa, api_client_for
):
    deviation = DeviationFactory(site=site)
    make_capa(title="Alpha checklist", owner=operator, due_date=timezone.localdate() + timedelta(days=10))
    late = CAPAFactory(site=site, owner=operator2, title="Beta training", due_date=timezone.localdate() - timedelta(1))
    make_closed_capa(title="Gamma closed late", due_date=timezone.localdate() - timedelta(days=1), deviation=deviation)
    make_capa(title="Delta undated", owner=operator2)
    client = api_client_for(qa_reviewer)

    def titles(**params):
        response = client.get(URL, params)
        assert response.status_code == 200, response.json()
        return sorted(row["title"] for row in response.json()["results"])

    assert titles(overdue="true") == ["Beta training"]
    assert titles(overdue="false") == ["Alpha checklist", "Delta undated", "Gamma closed late"]
    assert titles(status="closed") == ["Gamma closed late"]
    assert titles(status=["open", "closed"]) == [
        "Alpha checklist",
        "Beta training",
        "Delta undated",
        "Gamma closed late",
    ]
    assert titles(owner=operator2.pk) == ["Beta training", "Delta undated"]
    assert titles(deviation=deviation.pk) == ["Gamma closed late"]
    assert titles(site=site.pk, due_date__gte=in_days(0), due_date__lte=in_days(30)) == ["Alpha checklist"]
    assert titles(search="training") == ["Beta training"]
    assert titles(search=late.capa_id) == ["Beta training"]
    assert len(titles(created_at__date__gte=in_days(0))) == 4
    listed = {row["title"]: row["is_overdue"] for row in client.get(URL).json()["results"]}
    assert listed["Beta training"] is True
    assert listed["Gamma closed late"] is False
    ordered = [row["title"] for row in client.get(URL, {"ordering": "-title"}).json()["results"]]
    assert ordered == ["Gamma closed late", "Delta undated", "Beta training", "Alpha checklist"]
    assert client.get(URL, {"status": "nonsense"}).status_code == 400


def test_list_query_count_does_not_grow_with_rows(
    qa_approver, site, make_capa, make_closed_capa, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(qa_approver)
    make_capa(deviation=DeviationFactory(site=site))
    make_closed_capa()
    with django_assert_max_num_queries(10) as few:
        assert client.get(URL).status_code == 200
    for _ in range(5):
        make_capa(deviation=DeviationFactory(site=site))
        make_closed_capa()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(URL).json()["count"] == 12


def test_detail_query_count_is_bounded(qa_approver, make_closed_capa, api_client_for, django_assert_max_num_queries):
    capa = make_closed_capa()
    with django_assert_max_num_queries(12):
        assert api_client_for(qa_approver).get(detail(capa)).status_code == 200


def test_anonymous_requests_are_401(anonymous_client):
    assert anonymous_client.get(URL).status_code == 401
