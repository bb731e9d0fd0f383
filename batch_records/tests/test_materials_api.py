"""Reading batch materials through the API: shapes, no writes but the actions, site
scoping, filters, search, ordering, query budgets, and the batch detail that nests them."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batch_records.services.batches import create_batch, start_batch
from batch_records.services.materials import consume_material, dispense_material, verify_material
from users.roles import OPERATOR, VERIFIER
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
MATERIALS = "/api/batch_records/batch-materials/"
BATCHES = "/api/batch_records/batch-records/"


def dispensed(material, operator, lot="LOT-7", quantity="50"):
    return dispense_material(material, actor=operator, lot_number=lot, quantity=Decimal(quantity), password=PASSWORD)


@pytest.fixture
def other_site_material(other_site, make_approved_mbr):
    planner = UserFactory(username="lead_s2")
    planner.groups.add(Group.objects.get(name=VERIFIER), Group.objects.get(name=OPERATOR))
    planner.sites.add(other_site)
    batch = create_batch(
        make_approved_mbr(),
        actor=planner,
        batch_number="S2-0001",
        lot_number="S2-L1",
        quantity_planned=Decimal("10"),
        site=other_site,
    )
    return start_batch(batch, actor=planner).materials.get(material_code="API-001")


def codes(response):
    assert response.status_code == 200, response.json()
    return [(row["batch_id"], row["material_code"]) for row in response.json()["results"]]


# --- shapes ----------------------------------------------------------------------------


def test_material_list_rows_are_light(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    rows = api_client_for(operator).get(MATERIALS).json()["results"]
    assert [(row["batch_id"], row["line_number"], row["material_code"]) for row in rows] == [
        (batch.batch_id, 1, "API-001"),
        (batch.batch_id, 2, "EXC-002"),
    ]
    row = rows[0]
    assert (row["material_name"], row["unit_of_measure"], row["quantity_required"]) == ("Paracetamol", "kg", "50.0000")
    assert (row["status"], row["lot_number"], row["quantity_dispensed"], row["quantity_used"]) == (
        "pending",
        "",
        None,
        None,
    )
    assert not {"signatures", "allowed_actions", "deviations"} & set(row)


def test_material_detail_shows_signatures_actions_deviations_and_audit(
    make_started_batch, operator, verifier, api_client_for
):
    material = make_started_batch().materials.get(material_code="API-001")
    material = verify_material(dispensed(material, operator, quantity="55"), actor=verifier, password=PASSWORD)
    consume_material(material, actor=operator, quantity_used=Decimal("55"))
    body = api_client_for(verifier).get(f"{MATERIALS}{material.pk}/").json()
    assert (body["status"], body["lot_number"], body["quantity_dispensed"], body["quantity_used"]) == (
        "consumed",
        "LOT-7",
        "55.0000",
        "55.0000",
    )
    assert (body["dispensed_by"], body["verified_by"], body["consumed_by"]) == ("operator", "verifier", "operator")
    # The quantity used is not covered by the dispensing and verification signatures.
    assert [(signature["meaning"], signature["valid"]) for signature in body["signatures"]] == [
        ("dispensed", True),
        ("verified", True),
    ]
    assert len(body["deviations"]) == 1
    assert body["allowed_actions"] == []
    assert (body["created_by"], body["updated_by"]) == ("verifier", "operator")
    assert body["batch_id"] == material.batch.batch_id


def test_allowed_actions_follow_status_and_role(make_started_batch, operator, verifier, api_client_for):
    material = make_started_batch().materials.get(material_code="API-001")
    url = f"{MATERIALS}{material.pk}/"
    assert api_client_for(operator).get(url).json()["allowed_actions"] == ["dispense"]
    assert api_client_for(verifier).get(url).json()["allowed_actions"] == []
    dispensed(material, operator)
    assert api_client_for(operator).get(url).json()["allowed_actions"] == ["return"]
    assert api_client_for(verifier).get(url).json()["allowed_actions"] == ["verify"]


def test_material_history_shows_each_action_with_its_reason(make_started_batch, operator, api_client_for):
    material = dispensed(make_started_batch().materials.get(material_code="API-001"), operator)
    response = api_client_for(operator).get(f"{MATERIALS}{material.pk}/history/")
    assert response.status_code == 200
    entries = response.json()["results"]
    assert entries[-1]["reason"] == "Dispensed 50.0000 kg of lot LOT-7"
    changes = {change["field"]: (change["old"], change["new"]) for change in entries[-1]["changes"]}
    assert changes["status"] == ("pending", "dispensed")
    assert changes["lot_number"] == ("", "LOT-7")


def test_batch_detail_nests_materials_with_their_execution_fields(
    make_started_batch, operator, verifier, api_client_for
):
    batch = make_started_batch()
    material = batch.materials.get(material_code="API-001")
    verify_material(dispensed(material, operator), actor=verifier, password=PASSWORD)
    body = api_client_for(operator).get(f"{BATCHES}{batch.pk}/").json()
    nested = next(row for row in body["materials"] if row["id"] == material.pk)
    assert (nested["status"], nested["lot_number"], nested["quantity_dispensed"]) == ("verified", "LOT-7", "50.0000")
    assert (nested["dispensed_by"], nested["verified_by"]) == ("operator", "verifier")
    assert nested["dispensed_at"] is not None
    assert nested["verified_at"] is not None
    assert [signature["meaning"] for signature in nested["signatures"]] == ["dispensed", "verified"]
    assert nested["allowed_actions"] == ["consume", "return"]


# --- no writes but the actions ---------------------------------------------------------


def test_materials_cannot_be_created_through_the_api(make_started_batch, verifier, operator, api_client_for):
    batch = make_started_batch()
    payload = {"batch": batch.pk, "material_code": "X", "material_name": "X", "quantity_required": "1"}
    for user in (operator, verifier):
        assert api_client_for(user).post(MATERIALS, payload, format="json").status_code == 405
    assert batch.materials.count() == 2


@pytest.mark.parametrize("method", ["patch", "put"])
def test_materials_cannot_be_edited(method, make_started_batch, operator, api_client_for):
    material = make_started_batch().materials.get(material_code="API-001")
    response = getattr(api_client_for(operator), method)(
        f"{MATERIALS}{material.pk}/", {"quantity_required": "1", "lot_number": "X"}, format="json"
    )
    assert response.status_code == 405
    material.refresh_from_db()
    assert (material.quantity_required, material.lot_number) == (Decimal("50"), "")


@pytest.mark.parametrize("persona", ["operator", "verifier", "records_admin"])
def test_materials_are_kept_delete_is_409(persona, request, make_batch, api_client_for):
    material = make_batch().materials.get(material_code="API-001")
    response = api_client_for(request.getfixturevalue(persona)).delete(f"{MATERIALS}{material.pk}/")
    assert response.status_code == 409
    assert (response.json()["action"], response.json()["current_status"]) == ("delete", "pending")
    assert "GMP records are kept" in response.json()["detail"]
    assert material.batch.materials.filter(pk=material.pk).exists()


# --- site scoping ----------------------------------------------------------------------


def test_another_sites_material_is_not_found(other_site_material, make_started_batch, operator, api_client_for):
    make_started_batch()
    client = api_client_for(operator)
    assert client.get(f"{MATERIALS}{other_site_material.pk}/").status_code == 404
    response = client.post(
        f"{MATERIALS}{other_site_material.pk}/dispense/",
        {"lot_number": "LOT-X", "quantity": "5", "password": PASSWORD},
    )
    assert response.status_code == 404
    other_site_material.refresh_from_db()
    assert other_site_material.status == "pending"
    listed = {row["id"] for row in client.get(MATERIALS).json()["results"]}
    assert other_site_material.pk not in listed
    assert len(listed) == 2


# --- filters, search, ordering ---------------------------------------------------------


def test_material_filters(make_started_batch, operator, api_client_for):
    first, second = make_started_batch(), make_started_batch()
    dispensed(first.materials.get(material_code="API-001"), operator, lot="LOT-A")
    dispensed(second.materials.get(material_code="EXC-002"), operator, lot="LOT-B", quantity="25")
    client = api_client_for(operator)
    assert codes(client.get(MATERIALS, {"batch": first.pk})) == [
        (first.batch_id, "API-001"),
        (first.batch_id, "EXC-002"),
    ]
    assert set(codes(client.get(MATERIALS, {"status": "dispensed"}))) == {
        (first.batch_id, "API-001"),
        (second.batch_id, "EXC-002"),
    }
    assert len(codes(client.get(MATERIALS, {"status": ["dispensed", "pending"]}))) == 4
    assert codes(client.get(MATERIALS, {"status": "consumed"})) == []
    assert set(codes(client.get(MATERIALS, {"material_code": "EXC-002"}))) == {
        (first.batch_id, "EXC-002"),
        (second.batch_id, "EXC-002"),
    }
    assert codes(client.get(MATERIALS, {"lot_number": "LOT-B"})) == [(second.batch_id, "EXC-002")]
    assert codes(client.get(MATERIALS, {"dispensed_by": operator.pk, "batch": first.pk})) == [
        (first.batch_id, "API-001")
    ]
    assert client.get(MATERIALS, {"status": "nonsense"}).status_code == 400


def test_material_search_and_ordering(make_started_batch, operator, api_client_for):
    first, second = make_started_batch(), make_started_batch()
    dispensed(second.materials.get(material_code="API-001"), operator, lot="LOT-SEARCH-1")
    client = api_client_for(operator)
    assert codes(client.get(MATERIALS, {"search": "lactose"})) == [
        (first.batch_id, "EXC-002"),
        (second.batch_id, "EXC-002"),
    ]
    assert codes(client.get(MATERIALS, {"search": "search-1"})) == [(second.batch_id, "API-001")]
    assert len(codes(client.get(MATERIALS, {"search": "API-0"}))) == 2
    required = [
        row["quantity_required"] for row in client.get(MATERIALS, {"ordering": "-quantity_required"}).json()["results"]
    ]
    assert required == ["50.0000", "50.0000", "25.0000", "25.0000"]
    lines = [
        (row["material_code"], row["batch_id"])
        for row in client.get(MATERIALS, {"ordering": "material_code,-batch__batch_id"}).json()["results"]
    ]
    assert lines == [
        ("API-001", second.batch_id),
        ("API-001", first.batch_id),
        ("EXC-002", second.batch_id),
        ("EXC-002", first.batch_id),
    ]


# --- query budgets ---------------------------------------------------------------------


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_material_list_query_count_does_not_grow_with_rows(make_started_batch, operator, verifier, api_client_for):
    client = api_client_for(operator)
    batch = make_started_batch()
    verify_material(
        dispensed(batch.materials.get(material_code="API-001"), operator), actor=verifier, password=PASSWORD
    )
    few = count_queries(client, MATERIALS)
    for _ in range(4):
        other = make_started_batch()
        for material in other.materials.all():
            verify_material(dispensed(material, operator), actor=verifier, password=PASSWORD)
    assert count_queries(client, MATERIALS) == few
    assert count_queries(client, f"{MATERIALS}?status=verified&search=LOT") == few


def test_material_detail_query_count_does_not_grow_with_signatures(
    make_started_batch, operator, verifier, api_client_for
):
    client = api_client_for(operator)
    batch = make_started_batch()
    plain, busy = batch.materials.order_by("line_number")
    few = count_queries(client, f"{MATERIALS}{plain.pk}/")
    busy = verify_material(dispensed(busy, operator, quantity="25"), actor=verifier, password=PASSWORD)
    consume_material(busy, actor=operator, quantity_used=Decimal("20"))
    assert busy.deviations.count() == 1
    assert count_queries(client, f"{MATERIALS}{busy.pk}/") == few
