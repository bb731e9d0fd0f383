"""Dispensing a batch material draws from inventory lots (21 CFR 211.84): one named lot,
an explicit lot plan or FEFO; consumption movements and allocations are written in the
dispense transaction, and any refusal rolls all of it back. A return puts the quantity
back into the same lots."""

from decimal import Decimal

import pytest

from batch_records.models import BatchMaterial
from core.models import Signature
from inventory import allocation, services
from inventory.models import BatchMaterialLot, Lot, LotMovement
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
MATERIALS = "/api/batch_records/batch-materials/"


@pytest.fixture
def api_line(make_started_batch):
    """The API-001 line of a batch in production: 50 kg required."""
    return make_started_batch().materials.get(material_code="API-001")


def dispense(client, material, **body):
    return client.post(f"{MATERIALS}{material.pk}/dispense/", {"password": PASSWORD, **body}, format="json")


def on_hand(lot):
    return Lot.objects.get(pk=lot.pk).quantity_on_hand


def test_dispense_from_a_named_lot_draws_from_it(stock, api_line, operator, api_client_for):
    lot = stock("API-001", "80", unit_price="2.5")
    response = dispense(api_client_for(operator), api_line, lot_number=lot.lot_id, quantity="50")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["lot_number"], body["quantity_dispensed"]) == ("dispensed", lot.lot_id, "50.0000")
    assert on_hand(lot) == Decimal("30")
    movement = LotMovement.objects.get(lot=lot, kind="consumption")
    assert (movement.quantity, movement.balance_after) == (Decimal("-50"), Decimal("30"))
    assert (movement.batch_id, movement.batch_material_id, movement.actor) == (api_line.batch_id, api_line.pk, operator)
    allocation = BatchMaterialLot.objects.get(batch_material=api_line)
    assert (allocation.lot, allocation.quantity, allocation.sequence) == (lot, Decimal("50"), 1)


def test_dispense_with_auto_draws_fefo_and_summarises_the_lots(stock, api_line, operator, api_client_for):
    late = stock("API-001", "40", days_to_expiry=90)
    early = stock("API-001", "30", days_to_expiry=30)
    response = dispense(api_client_for(operator), api_line, quantity="50", auto=True)
    assert response.status_code == 200, response.json()
    assert response.json()["lot_number"] == f"{early.lot_id}, {late.lot_id}"
    allocations = BatchMaterialLot.objects.filter(batch_material=api_line).order_by("sequence")
    assert [(a.lot_id, a.quantity) for a in allocations] == [(early.pk, Decimal("30")), (late.pk, Decimal("20"))]
    assert (on_hand(early), on_hand(late)) == (Decimal("0"), Decimal("20"))


def test_dispense_with_an_explicit_plan(stock, api_line, operator, api_client_for):
    first = stock("API-001", "40", days_to_expiry=90)
    second = stock("API-001", "40", days_to_expiry=30)
    plan = [{"lot": first.lot_id, "quantity": "35"}, {"lot": second.lot_id, "quantity": "15"}]
    response = dispense(api_client_for(operator), api_line, quantity="50", lot_plan=plan)
    assert response.status_code == 200, response.json()
    assert response.json()["lot_number"] == f"{first.lot_id}, {second.lot_id}"
    assert (on_hand(first), on_hand(second)) == (Decimal("5"), Decimal("25"))


@pytest.mark.parametrize("disposition", ["quarantine", "rejected", "wrong_material"])
def test_dispense_from_an_unusable_lot_is_409_naming_the_lot(
    disposition, stock, receive, qa_approver, api_line, operator, api_client_for
):
    if disposition == "quarantine":
        lot = receive("API-001", "80")
    elif disposition == "rejected":
        lot = services.reject_lot(receive("API-001", "80"), actor=qa_approver, reason="Wet", password=PASSWORD)
    else:
        lot = stock("EXC-002", "80")
    response = dispense(api_client_for(operator), api_line, lot_number=lot.lot_id, quantity="50")
    assert response.status_code == 409
    body = response.json()
    assert body["lot"] == lot.lot_id
    assert lot.lot_id in body["detail"]
    assert body["lot_status"] == ("released" if disposition == "wrong_material" else disposition)
    assert BatchMaterial.objects.get(pk=api_line.pk).status == "pending"
    assert on_hand(lot) == Decimal("80")


def test_dispense_from_a_lot_past_its_expiry_is_409(stock, api_line, operator, api_client_for, clock):
    lot = stock("API-001", "80", days_to_expiry=1)
    client = api_client_for(operator)
    clock.days_ahead(2)
    response = dispense(client, api_line, lot_plan=[{"lot": lot.lot_id, "quantity": "50"}], quantity="50")
    assert response.status_code == 409
    assert (response.json()["lot"], response.json()["lot_status"]) == (lot.lot_id, "expired")


def test_a_refusal_after_drawing_rolls_every_lot_back(stock, receive, api_line, operator, api_client_for):
    """The first lot of the plan is drawn, the second is refused: nothing at all remains."""
    good = stock("API-001", "80")
    held = receive("API-001", "80")
    plan = [{"lot": good.lot_id, "quantity": "30"}, {"lot": held.lot_id, "quantity": "20"}]
    histories = Lot.history.count()
    response = dispense(api_client_for(operator), api_line, quantity="50", lot_plan=plan)
    assert response.status_code == 409
    assert on_hand(good) == Decimal("80")
    assert not LotMovement.objects.filter(kind="consumption").exists()
    assert not BatchMaterialLot.objects.exists()
    assert Lot.history.count() == histories
    material = BatchMaterial.objects.get(pk=api_line.pk)
    assert (material.status, material.lot_number, material.quantity_dispensed) == ("pending", "", None)


def test_a_wrong_password_rolls_the_draw_back(stock, api_line, operator, api_client_for):
    """The signature comes after the draw; refusing it undoes the movements too."""
    lot = stock("API-001", "80")
    response = api_client_for(operator).post(
        f"{MATERIALS}{api_line.pk}/dispense/", {"password": "wrong", "quantity": "50", "auto": True}, format="json"
    )
    assert response.status_code == 403
    assert on_hand(lot) == Decimal("80")
    assert not LotMovement.objects.filter(kind="consumption").exists()
    assert not BatchMaterialLot.objects.exists()
    assert not Signature.objects.filter(meaning="dispensed").exists()


def test_a_material_kept_in_the_inventory_needs_an_inventory_lot(materials, api_line, operator, api_client_for):
    response = dispense(api_client_for(operator), api_line, lot_number="SUPPLIER-42", quantity="50")
    assert response.status_code == 400
    assert "211.84" in response.json()["errors"]["lot_number"][0]
    assert BatchMaterial.objects.get(pk=api_line.pk).status == "pending"


def test_a_material_not_in_the_inventory_keeps_a_free_text_lot_number(api_line, operator, api_client_for):
    response = dispense(api_client_for(operator), api_line, lot_number="SUPPLIER-42", quantity="50")
    assert response.status_code == 200, response.json()
    assert response.json()["lot_number"] == "SUPPLIER-42"
    assert not LotMovement.objects.exists()
    assert not BatchMaterialLot.objects.exists()


def test_requiring_inventory_lots_refuses_free_text_for_every_material(settings, api_line, operator, api_client_for):
    settings.EBR_REQUIRE_INVENTORY_LOTS = True
    response = dispense(api_client_for(operator), api_line, lot_number="SUPPLIER-42", quantity="50")
    assert response.status_code == 400
    assert "lot_number" in response.json()["errors"]


def test_a_known_lot_is_checked_even_when_inventory_lots_are_not_required(
    settings, receive, api_line, operator, api_client_for
):
    settings.EBR_REQUIRE_INVENTORY_LOTS = False
    lot = receive("API-001", "80")
    response = dispense(api_client_for(operator), api_line, lot_number=lot.lot_id, quantity="50")
    assert response.status_code == 409


def test_a_lot_of_another_site_cannot_be_named(
    stock, other_site, records_admin, qa_approver, api_line, operator, api_client_for
):
    records_admin.sites.add(other_site)
    qa_approver.sites.add(other_site)
    foreign = stock("API-001", "80", lot_site=other_site)
    response = dispense(api_client_for(operator), api_line, lot_number=foreign.lot_id, quantity="50")
    assert response.status_code == 400
    assert on_hand(foreign) == Decimal("80")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"quantity": "50"}, {"lot_number"}),
        ({"quantity": "50", "auto": True, "lot_number": "LOT-0001"}, {"lot_number", "auto"}),
        ({"quantity": "50", "auto": True, "lot_plan": [{"lot": "LOT-0001", "quantity": "50"}]}, {"lot_plan", "auto"}),
        ({"quantity": "50", "lot_plan": []}, {"lot_plan"}),
        ({"quantity": "50", "lot_plan": [{"lot": "LOT-0001", "quantity": "20"}]}, {"lot_plan"}),
    ],
)
def test_where_from_must_be_said_exactly_once(body, fields, stock, api_line, operator, api_client_for):
    stock("API-001", "80")
    response = dispense(api_client_for(operator), api_line, **body)
    assert response.status_code == 400, response.json()
    assert set(response.json()["errors"]) == fields


def test_return_puts_the_quantity_back_into_the_same_lots(stock, api_line, operator, api_client_for):
    early = stock("API-001", "30", days_to_expiry=30)
    late = stock("API-001", "40", days_to_expiry=90)
    client = api_client_for(operator)
    assert dispense(client, api_line, quantity="50", auto=True).status_code == 200
    response = client.post(f"{MATERIALS}{api_line.pk}/return/", {"reason": "Batch stopped"}, format="json")
    assert response.status_code == 200, response.json()
    assert (on_hand(early), on_hand(late)) == (Decimal("30"), Decimal("40"))
    returns = LotMovement.objects.filter(kind="return").order_by("lot_id")
    assert [(m.lot_id, m.quantity, m.batch_material_id) for m in returns] == [
        (early.pk, Decimal("30"), api_line.pk),
        (late.pk, Decimal("20"), api_line.pk),
    ]
    allocations = BatchMaterialLot.objects.filter(batch_material=api_line)
    assert all(a.quantity_returned == a.quantity for a in allocations)


def test_long_lot_summaries_fit_the_lot_number_field():
    lot_ids = [f"LOT-{number:04d}" for number in range(1, 12)]
    summary = allocation.lot_summary(lot_ids)
    assert len(summary) <= 50
    assert summary.startswith("LOT-0001, LOT-0002")
    assert summary.endswith("more")


def test_dispense_through_the_service_with_a_lot_plan(stock, api_line, operator):
    from batch_records.services.materials import dispense_material

    lot = stock("API-001", "80")
    material = dispense_material(
        api_line,
        actor=operator,
        quantity=Decimal("50"),
        lot_plan=[{"lot": lot.lot_id, "quantity": Decimal("50")}],
        password=PASSWORD,
    )
    assert material.lot_number == lot.lot_id
    assert on_hand(lot) == Decimal("30")
