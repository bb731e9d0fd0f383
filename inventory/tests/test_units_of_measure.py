"""Units of measure between a bill of materials and the stock (21 CFR 211.101(a)): a line in
g of a material kept in kg draws grams, exactly; a unit that cannot convert is refused when
the MBR is submitted or approved, with a 400 naming the line."""

from decimal import Decimal

import pytest

from batch_records.costing import costed_usage
from batch_records.models import MasterBatchRecord
from batch_records.services.mbr import approve_mbr, submit_mbr
from inventory.models import Lot, LotMovement, Material
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
MBRS = "/api/batch_records/master-batch-records/"
MATERIALS = "/api/batch_records/batch-materials/"


def line(code, quantity, unit):
    return {"material_code": code, "material_name": code, "quantity_per_unit": quantity, "unit_of_measure": unit}


@pytest.fixture
def grams_line(materials, stock, make_started_batch, make_approved_mbr):
    """A batch in production whose API-001 line is in g (1.5 g required) while API-001 is
    kept in kg, with a released lot of 10 kg."""
    lot = stock("API-001", "10", unit_price="2.5")
    mbr = make_approved_mbr(bill_of_materials=[line("API-001", "0.015", "g")])
    batch = make_started_batch(mbr)
    return batch.materials.get(), lot


def test_a_line_in_grams_draws_grams_from_a_lot_kept_in_kilograms(grams_line, operator, verifier, api_client_for):
    material, lot = grams_line
    response = api_client_for(operator).post(
        f"{MATERIALS}{material.pk}/dispense/",
        {"quantity": "1.5", "lot_number": lot.lot_id, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["quantity_dispensed"], body["unit_of_measure"]) == ("1.5000", "g")
    assert (body["stock_quantity_dispensed"], body["stock_unit_of_measure"]) == ("0.0015", "kg")
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == Decimal("9.9985")
    movement = LotMovement.objects.get(lot=lot, kind="consumption")
    assert movement.quantity == Decimal("-0.0015")
    assert "1.5000 g = 0.0015 kg" in movement.reason

    verified = api_client_for(verifier).post(f"{MATERIALS}{material.pk}/verify/", {"password": PASSWORD}, format="json")
    assert verified.status_code == 200, verified.json()
    consumed = api_client_for(operator).post(
        f"{MATERIALS}{material.pk}/consume/", {"quantity_used": "1.2"}, format="json"
    )
    assert consumed.status_code == 200, consumed.json()
    assert consumed.json()["stock_quantity_used"] == "0.0012"
    material.refresh_from_db()
    # Costed in the unit the lot is priced in: 0.0012 kg, not 1.2 kg.
    assert costed_usage(material) == Decimal("0.0012")


def test_returning_a_line_in_grams_puts_the_kilograms_back(grams_line, operator, api_client_for):
    material, lot = grams_line
    client = api_client_for(operator)
    client.post(
        f"{MATERIALS}{material.pk}/dispense/",
        {"quantity": "1.5", "lot_number": lot.lot_id, "password": PASSWORD},
        format="json",
    )
    response = client.post(f"{MATERIALS}{material.pk}/return/", {"reason": "Spare"}, format="json")
    assert response.status_code == 200, response.json()
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == Decimal("10")
    assert LotMovement.objects.get(lot=lot, kind="return").quantity == Decimal("0.0015")


def test_a_quantity_finer_than_the_ledger_is_refused_and_changes_nothing(grams_line, operator, api_client_for):
    material, lot = grams_line
    response = api_client_for(operator).post(
        f"{MATERIALS}{material.pk}/dispense/",
        {"quantity": "0.05", "lot_number": lot.lot_id, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 400
    assert "quantity" in response.json()["errors"]
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == Decimal("10")
    assert not LotMovement.objects.filter(kind="consumption").exists()
    material.refresh_from_db()
    assert material.status == "pending"


def test_availability_shows_both_units(grams_line, operator, api_client_for):
    material, lot = grams_line
    response = api_client_for(operator).get(f"/api/batch_records/batch-records/{material.batch_id}/availability/")
    row = response.json()["materials"][0]
    assert (row["required"], row["unit_of_measure"]) == ("1.5000", "g")
    assert (row["stock_required"], row["stock_unit_of_measure"], row["available"]) == ("0.0015", "kg", "10.0000")
    assert row["lots"][0]["quantity"] == "0.0015"


def test_a_density_lets_litres_draw_a_material_kept_in_kilograms(
    materials, stock, make_started_batch, make_approved_mbr, operator, api_client_for
):
    Material.objects.create(code="SOL-003", name="Glycerol", unit_of_measure="kg", density=Decimal("1.26"))
    lot = stock("SOL-003", "50")
    batch = make_started_batch(make_approved_mbr(bill_of_materials=[line("SOL-003", "0.02", "L")]))
    material = batch.materials.get()
    response = api_client_for(operator).post(
        f"{MATERIALS}{material.pk}/dispense/", {"quantity": "2", "auto": True, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["stock_quantity_dispensed"] == "2.5200"
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == Decimal("47.4800")


@pytest.mark.parametrize(
    ("unit", "message"),
    [("L", "density"), ("each", "do not convert"), ("bucket", "not a known unit")],
)
def test_an_inconvertible_unit_is_refused_at_submit_naming_the_line(
    unit, message, materials, make_draft_mbr, author, api_client_for
):
    mbr = make_draft_mbr(bill_of_materials=[line("EXC-002", "0.25", "kg"), line("API-001", "0.5", unit)])
    response = api_client_for(author).post(f"{MBRS}{mbr.pk}/submit/", {}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["bill_of_materials[1].unit_of_measure"]
    assert "line 2 (API-001)" in errors["bill_of_materials[1].unit_of_measure"][0]
    assert message in errors["bill_of_materials[1].unit_of_measure"][0]
    assert MasterBatchRecord.objects.get(pk=mbr.pk).status == "draft"


def test_an_inconvertible_unit_is_refused_at_approval(make_draft_mbr, author, qa_approver, api_client_for):
    mbr = submit_mbr(make_draft_mbr(bill_of_materials=[line("API-009", "2", "each")]), actor=author)
    # Registered in the inventory, in kg, after the MBR went to review.
    Material.objects.create(code="API-009", name="Active", unit_of_measure="kg")
    response = api_client_for(qa_approver).post(f"{MBRS}{mbr.pk}/approve/", {"password": PASSWORD}, format="json")
    assert response.status_code == 400
    assert "bill_of_materials[0].unit_of_measure" in response.json()["errors"]
    mbr.refresh_from_db()
    assert (mbr.status, mbr.signatures.count()) == ("in_review", 0)


def test_a_convertible_unit_is_approved(materials, make_draft_mbr, author, qa_approver):
    mbr = submit_mbr(make_draft_mbr(bill_of_materials=[line("API-001", "500", "mg")]), actor=author)
    assert approve_mbr(mbr, actor=qa_approver, password=PASSWORD).status == "approved"


def test_a_material_needs_a_known_unit_and_keeps_it_once_it_has_lots(stock, records_admin, api_client_for):
    client = api_client_for(records_admin)
    created = client.post(
        "/api/inventory/materials/", {"code": "X-1", "name": "X", "unit_of_measure": "bucket"}, format="json"
    )
    assert created.status_code == 400
    assert "unit_of_measure" in created.json()["errors"]
    lot = stock("API-001", "5")
    changed = client.patch(
        f"/api/inventory/materials/{lot.material_id}/", {"unit_of_measure": "g", "reason": "x"}, format="json"
    )
    assert changed.status_code == 400
    assert Material.objects.get(pk=lot.material_id).unit_of_measure == "kg"
