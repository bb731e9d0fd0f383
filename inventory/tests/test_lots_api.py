"""Materials, lots and the ledger through the API: receipt into quarantine, release and
rejection signed by QA, expiry, adjustment; every refused transition; roles; site scoping;
filters, search and query budgets."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import Lot, LotMovement, Material
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
MATERIALS = "/api/inventory/materials/"
LOTS = "/api/inventory/lots/"
MOVEMENTS = "/api/inventory/movements/"


def in_days(days):
    return (timezone.localdate() + datetime.timedelta(days=days)).isoformat()


def receipt(site, **overrides):
    return {
        "material": "API-001",
        "site": site.pk,
        "supplier": "Acme Pharma",
        "supplier_lot": "ACM-2291",
        "expiry_date": in_days(365),
        "quantity": "120.5",
        "unit_price": "2.75",
        **overrides,
    }


# --- materials -------------------------------------------------------------------------


def test_records_admin_manages_materials(records_admin, api_client_for):
    client = api_client_for(records_admin)
    created = client.post(MATERIALS, {"code": "API-001", "name": "Paracetamol", "unit_of_measure": "kg"})
    assert created.status_code == 201, created.json()
    material = created.json()
    assert (material["standard_cost"], material["created_by"]) == ("0.0000", "records_admin")
    patched = client.patch(f"{MATERIALS}{material['id']}/", {"standard_cost": "3.2", "reason": "Price list 2026"})
    assert patched.status_code == 200
    assert patched.json()["standard_cost"] == "3.2000"
    assert client.delete(f"{MATERIALS}{material['id']}/").status_code == 204


def test_other_roles_read_materials_but_do_not_write_them(materials, operator, qa_approver, api_client_for):
    for user in (operator, qa_approver):
        client = api_client_for(user)
        assert client.get(MATERIALS).json()["count"] == 2
        assert client.post(MATERIALS, {"code": "X", "name": "X", "unit_of_measure": "kg"}).status_code == 403


def test_a_material_with_lots_is_kept_and_keeps_its_code(receive, materials, records_admin, api_client_for):
    receive("API-001", "10")
    client = api_client_for(records_admin)
    material = materials["API-001"]
    assert client.delete(f"{MATERIALS}{material.pk}/").status_code == 409
    response = client.patch(f"{MATERIALS}{material.pk}/", {"code": "API-999"})
    assert response.status_code == 400
    assert "code" in response.json()["errors"]
    assert client.patch(f"{MATERIALS}{material.pk}/", {"name": "Paracetamol BP"}).status_code == 200


def test_material_codes_are_unique(materials, records_admin, api_client_for):
    response = api_client_for(records_admin).post(MATERIALS, {"code": "API-001", "name": "x", "unit_of_measure": "kg"})
    assert response.status_code == 400


# --- receipt ---------------------------------------------------------------------------


def test_receive_a_lot_into_quarantine_with_a_receipt_movement(materials, records_admin, site, api_client_for):
    response = api_client_for(records_admin).post(LOTS, receipt(site))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["lot_id"] == "LOT-0001"
    assert (body["status"], body["quantity_on_hand"], body["unit_price"]) == ("quarantine", "120.5000", "2.7500")
    assert (body["material_code"], body["site_code"], body["supplier_lot"]) == ("API-001", "S1", "ACM-2291")
    assert body["allowed_actions"] == ["adjust"]
    movement = LotMovement.objects.get(lot_id=body["id"])
    assert (movement.kind, movement.quantity, movement.actor) == ("receipt", Decimal("120.5"), records_admin)


def test_lot_ids_come_from_the_counter(receive):
    assert [receive("API-001", "1").lot_id for _ in range(3)] == ["LOT-0001", "LOT-0002", "LOT-0003"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-5"}, "quantity"),
        ({"expiry_date": in_days(-1)}, "expiry_date"),
        ({"unit_price": "-1"}, "unit_price"),
        ({"material": "NOPE"}, "material"),
        ({"supplier": ""}, "supplier"),
        ({"status": "released"}, "status"),
        ({"quantity_on_hand": "5"}, "quantity_on_hand"),
    ],
)
def test_receipt_validation_names_the_field(overrides, field, materials, records_admin, site, api_client_for):
    response = api_client_for(records_admin).post(LOTS, receipt(site, **overrides))
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Lot.objects.exists()


def test_receipt_for_a_site_not_ones_own_is_refused(materials, records_admin, other_site, api_client_for):
    response = api_client_for(records_admin).post(LOTS, receipt(other_site))
    assert response.status_code == 400
    assert "site" in response.json()["errors"]


def test_only_records_admins_receive_lots(materials, operator, qa_approver, site, api_client_for):
    for user in (operator, qa_approver):
        assert api_client_for(user).post(LOTS, receipt(site)).status_code == 403


# --- release, reject, expire, adjust ----------------------------------------------------


def test_qa_approver_releases_a_lot_with_a_signature(receive, qa_approver, api_client_for):
    lot = receive("API-001", "10")
    response = api_client_for(qa_approver).post(f"{LOTS}{lot.pk}/release/", {"password": PASSWORD})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["released_by"]) == ("released", "qa_approver")
    assert [(s["meaning"], s["signer"], s["valid"]) for s in body["signatures"]] == [("released", "qa_approver", True)]


def test_release_with_a_wrong_password_changes_nothing(receive, qa_approver, api_client_for):
    lot = receive("API-001", "10")
    response = api_client_for(qa_approver).post(f"{LOTS}{lot.pk}/release/", {"password": "wrong"})
    assert response.status_code == 403
    lot.refresh_from_db()
    assert lot.status == "quarantine"
    assert not lot.signatures.exists()


def test_release_is_qa_only(receive, operator, records_admin, qa_reviewer, api_client_for):
    lot = receive("API-001", "10")
    for user in (operator, records_admin, qa_reviewer):
        assert api_client_for(user).post(f"{LOTS}{lot.pk}/release/", {"password": PASSWORD}).status_code == 403


def test_release_of_a_lot_past_its_expiry_is_409(receive, qa_approver, api_client_for, clock):
    lot = receive("API-001", "10", days_to_expiry=1)
    client = api_client_for(qa_approver)
    clock.days_ahead(2)
    response = client.post(f"{LOTS}{lot.pk}/release/", {"password": PASSWORD})
    assert response.status_code == 409
    assert "expired" in response.json()["detail"]


def test_reject_needs_a_reason_and_is_signed(receive, qa_approver, api_client_for):
    lot = receive("API-001", "10")
    client = api_client_for(qa_approver)
    assert client.post(f"{LOTS}{lot.pk}/reject/", {"password": PASSWORD}).status_code == 400
    response = client.post(f"{LOTS}{lot.pk}/reject/", {"password": PASSWORD, "reason": "Foreign matter"})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["disposition_reason"]) == ("rejected", "Foreign matter")
    assert [s["meaning"] for s in body["signatures"]] == ["rejected"]


def test_a_released_lot_may_be_rejected(stock, qa_approver, api_client_for):
    lot = stock("API-001", "10")
    response = api_client_for(qa_approver).post(f"{LOTS}{lot.pk}/reject/", {"password": PASSWORD, "reason": "Recall"})
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"


def test_expire_once_the_date_has_passed(stock, qa_reviewer, api_client_for, clock):
    lot = stock("API-001", "10", days_to_expiry=1)
    client = api_client_for(qa_reviewer)
    assert client.post(f"{LOTS}{lot.pk}/expire/", {}).status_code == 409
    clock.days_ahead(2)
    response = client.post(f"{LOTS}{lot.pk}/expire/", {"reason": "Shelf life over"})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "expired"


@pytest.mark.parametrize(
    ("state", "action", "body"),
    [
        ("released", "release", {"password": PASSWORD}),
        ("rejected", "release", {"password": PASSWORD}),
        ("rejected", "reject", {"password": PASSWORD, "reason": "again"}),
        ("expired", "release", {"password": PASSWORD}),
        ("expired", "reject", {"password": PASSWORD, "reason": "x"}),
        ("expired", "expire", {}),
    ],
)
def test_refused_lot_transitions_are_409_naming_status_and_action(
    state, action, body, receive, stock, qa_approver, api_client_for, clock
):
    if state == "released":
        lot = stock("API-001", "10")
    elif state == "rejected":
        lot = services.reject_lot(receive("API-001", "10"), actor=qa_approver, reason="x", password=PASSWORD)
    else:
        lot = stock("API-001", "10", days_to_expiry=1)
        clock.days_ahead(2)
        lot = services.expire_lot(lot, actor=qa_approver)
    client = api_client_for(qa_approver)
    before = Lot.history.count()
    response = client.post(f"{LOTS}{lot.pk}/{action}/", body)
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == (state, action)
    assert Lot.history.count() == before


def test_adjust_moves_the_stock_with_a_reason(stock, records_admin, api_client_for):
    lot = stock("API-001", "10")
    client = api_client_for(records_admin)
    assert client.post(f"{LOTS}{lot.pk}/adjust/", {"quantity": "-2"}).status_code == 400
    response = client.post(f"{LOTS}{lot.pk}/adjust/", {"quantity": "-2.5", "reason": "Spill"})
    assert response.status_code == 200, response.json()
    assert response.json()["quantity_on_hand"] == "7.5000"
    assert client.post(f"{LOTS}{lot.pk}/adjust/", {"quantity": "-8", "reason": "Count"}).status_code == 409
    assert client.post(f"{LOTS}{lot.pk}/adjust/", {"quantity": "0", "reason": "Count"}).status_code == 400


def test_adjust_is_not_for_operators(stock, operator, api_client_for):
    lot = stock("API-001", "10")
    response = api_client_for(operator).post(f"{LOTS}{lot.pk}/adjust/", {"quantity": "5", "reason": "x"})
    assert response.status_code == 403


def test_only_the_price_of_a_lot_may_be_edited_and_a_lot_is_never_deleted(stock, records_admin, api_client_for):
    lot = stock("API-001", "10")
    client = api_client_for(records_admin)
    response = client.patch(f"{LOTS}{lot.pk}/", {"unit_price": "3.10", "reason": "Invoice 7781"})
    assert response.status_code == 200
    assert response.json()["unit_price"] == "3.1000"
    assert response.json()["signatures"][0]["valid"] is True  # the price is not signed content
    for field, value in (("quantity_on_hand", "99"), ("status", "quarantine"), ("expiry_date", in_days(9))):
        assert client.patch(f"{LOTS}{lot.pk}/", {field: value}).status_code == 400
    assert client.delete(f"{LOTS}{lot.pk}/").status_code == 409


# --- reading ---------------------------------------------------------------------------


def test_lots_of_another_site_are_invisible(stock, other_site, records_admin, qa_approver, operator, api_client_for):
    records_admin.sites.add(other_site)
    qa_approver.sites.add(other_site)
    foreign = stock("API-001", "10", lot_site=other_site)
    client = api_client_for(operator)
    assert client.get(LOTS).json()["count"] == 0
    assert client.get(f"{LOTS}{foreign.pk}/").status_code == 404
    assert client.get(MOVEMENTS).json()["count"] == 0


def test_lot_filters_and_search(stock, receive, operator, api_client_for):
    early = stock("API-001", "10", days_to_expiry=30, supplier_lot="ACM-1")
    stock("API-001", "10", days_to_expiry=300, supplier_lot="ACM-2")
    held = receive("EXC-002", "10", days_to_expiry=60, supplier_lot="LAC-9")
    client = api_client_for(operator)

    def ids(**params):
        response = client.get(LOTS, params)
        assert response.status_code == 200, response.json()
        return {row["lot_id"] for row in response.json()["results"]}

    assert ids(material=held.material_id) == {held.lot_id}
    assert ids(material_code="EXC-002") == {held.lot_id}
    assert ids(status="quarantine") == {held.lot_id}
    assert len(ids(status=["released", "quarantine"])) == 3
    assert len(ids(site=early.site_id)) == 3
    assert ids(expiry_date__lte=in_days(31)) == {early.lot_id}
    assert ids(expiry_date__gte=in_days(31), expiry_date__lte=in_days(61)) == {held.lot_id}
    assert ids(search="ACM-1") == {early.lot_id}
    assert ids(search=held.lot_id) == {held.lot_id}
    ordered = [row["lot_id"] for row in client.get(LOTS, {"ordering": "expiry_date"}).json()["results"]]
    assert ordered[0] == early.lot_id
    assert client.get(LOTS, {"status": "nonsense"}).status_code == 400


def test_movements_are_read_only_and_filtered(stock, make_started_batch, operator, api_client_for):
    from batch_records.services.materials import dispense_material

    lot = stock("API-001", "80")
    other = stock("EXC-002", "80")
    batch = make_started_batch()
    material = batch.materials.get(material_code="API-001")
    dispense_material(material, actor=operator, quantity=Decimal("50"), lot_number=lot.lot_id, password=PASSWORD)
    client = api_client_for(operator)

    def rows(**params):
        response = client.get(MOVEMENTS, params)
        assert response.status_code == 200, response.json()
        return [(row["lot_id"], row["kind"], row["quantity"]) for row in response.json()["results"]]

    assert rows(lot=lot.pk) == [(lot.lot_id, "receipt", "80.0000"), (lot.lot_id, "consumption", "-50.0000")]
    assert rows(batch=batch.pk) == [(lot.lot_id, "consumption", "-50.0000")]
    assert rows(kind="receipt") == [(lot.lot_id, "receipt", "80.0000"), (other.lot_id, "receipt", "80.0000")]
    body = client.get(MOVEMENTS, {"batch": batch.pk}).json()["results"][0]
    assert (body["batch_id"], body["actor"], body["balance_after"]) == (batch.batch_id, "operator", "30.0000")
    movement = LotMovement.objects.filter(lot=lot).first()
    assert client.get(f"{MOVEMENTS}{movement.pk}/").status_code == 200
    assert client.post(MOVEMENTS, {}).status_code in (403, 405)
    assert client.delete(f"{MOVEMENTS}{movement.pk}/").status_code in (403, 405)


def test_lot_history_route(stock, records_admin, api_client_for):
    lot = stock("API-001", "10")
    services.adjust_lot(lot, actor=records_admin, quantity=Decimal("1"), reason="Count")
    entries = api_client_for(records_admin).get(f"{LOTS}{lot.pk}/history/").json()["results"]
    assert entries[-1]["reason"] == "Count"
    assert {"field": "quantity_on_hand", "old": "10.0000", "new": "11.0000"} in entries[-1]["changes"]


def test_lot_and_movement_lists_keep_a_constant_query_count(
    stock, operator, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(operator)
    for _ in range(2):
        stock("API-001", "10")
    with django_assert_max_num_queries(20) as few_lots:
        assert client.get(LOTS).status_code == 200
    with django_assert_max_num_queries(20) as few_movements:
        assert client.get(MOVEMENTS).status_code == 200
    for _ in range(12):
        stock("EXC-002", "10")
    with django_assert_max_num_queries(len(few_lots.captured_queries)):
        assert client.get(LOTS).json()["count"] == 14
    with django_assert_max_num_queries(len(few_movements.captured_queries)):
        assert client.get(MOVEMENTS).json()["count"] == 14


def test_lot_detail_keeps_a_constant_query_count(stock, qa_approver, api_client_for, django_assert_max_num_queries):
    lot = stock("API-001", "10")
    client = api_client_for(qa_approver)
    with django_assert_max_num_queries(20) as reads:
        assert client.get(f"{LOTS}{lot.pk}/").status_code == 200
    assert Material.objects.count() == 2
    assert len(reads.captured_queries) <= 12


def test_a_quarantined_lot_past_its_date_may_be_expired(receive, qa_approver, api_client_for, clock):
    lot = receive("API-001", "10", days_to_expiry=1)
    client = api_client_for(qa_approver)
    clock.days_ahead(2)
    response = client.post(f"{LOTS}{lot.pk}/expire/", {})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "expired"


def test_a_rejected_lot_cannot_be_expired_but_may_be_written_off(receive, qa_approver, api_client_for, clock):
    lot = services.reject_lot(
        receive("API-001", "10", days_to_expiry=1), actor=qa_approver, reason="x", password=PASSWORD
    )
    client = api_client_for(qa_approver)
    clock.days_ahead(2)
    refused = client.post(f"{LOTS}{lot.pk}/expire/", {})
    assert refused.status_code == 409
    assert (refused.json()["current_status"], refused.json()["action"]) == ("rejected", "expire")
    written_off = client.post(f"{LOTS}{lot.pk}/adjust/", {"quantity": "-10", "reason": "Destroyed"})
    assert written_off.status_code == 200
    assert written_off.json()["quantity_on_hand"] == "0.0000"
