"""Master batch records through the API: creation, editing and deletion in draft only,
list and detail representations, filters, search, ordering and query budgets."""

from decimal import Decimal

import pytest

from batch_records.models import MasterBatchRecord
from batch_records.services.mbr import submit_mbr
from batch_records.tests.factories import (
    MasterBatchRecordFactory,
    bill_of_materials,
    manufacturing_instructions,
    quality_specifications,
)
from documents.services import make_document_effective, obsolete_document
from documents.tests.factories import DocumentFactory
from users.models import ProductLine
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/master-batch-records/"


def payload(product_code="PCM-500", **fields):
    return {
        "title": "Paracetamol 500 mg tablets, wet granulation",
        "product_name": "Paracetamol 500 mg tablets",
        "product_code": product_code,
        "bill_of_materials": bill_of_materials(),
        "manufacturing_instructions": manufacturing_instructions(),
        "quality_specifications": quality_specifications(),
        "yield_limit_min": "95.00",
        "yield_limit_max": "102.00",
        **fields,
    }


# --- creation -------------------------------------------------------------------------


def test_author_creates_a_draft_version_1_as_its_author(author, api_client_for):
    response = api_client_for(author).post(URL, payload(effective_date="2030-01-01", is_serialized=True))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["mbr_id"].startswith("MBR-")
    assert (body["version"], body["status"], body["author"], body["created_by"]) == (1, "draft", "author", "author")
    assert body["manufacturing_instructions"] == manufacturing_instructions()
    assert body["effective_date"] == "2030-01-01"
    assert body["is_serialized"] is True
    assert body["signatures"] == []
    assert body["allowed_actions"] == ["submit"]
    mbr = MasterBatchRecord.objects.get(pk=body["id"])
    assert mbr.author == author
    assert mbr.history.get().history_user == author


def test_creation_links_a_product_line_and_a_document(author, api_client_for):
    line = ProductLine.objects.create(code="SOLIDS", name="Oral solids")
    document = DocumentFactory()
    response = api_client_for(author).post(URL, payload(product_line=line.pk, linked_document=document.pk))
    assert response.status_code == 201, response.json()
    assert (response.json()["product_line"], response.json()["linked_document"]) == (line.pk, document.pk)


def test_an_obsolete_document_cannot_be_linked(author, qa_approver, api_client_for):
    document = DocumentFactory(url="https://dms.example.com/sop-1")
    make_document_effective(document, actor=qa_approver, password=PASSWORD)
    obsolete_document(document, actor=qa_approver, reason="Withdrawn", password=PASSWORD)
    response = api_client_for(author).post(URL, payload(linked_document=document.pk))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("linked_document:")


def test_a_draft_may_be_created_without_content(author, api_client_for):
    response = api_client_for(author).post(URL, {"title": "Early draft", "product_name": "X", "product_code": "X-1"})
    assert response.status_code == 201
    body = response.json()
    assert (body["bill_of_materials"], body["manufacturing_instructions"], body["quality_specifications"]) == (
        [],
        [],
        [],
    )


@pytest.mark.parametrize(
    "field",
    ["author", "status", "version", "mbr_id", "approved_by", "approval_date", "previous_version", "created_by"],
)
def test_server_set_fields_cannot_come_from_the_payload(author, qa_approver, api_client_for, field):
    value = {"author": qa_approver.pk, "status": "approved", "version": 7, "mbr_id": "MBR-9999"}.get(field, 1)
    response = api_client_for(author).post(URL, payload(**{field: value}))
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert MasterBatchRecord.objects.count() == 0


def test_posting_an_existing_product_code_is_400_pointing_to_new_version(author, make_approved_mbr, api_client_for):
    existing = make_approved_mbr(product_code="PCM-500")
    response = api_client_for(author).post(URL, payload("PCM-500"))
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("product_code:")
    assert "new_version" in detail
    assert existing.mbr_id in detail
    assert MasterBatchRecord.objects.count() == 1


def test_missing_required_fields_are_400(author, api_client_for):
    response = api_client_for(author).post(URL, {"product_code": "X"})
    assert response.status_code == 400
    assert {"title", "product_name"} <= set(response.json()["errors"])


def test_role_without_add_permission_cannot_create(api_client_for, operator, qa_approver, records_admin):
    for user in (operator, qa_approver, records_admin):
        assert api_client_for(user).post(URL, payload()).status_code == 403
    assert MasterBatchRecord.objects.count() == 0


def test_every_role_can_read(api_client_for, make_draft_mbr, operator, verifier, records_admin):
    mbr = make_draft_mbr()
    for user in (operator, verifier, records_admin):
        assert api_client_for(user).get(URL).status_code == 200
        assert api_client_for(user).get(f"{URL}{mbr.pk}/").status_code == 200


def test_anonymous_is_401(anonymous_client):
    assert anonymous_client.get(URL).status_code == 401


# --- editing and deleting -------------------------------------------------------------


def test_author_edits_a_draft_with_a_reason(author, make_draft_mbr, api_client_for):
    mbr = make_draft_mbr()
    steps = manufacturing_instructions(steps=4)
    response = api_client_for(author).patch(
        f"{URL}{mbr.pk}/", {"manufacturing_instructions": steps, "reason": "Added a drying step"}
    )
    assert response.status_code == 200, response.json()
    assert len(response.json()["manufacturing_instructions"]) == 4
    latest = mbr.history.latest()
    assert latest.history_change_reason == "Added a drying step"
    assert latest.history_user == author


def test_full_update_of_a_draft(author, make_draft_mbr, api_client_for):
    mbr = make_draft_mbr()
    response = api_client_for(author).put(f"{URL}{mbr.pk}/", payload(mbr.product_code, title="Renamed"))
    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "Renamed"


def test_a_yield_limit_is_checked_against_the_stored_other_limit(author, make_draft_mbr, api_client_for):
    mbr = make_draft_mbr(yield_limit_min=Decimal("95"), yield_limit_max=Decimal("102"))
    response = api_client_for(author).patch(f"{URL}{mbr.pk}/", {"yield_limit_min": "103"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("yield_limit_min:")


def test_product_code_of_a_first_draft_may_change_to_an_unused_one(author, make_draft_mbr, api_client_for):
    mbr = make_draft_mbr()
    taken = make_draft_mbr()
    client = api_client_for(author)
    refused = client.patch(f"{URL}{mbr.pk}/", {"product_code": taken.product_code})
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("product_code:")
    assert client.patch(f"{URL}{mbr.pk}/", {"product_code": "NEW-1"}).json()["product_code"] == "NEW-1"


def test_product_code_of_a_new_version_is_fixed(author, make_approved_mbr, api_client_for):
    client = api_client_for(author)
    v2 = client.post(f"{URL}{make_approved_mbr().pk}/new_version/").json()
    response = client.patch(f"{URL}{v2['id']}/", {"product_code": "ELSEWHERE"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("product_code:")


def _unchanged(mbr):
    mbr.refresh_from_db()
    return (mbr.title, mbr.status, mbr.history.count(), mbr.signatures.count())


@pytest.mark.parametrize("method", ["patch", "put"])
def test_edit_outside_draft_is_409_naming_the_status(author, make_draft_mbr, api_client_for, method):
    mbr = submit_mbr(make_draft_mbr(), actor=author)
    before = _unchanged(mbr)
    client = api_client_for(author)
    response = getattr(client, method)(f"{URL}{mbr.pk}/", payload(mbr.product_code, title="Sneaky"))
    assert response.status_code == 409
    assert response.json()["current_status"] == "in_review"
    assert "in_review" in response.json()["detail"]
    assert _unchanged(mbr) == before


def test_edit_of_an_approved_record_is_409_and_keeps_its_signature_valid(author, make_approved_mbr, api_client_for):
    mbr = make_approved_mbr()
    client = api_client_for(author)
    response = client.patch(f"{URL}{mbr.pk}/", {"title": "Sneaky"})
    assert response.status_code == 409
    assert "approved" in response.json()["detail"]
    body = client.get(f"{URL}{mbr.pk}/").json()
    assert body["title"] == mbr.title
    assert body["signatures"][0]["valid"] is True


def test_role_without_change_permission_cannot_edit(qa_approver, make_draft_mbr, api_client_for):
    mbr = make_draft_mbr()
    assert api_client_for(qa_approver).patch(f"{URL}{mbr.pk}/", {"title": "x"}).status_code == 403


def test_a_draft_can_be_deleted(author, make_draft_mbr, api_client_for):
    mbr = make_draft_mbr()
    assert api_client_for(author).delete(f"{URL}{mbr.pk}/").status_code == 204
    assert not MasterBatchRecord.objects.filter(pk=mbr.pk).exists()
    assert mbr.history.latest().history_type == "-"


@pytest.mark.parametrize("state", ["in_review", "approved", "superseded"])
def test_delete_outside_draft_is_409(author, qa_approver, make_draft_mbr, make_approved_mbr, api_client_for, state):
    from batch_records.services.mbr import supersede_mbr

    if state == "in_review":
        mbr = submit_mbr(make_draft_mbr(), actor=author)
    else:
        mbr = make_approved_mbr()
        if state == "superseded":
            mbr = supersede_mbr(mbr, actor=qa_approver)
    history = mbr.history.count()
    response = api_client_for(author).delete(f"{URL}{mbr.pk}/")
    assert response.status_code == 409
    assert state in response.json()["detail"]
    assert MasterBatchRecord.objects.filter(pk=mbr.pk, status=state).exists()
    assert mbr.history.count() == history


def test_role_without_delete_permission_cannot_delete(qa_approver, make_draft_mbr, api_client_for):
    mbr = make_draft_mbr()
    assert api_client_for(qa_approver).delete(f"{URL}{mbr.pk}/").status_code == 403
    assert MasterBatchRecord.objects.filter(pk=mbr.pk).exists()


def test_history_route_shows_the_lifecycle(author, make_approved_mbr, api_client_for):
    mbr = make_approved_mbr()
    entries = api_client_for(author).get(f"{URL}{mbr.pk}/history/").json()["results"]
    assert [entry["reason"] for entry in entries][-2:] == ["Submitted for review", "Approved"]
    status_changes = [c for entry in entries for c in entry["changes"] if c["field"] == "status"]
    assert [(c["old"], c["new"]) for c in status_changes] == [
        (None, "draft"),
        ("draft", "in_review"),
        ("in_review", "approved"),
    ]


# --- list, filters, search, ordering ----------------------------------------------------


def test_list_rows_are_light_and_name_the_people(author, make_approved_mbr, api_client_for):
    make_approved_mbr()
    row = api_client_for(author).get(URL).json()["results"][0]
    assert "manufacturing_instructions" not in row
    assert "bill_of_materials" not in row
    assert "signatures" not in row
    assert (row["author"], row["approved_by"], row["status"], row["version"]) == (
        "author",
        "qa_approver",
        "approved",
        1,
    )


def test_list_query_count_does_not_grow_with_rows(
    author, make_draft_mbr, make_approved_mbr, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(author)
    make_draft_mbr()
    make_approved_mbr()
    with django_assert_max_num_queries(10) as few:
        assert client.get(URL).status_code == 200
    for _ in range(8):
        make_draft_mbr()
        make_approved_mbr()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(URL).json()["count"] == 18


def test_detail_query_count_does_not_grow_with_signatures(
    author, qa_approver, make_approved_mbr, api_client_for, django_assert_max_num_queries
):
    from batch_records.services.mbr import obsolete_mbr, supersede_mbr

    client = api_client_for(author)
    one = make_approved_mbr()
    with django_assert_max_num_queries(10) as few:
        client.get(f"{URL}{one.pk}/")
    many = supersede_mbr(make_approved_mbr(), actor=qa_approver)
    obsolete_mbr(many, actor=qa_approver, reason="Withdrawn", password=PASSWORD)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(f"{URL}{many.pk}/").json()["signatures"]) == 2


@pytest.fixture
def catalogue(author, make_draft_mbr, make_approved_mbr):
    line = ProductLine.objects.create(code="LIQ", name="Liquids")
    return {
        "tablets": make_approved_mbr(product_code="TAB-1", title="Tablet compression", product_name="Tablets"),
        "syrup": make_draft_mbr(
            product_code="SYR-1", title="Syrup mixing", product_name="Cough syrup", product_line=line
        ),
        "cream": submit_mbr(
            make_draft_mbr(
                product_code="CRM-1", title="Cream filling", product_name="Skin cream", effective_date="2031-06-01"
            ),
            actor=author,
        ),
        "line": line,
    }


def _codes(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.json()
    return sorted(row["product_code"] for row in response.json()["results"])


def test_filters(author, catalogue, api_client_for):
    client = api_client_for(author)
    assert _codes(client, status="draft") == ["SYR-1"]
    assert client.get(f"{URL}?status=draft&status=in_review").json()["count"] == 2
    assert _codes(client, product_code="TAB-1") == ["TAB-1"]
    assert _codes(client, product_line=catalogue["line"].pk) == ["SYR-1"]
    assert _codes(client, effective_date__gte="2031-01-01") == ["CRM-1"]
    assert _codes(client, effective_date__lte="2031-01-01") == ["TAB-1"]
    assert _codes(client, created_at__date__gte="2000-01-01") == ["CRM-1", "SYR-1", "TAB-1"]
    assert _codes(client, created_at__date__lte="2000-01-01") == []
    assert _codes(client, mbr_id=catalogue["syrup"].mbr_id) == ["SYR-1"]
    assert client.get(URL, {"status": "nonsense"}).status_code == 400


@pytest.mark.parametrize(
    ("term", "expected"),
    [("syrup", ["SYR-1"]), ("Tablet compression", ["TAB-1"]), ("CRM", ["CRM-1"]), ("skin", ["CRM-1"])],
)
def test_search(author, catalogue, api_client_for, term, expected):
    assert _codes(api_client_for(author), search=term) == expected


def test_search_by_mbr_id(author, catalogue, api_client_for):
    assert _codes(api_client_for(author), search=catalogue["cream"].mbr_id) == ["CRM-1"]


def test_ordering(author, catalogue, api_client_for):
    client = api_client_for(author)

    def ordered(key):
        return [row["product_code"] for row in client.get(URL, {"ordering": key}).json()["results"]]

    assert ordered("product_code") == ["CRM-1", "SYR-1", "TAB-1"]
    assert ordered("-product_code") == ["TAB-1", "SYR-1", "CRM-1"]
    assert ordered("title") == ["CRM-1", "SYR-1", "TAB-1"]


def test_default_ordering_is_newest_first(author, api_client_for):
    first = MasterBatchRecordFactory(author=author)
    second = MasterBatchRecordFactory(author=author)
    ids = [row["id"] for row in api_client_for(author).get(URL).json()["results"]]
    assert ids == [second.pk, first.pk]
