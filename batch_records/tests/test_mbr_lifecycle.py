"""SPEC §3 MasterBatchRecord state machine through the API: every allowed transition, every
refused one (409, nothing changed), signatures, separation of duties and role checks."""

import pytest
from django.contrib.auth.models import Group

from batch_records.services.mbr import obsolete_mbr, submit_mbr, supersede_mbr
from conftest import client_for
from users.roles import AUTHOR, QA_APPROVER
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/master-batch-records/"

# action: (who acts, a valid body)
ACTIONS = {
    "submit": ("author", {}),
    "return_to_draft": ("qa_reviewer", {"reason": "Step 3 needs an in-process check"}),
    "approve": ("qa_approver", {"password": PASSWORD}),
    "supersede": ("qa_approver", {}),
    "obsolete": ("qa_approver", {"reason": "Product discontinued", "password": PASSWORD}),
    "new_version": ("author", {}),
}
STATUSES = ["draft", "in_review", "approved", "superseded", "obsolete"]
ALLOWED_FROM = {
    "submit": {"draft"},
    "return_to_draft": {"in_review"},
    "approve": {"in_review"},
    "supersede": {"approved"},
    "obsolete": {"approved", "superseded"},
    "new_version": {"approved"},
}
REFUSED = [(action, status) for action in ACTIONS for status in STATUSES if status not in ALLOWED_FROM[action]]


@pytest.fixture
def mbr_in(make_draft_mbr, make_approved_mbr, author, qa_approver):
    """An MBR brought to `status` through the services."""

    def make(status):
        if status == "draft":
            return make_draft_mbr()
        if status == "in_review":
            return submit_mbr(make_draft_mbr(), actor=author)
        approved = make_approved_mbr()
        if status == "approved":
            return approved
        if status == "superseded":
            return supersede_mbr(approved, actor=qa_approver, reason="Replaced")
        if status == "obsolete":
            return obsolete_mbr(approved, actor=qa_approver, reason="Withdrawn", password=PASSWORD)
        raise AssertionError(status)

    return make


def snapshot(mbr):
    mbr.refresh_from_db()
    return {
        "status": mbr.status,
        "history": mbr.history.count(),
        "signatures": mbr.signatures.count(),
        "records": type(mbr).objects.count(),
    }


def act(request, mbr, action, body=None, actor=None):
    role, default_body = ACTIONS[action]
    user = actor or request.getfixturevalue(role)
    return client_for(user).post(f"{URL}{mbr.pk}/{action}/", default_body if body is None else body)


# --- allowed transitions --------------------------------------------------------------


def test_author_submits_a_draft_for_review(request, mbr_in):
    mbr = mbr_in("draft")
    response = act(request, mbr, "submit")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "in_review"
    assert mbr.history.latest().history_change_reason == "Submitted for review"


@pytest.mark.parametrize("role", ["qa_reviewer", "qa_approver"])
def test_qa_returns_a_record_in_review_to_draft_with_a_reason(request, mbr_in, role):
    mbr = mbr_in("in_review")
    response = act(request, mbr, "return_to_draft", actor=request.getfixturevalue(role))
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "draft"
    latest = mbr.history.latest()
    assert latest.history_change_reason == "Step 3 needs an in-process check"
    assert latest.history_user.username == role


def test_qa_approver_approves_with_signature(request, mbr_in):
    mbr = mbr_in("in_review")
    response = act(request, mbr, "approve", body={"password": PASSWORD, "comment": "Process validated"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "approved"
    assert body["approved_by"] == "qa_approver"
    assert body["approval_date"] is not None
    assert body["effective_date"] is not None
    assert [(s["signer"], s["meaning"], s["comment"], s["valid"]) for s in body["signatures"]] == [
        ("qa_approver", "approved", "Process validated", True)
    ]
    assert body["signatures"][0]["record_status"] == "approved"


def test_approval_keeps_an_effective_date_set_by_the_author(request, make_draft_mbr, author):
    mbr = submit_mbr(make_draft_mbr(effective_date="2030-01-01"), actor=author)
    response = act(request, mbr, "approve")
    assert response.status_code == 200
    assert response.json()["effective_date"] == "2030-01-01"


def test_qa_approver_supersedes_an_approved_record(request, mbr_in):
    mbr = mbr_in("approved")
    response = act(request, mbr, "supersede", body={"reason": "Moved to product PCM-900"})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "superseded"
    assert mbr.history.latest().history_change_reason == "Moved to product PCM-900"


def test_supersede_takes_no_body(request, mbr_in):
    mbr = mbr_in("approved")
    assert act(request, mbr, "supersede", body={}).status_code == 200


@pytest.mark.parametrize("status", ["approved", "superseded"])
def test_qa_approver_makes_a_record_obsolete_with_reason_and_signature(request, mbr_in, status):
    mbr = mbr_in(status)
    response = act(request, mbr, "obsolete")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "obsolete"
    assert body["signatures"][-1]["meaning"] == "obsoleted"
    assert body["signatures"][-1]["comment"] == "Product discontinued"
    assert mbr.history.latest().history_change_reason == "Product discontinued"


def test_author_creates_a_new_version_of_an_approved_record(request, mbr_in):
    mbr = mbr_in("approved")
    response = act(request, mbr, "new_version")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["version"] == 2
    assert body["previous_version"] == mbr.pk
    mbr.refresh_from_db()
    assert mbr.status == "approved"


# --- refused transitions --------------------------------------------------------------


@pytest.mark.parametrize(("action", "status"), REFUSED)
def test_refused_transition_is_409_and_changes_nothing(request, mbr_in, action, status):
    mbr = mbr_in(status)
    before = snapshot(mbr)

    response = act(request, mbr, action)

    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["current_status"] == status
    assert body["action"] == action
    assert status in body["detail"]
    assert action in body["detail"]
    assert snapshot(mbr) == before


def test_return_to_draft_without_reason_is_400_and_changes_nothing(request, mbr_in):
    mbr = mbr_in("in_review")
    before = snapshot(mbr)
    response = act(request, mbr, "return_to_draft", body={})
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert snapshot(mbr) == before


def test_obsolete_without_reason_is_400_and_changes_nothing(request, mbr_in):
    mbr = mbr_in("approved")
    before = snapshot(mbr)
    response = act(request, mbr, "obsolete", body={"password": PASSWORD})
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert snapshot(mbr) == before


def test_approve_with_a_wrong_password_is_403_and_changes_nothing(request, mbr_in):
    mbr = mbr_in("in_review")
    before = snapshot(mbr)
    response = act(request, mbr, "approve", body={"password": "not-my-password"})
    assert response.status_code == 403
    assert response.json()["code"] == "bad_password"
    assert snapshot(mbr) == before
    assert mbr.approved_by is None


def test_obsolete_with_a_wrong_password_is_403_and_changes_nothing(request, mbr_in):
    mbr = mbr_in("approved")
    before = snapshot(mbr)
    response = act(request, mbr, "obsolete", body={"reason": "x", "password": "wrong"})
    assert response.status_code == 403
    assert snapshot(mbr) == before


def test_approve_without_password_is_400(request, mbr_in):
    mbr = mbr_in("in_review")
    before = snapshot(mbr)
    assert act(request, mbr, "approve", body={}).status_code == 400
    assert snapshot(mbr) == before


def test_approving_for_another_username_is_403(request, mbr_in):
    mbr = mbr_in("in_review")
    before = snapshot(mbr)
    response = act(request, mbr, "approve", body={"password": PASSWORD, "username": "author"})
    assert response.status_code == 403
    assert snapshot(mbr) == before


# --- separation of duties and roles -----------------------------------------------------


def _user_with_roles(site, username, *roles, **fields):
    user = UserFactory(username=username, **fields)
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    user.sites.add(site)
    return user


def test_an_author_who_is_also_qa_approver_cannot_approve_their_own_record(site):
    both = _user_with_roles(site, "author_and_approver", AUTHOR, QA_APPROVER)
    created = client_for(both).post(URL, _payload("SOD-1"))
    assert created.status_code == 201, created.json()
    mbr_id = created.json()["id"]
    assert client_for(both).post(f"{URL}{mbr_id}/submit/").status_code == 200

    response = client_for(both).post(f"{URL}{mbr_id}/approve/", {"password": PASSWORD})

    assert response.status_code == 403
    assert "author" in response.json()["detail"]
    record = client_for(both).get(f"{URL}{mbr_id}/").json()
    assert record["status"] == "in_review"
    assert record["signatures"] == []


def test_a_superuser_author_cannot_approve_their_own_record(site, qa_approver):
    boss = _user_with_roles(site, "superuser", is_superuser=True, is_staff=True)
    client = client_for(boss)
    mbr_id = client.post(URL, _payload("SOD-2")).json()["id"]
    assert client.post(f"{URL}{mbr_id}/submit/").status_code == 200

    response = client.post(f"{URL}{mbr_id}/approve/", {"password": PASSWORD})

    assert response.status_code == 403
    assert client.get(f"{URL}{mbr_id}/").json()["status"] == "in_review"
    # Another approver can.
    assert client_for(qa_approver).post(f"{URL}{mbr_id}/approve/", {"password": PASSWORD}).status_code == 200


@pytest.mark.parametrize(
    ("action", "status", "role"),
    [
        ("submit", "draft", "operator"),
        ("submit", "draft", "qa_approver"),
        ("return_to_draft", "in_review", "author"),
        ("return_to_draft", "in_review", "records_admin"),
        ("approve", "in_review", "author"),
        ("approve", "in_review", "qa_reviewer"),
        ("approve", "in_review", "verifier"),
        ("supersede", "approved", "qa_reviewer"),
        ("obsolete", "approved", "author"),
        ("new_version", "approved", "qa_approver"),
        ("new_version", "approved", "operator"),
    ],
)
def test_role_without_the_permission_gets_403_and_nothing_changes(request, mbr_in, action, status, role):
    mbr = mbr_in(status)
    before = snapshot(mbr)
    response = act(request, mbr, action, actor=request.getfixturevalue(role))
    assert response.status_code == 403
    assert snapshot(mbr) == before


def test_a_role_without_the_permission_learns_nothing_about_the_status(request, mbr_in):
    # Permission is checked before status: an operator gets 403 even where the action would 409.
    mbr = mbr_in("obsolete")
    assert act(request, mbr, "approve", actor=request.getfixturevalue("operator")).status_code == 403


def test_allowed_actions_follow_status_and_role(request, mbr_in, author, qa_reviewer, qa_approver):
    draft = mbr_in("draft")
    approved = mbr_in("approved")

    def allowed(user, mbr):
        return client_for(user).get(f"{URL}{mbr.pk}/").json()["allowed_actions"]

    assert allowed(author, draft) == ["submit"]
    assert allowed(qa_reviewer, draft) == []
    assert allowed(qa_approver, approved) == ["supersede", "obsolete"]
    assert allowed(author, approved) == ["new_version"]


# --- versions -------------------------------------------------------------------------


def _payload(product_code, **fields):
    from batch_records.tests.factories import bill_of_materials, manufacturing_instructions

    return {
        "title": f"{product_code} process",
        "product_name": "Paracetamol 500 mg tablets",
        "product_code": product_code,
        "bill_of_materials": bill_of_materials(),
        "manufacturing_instructions": manufacturing_instructions(),
        **fields,
    }


def _approve(mbr_id, author, qa_approver):
    assert client_for(author).post(f"{URL}{mbr_id}/submit/").status_code == 200
    response = client_for(qa_approver).post(f"{URL}{mbr_id}/approve/", {"password": PASSWORD})
    assert response.status_code == 200, response.json()
    return response.json()


def test_approving_a_new_version_supersedes_the_previous_one(mbr_in, author, qa_approver):
    v1 = mbr_in("approved")
    v2 = client_for(author).post(f"{URL}{v1.pk}/new_version/").json()

    approved = _approve(v2["id"], author, qa_approver)

    assert approved["status"] == "approved"
    v1.refresh_from_db()
    assert v1.status == "superseded"
    latest = v1.history.latest()
    assert latest.history_change_reason == f"Superseded by {v2['mbr_id']} (version 2)"
    assert latest.history_user == qa_approver
    # Superseding is not a signed act: v1 keeps its one approval signature, still valid.
    v1_body = client_for(author).get(f"{URL}{v1.pk}/").json()
    assert [(s["meaning"], s["valid"]) for s in v1_body["signatures"]] == [("approved", True)]


def test_only_one_version_of_a_product_is_approved_at_a_time(mbr_in, author, qa_approver):
    v1 = mbr_in("approved")
    v2 = client_for(author).post(f"{URL}{v1.pk}/new_version/").json()
    _approve(v2["id"], author, qa_approver)
    v3 = client_for(author).post(f"{URL}{v2['id']}/new_version/").json()
    _approve(v3["id"], author, qa_approver)

    listing = client_for(author).get(URL, {"product_code": v1.product_code, "ordering": "version"}).json()
    assert [(row["version"], row["status"]) for row in listing["results"]] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "approved"),
    ]


def test_approval_does_not_touch_other_products(mbr_in, make_approved_mbr, author, qa_approver):
    other = make_approved_mbr(product_code="OTHER-1")
    v1 = mbr_in("approved")
    v2 = client_for(author).post(f"{URL}{v1.pk}/new_version/").json()
    _approve(v2["id"], author, qa_approver)
    other.refresh_from_db()
    assert other.status == "approved"


def test_new_version_numbering_copies_content_and_sets_the_author(mbr_in, site, qa_approver):
    v1 = mbr_in("approved")
    reviser = _user_with_roles(site, "second_author", AUTHOR)

    response = client_for(reviser).post(f"{URL}{v1.pk}/new_version/")

    assert response.status_code == 201
    v2 = response.json()
    assert (v2["version"], v2["status"], v2["author"], v2["created_by"]) == (
        2,
        "draft",
        "second_author",
        "second_author",
    )
    assert v2["mbr_id"] != v1.mbr_id
    assert v2["previous_version"] == v1.pk
    assert v2["signatures"] == []
    assert v2["approved_by"] is None
    assert v2["effective_date"] is None
    for field in ("title", "product_name", "product_code", "bill_of_materials", "manufacturing_instructions"):
        assert v2[field] == getattr(v1, field)
    assert v2["quality_specifications"] == v1.quality_specifications
    assert v2["yield_limit_min"] == str(v1.yield_limit_min)
    # The new author's draft can be approved by the original author's approver.
    _approve(v2["id"], reviser, qa_approver)


def test_new_version_numbers_from_the_highest_version_of_the_product(mbr_in, author, qa_approver):
    v1 = mbr_in("approved")
    v2 = client_for(author).post(f"{URL}{v1.pk}/new_version/").json()
    _approve(v2["id"], author, qa_approver)
    v3 = client_for(author).post(f"{URL}{v2['id']}/new_version/")
    assert v3.status_code == 201
    assert v3.json()["version"] == 3
    assert v3.json()["previous_version"] == v2["id"]


def test_new_version_refused_while_another_version_is_being_revised(request, mbr_in, author):
    v1 = mbr_in("approved")
    assert client_for(author).post(f"{URL}{v1.pk}/new_version/").status_code == 201
    before = snapshot(v1)

    response = client_for(author).post(f"{URL}{v1.pk}/new_version/")

    assert response.status_code == 409
    assert "version 2" in response.json()["detail"]
    assert snapshot(v1) == before


def test_new_version_number_is_reused_after_its_draft_is_deleted(mbr_in, author):
    v1 = mbr_in("approved")
    v2 = client_for(author).post(f"{URL}{v1.pk}/new_version/").json()
    assert client_for(author).delete(f"{URL}{v2['id']}/").status_code == 204
    again = client_for(author).post(f"{URL}{v1.pk}/new_version/")
    assert again.status_code == 201
    assert again.json()["version"] == 2


def test_approve_is_not_offered_to_the_author(site, qa_approver):
    both = _user_with_roles(site, "author_and_approver", AUTHOR, QA_APPROVER)
    client = client_for(both)
    mbr_id = client.post(URL, _payload("SOD-3")).json()["id"]
    submitted = client.post(f"{URL}{mbr_id}/submit/").json()
    assert "approve" not in submitted["allowed_actions"]
    assert "approve" in client_for(qa_approver).get(f"{URL}{mbr_id}/").json()["allowed_actions"]
