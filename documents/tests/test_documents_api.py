"""Controlled documents through the API, and the base viewset's shared behaviour:
history route, DELETE only on drafts, edits only in draft, 409 on refused actions."""

import pytest

from documents.tests.factories import DocumentFactory
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/documents/"


def test_author_creates_and_edits_a_draft(author, api_client_for):
    client = api_client_for(author)
    created = client.post(URL, {"title": "SOP-7 Granulation", "version": "2.0", "url": "https://dms.example.com/7"})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["doc_id"].startswith("DOC-")
    assert body["status"] == "draft"
    assert body["created_by"] == "author"

    patched = client.patch(f"{URL}{body['id']}/", {"title": "SOP-7 Wet granulation", "reason": "Title"})
    assert patched.status_code == 200
    assert patched.json()["title"] == "SOP-7 Wet granulation"


def test_client_cannot_set_status_or_audit_fields(author, api_client_for):
    client = api_client_for(author)
    response = client.post(URL, {"title": "x", "status": "effective", "created_by": 99})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "created_by"}


def test_history_route_shows_field_level_changes(author, api_client_for):
    client = api_client_for(author)
    doc = client.post(URL, {"title": "Old title", "url": "https://dms.example.com/1"}).json()
    client.patch(f"{URL}{doc['id']}/", {"title": "New title", "reason": "Renamed per CC-12"})
    history = client.get(f"{URL}{doc['id']}/history/")
    assert history.status_code == 200
    entries = history.json()["results"]
    assert [entry["action"] for entry in entries] == ["created", "changed"]
    assert entries[1]["user"] == "author"
    assert entries[1]["reason"] == "Renamed per CC-12"
    assert entries[1]["changes"] == [{"field": "title", "old": "Old title", "new": "New title"}]


def test_make_effective_with_signature_then_edit_and_delete_are_409(author, qa_approver, api_client_for):
    document = DocumentFactory()
    approver = api_client_for(qa_approver)
    response = approver.post(f"{URL}{document.pk}/make_effective/", {"password": PASSWORD, "comment": "Approved"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "effective"
    assert [(s["signer"], s["meaning"], s["valid"]) for s in body["signatures"]] == [("qa_approver", "approved", True)]

    edit = api_client_for(author).patch(f"{URL}{document.pk}/", {"title": "sneaky"})
    assert edit.status_code == 409
    delete = api_client_for(author).delete(f"{URL}{document.pk}/")
    assert delete.status_code == 409
    assert "effective" in delete.json()["detail"]


def test_refused_transition_is_409_naming_status_and_action(qa_approver, api_client_for):
    document = DocumentFactory()
    response = api_client_for(qa_approver).post(f"{URL}{document.pk}/obsolete/", {"password": PASSWORD, "reason": "x"})
    assert response.status_code == 409
    body = response.json()
    assert body["current_status"] == "draft"
    assert body["action"] == "obsolete"
    assert "draft" in body["detail"]
    assert "obsolete" in body["detail"]


def test_wrong_password_is_403_and_changes_nothing(qa_approver, api_client_for):
    document = DocumentFactory()
    response = api_client_for(qa_approver).post(f"{URL}{document.pk}/make_effective/", {"password": "wrong"})
    assert response.status_code == 403
    document.refresh_from_db()
    assert document.status == "draft"
    assert document.signatures.count() == 0
    assert document.history.count() == 1


def test_role_without_the_permission_gets_403(operator, api_client_for):
    document = DocumentFactory()
    client = api_client_for(operator)
    assert client.post(f"{URL}{document.pk}/make_effective/", {"password": PASSWORD}).status_code == 403
    assert client.post(URL, {"title": "x"}).status_code == 403
    assert client.get(URL).status_code == 200


def test_draft_can_be_deleted(author, api_client_for):
    document = DocumentFactory()
    assert api_client_for(author).delete(f"{URL}{document.pk}/").status_code == 204


def test_list_filters_search_and_ordering(author, api_client_for):
    DocumentFactory(title="Alpha")
    DocumentFactory(title="Beta")
    client = api_client_for(author)
    assert client.get(URL, {"search": "Alpha"}).json()["count"] == 1
    assert client.get(URL, {"status": "draft"}).json()["count"] == 2
    assert client.get(URL, {"created_at__date__gte": "2000-01-01"}).json()["count"] == 2
    titles = [row["title"] for row in client.get(URL, {"ordering": "-title"}).json()["results"]]
    assert titles == ["Beta", "Alpha"]
    assert client.get(URL, {"status": "nonsense"}).status_code == 400


def test_list_query_count_does_not_grow_with_rows(author, api_client_for, django_assert_max_num_queries):
    client = api_client_for(author)
    DocumentFactory.create_batch(3)
    with django_assert_max_num_queries(8) as few:
        client.get(URL)
    DocumentFactory.create_batch(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(URL)


def test_delete_of_a_kept_record_is_409_for_anyone_who_sees_it_and_403_on_drafts_without_permission(
    qa_approver, operator, api_client_for
):
    from documents.services import make_document_effective

    effective, draft = DocumentFactory(), DocumentFactory()
    make_document_effective(effective, actor=qa_approver, password=PASSWORD)
    assert api_client_for(operator).delete(f"{URL}{effective.pk}/").status_code == 409
    assert api_client_for(operator).delete(f"{URL}{draft.pk}/").status_code == 403
