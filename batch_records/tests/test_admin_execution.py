"""Materials and equipment use in the admin: moved on only by actions calling their
services (dispensing and its verification signed); equipment logged through its service."""

from decimal import Decimal

import pytest

from batch_records.models import BatchEquipment
from batch_records.services.equipment_usage import add_batch_equipment, verify_calibration, verify_cleaning
from batch_records.services.materials import dispense_material, verify_material
from batch_records.tests.test_admin_actions import messages_of, run_action, signatures_of
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ADMIN = "/admin/batch_records"


@pytest.fixture
def material(make_started_batch):
    return make_started_batch().materials.get(material_code="API-001")


def dispensed(material, operator):
    return dispense_material(material, actor=operator, lot_number="LOT-7", quantity="50", password=PASSWORD)


def test_dispense_action_asks_lot_quantity_and_password(material, operator, admin_client_for):
    client = admin_client_for(operator)
    page = client.post(
        f"{ADMIN}/batchmaterial/", {"action": "action_dispense_material", "_selected_action": [material.pk]}
    ).content.decode()
    assert "Meaning of this signature: <strong>dispensed</strong>" in page
    assert 'name="lot_number"' in page
    assert 'name="quantity"' in page
    run_action(
        client,
        "batchmaterial",
        "action_dispense_material",
        [material],
        lot_number="LOT-7",
        quantity="50",
        password=PASSWORD,
    )
    material.refresh_from_db()
    assert (material.status, material.lot_number, material.quantity_dispensed) == ("dispensed", "LOT-7", Decimal("50"))
    assert signatures_of(material) == [("dispensed", "operator")]


def test_dispense_action_with_a_wrong_password_changes_nothing(material, operator, admin_client_for):
    page = run_action(
        admin_client_for(operator),
        "batchmaterial",
        "action_dispense_material",
        [material],
        lot_number="LOT-7",
        quantity="50",
        password="wrong",
    )
    assert any("password is not correct" in message for message in messages_of(page))
    material.refresh_from_db()
    assert (material.status, material.lot_number, material.quantity_dispensed) == ("pending", "", None)
    assert material.signatures.count() == 0


def test_verify_material_action_by_a_second_person(material, operator, verifier, admin_client_for):
    material = dispensed(material, operator)
    run_action(admin_client_for(verifier), "batchmaterial", "action_verify_material", [material], password=PASSWORD)
    material.refresh_from_db()
    assert (material.status, material.verified_by) == ("verified", verifier)
    assert ("verified", "verifier") in signatures_of(material)


def test_verify_material_action_with_a_wrong_password_changes_nothing(material, operator, verifier, admin_client_for):
    material = dispensed(material, operator)
    page = run_action(
        admin_client_for(verifier), "batchmaterial", "action_verify_material", [material], password="wrong"
    )
    assert any("password is not correct" in message for message in messages_of(page))
    material.refresh_from_db()
    assert (material.status, material.verified_by) == ("dispensed", None)


def test_consume_action_records_the_quantity_used(material, operator, verifier, admin_client_for):
    material = verify_material(dispensed(material, operator), actor=verifier, password=PASSWORD)
    run_action(admin_client_for(operator), "batchmaterial", "action_consume_material", [material], quantity_used="50")
    material.refresh_from_db()
    assert (material.status, material.quantity_used) == ("consumed", Decimal("50"))


def test_consume_action_above_the_dispensed_quantity_is_refused(material, operator, verifier, admin_client_for):
    material = verify_material(dispensed(material, operator), actor=verifier, password=PASSWORD)
    page = run_action(
        admin_client_for(operator), "batchmaterial", "action_consume_material", [material], quantity_used="60"
    )
    assert any("quantity_used: 60" in message for message in messages_of(page))
    material.refresh_from_db()
    assert material.status == "verified"


def test_return_action_needs_a_reason(material, operator, admin_client_for):
    material = dispensed(material, operator)
    client = admin_client_for(operator)
    page = run_action(client, "batchmaterial", "action_return_material", [material])
    assert b"A reason is required" in page.content
    run_action(client, "batchmaterial", "action_return_material", [material], reason="Wrong lot")
    material.refresh_from_db()
    assert (material.status, material.return_reason) == ("returned", "Wrong lot")


# --- equipment use ---------------------------------------------------------------------


def test_equipment_is_logged_for_a_batch_through_the_service(make_started_batch, operator, admin_client_for):
    batch = make_started_batch()
    response = admin_client_for(operator).post(
        f"{ADMIN}/batchequipment/add/",
        {"batch": batch.pk, "equipment": "", "equipment_name": "Sieve 2 mm", "equipment_id_manual": "SV-2"},
    )
    assert response.status_code == 302
    usage = BatchEquipment.objects.get()
    assert (usage.batch, usage.equipment_name, usage.status, usage.created_by) == (
        batch,
        "Sieve 2 mm",
        "not_started",
        operator,
    )


def test_equipment_without_a_name_is_a_form_error(make_started_batch, operator, admin_client_for):
    batch = make_started_batch()
    page = admin_client_for(operator).post(
        f"{ADMIN}/batchequipment/add/", {"batch": batch.pk, "equipment": "", "equipment_name": ""}
    )
    assert page.status_code == 200
    assert page.context["adminform"].form.errors
    assert not BatchEquipment.objects.exists()


def test_usage_actions_verify_start_and_end(make_started_batch, operator, verifier, admin_client_for):
    usage = add_batch_equipment(make_started_batch(), actor=operator, equipment_name="Sieve")
    supervisor = admin_client_for(verifier)
    run_action(supervisor, "batchequipment", "action_verify_calibration", [usage])
    run_action(supervisor, "batchequipment", "action_verify_cleaning", [usage])
    usage.refresh_from_db()
    assert (usage.calibration_verified_by, usage.cleaning_verified_by) == (verifier, verifier)
    client = admin_client_for(operator)
    run_action(client, "batchequipment", "action_start_usage", [usage])
    usage.refresh_from_db()
    assert (usage.status, usage.started_by) == ("in_use", operator)
    run_action(client, "batchequipment", "action_end_usage", [usage])
    usage.refresh_from_db()
    assert (usage.status, usage.ended_by) == ("ended", operator)


def test_start_usage_before_the_checks_lists_what_is_missing(make_started_batch, operator, admin_client_for):
    usage = add_batch_equipment(make_started_batch(), actor=operator, equipment_name="Sieve")
    page = run_action(admin_client_for(operator), "batchequipment", "action_start_usage", [usage])
    message = " ".join(messages_of(page))
    assert "The calibration has not been verified" in message
    assert "The cleaning has not been verified" in message
    usage.refresh_from_db()
    assert usage.status == "not_started"


def test_checked_usage_page_shows_who_verified(make_started_batch, operator, verifier, records_admin, admin_client_for):
    usage = add_batch_equipment(make_started_batch(), actor=operator, equipment_name="Sieve")
    verify_cleaning(verify_calibration(usage, actor=verifier), actor=verifier)
    page = admin_client_for(records_admin).get(f"{ADMIN}/batchequipment/{usage.pk}/change/")
    assert page.status_code == 200
    assert page.content.decode().count(f'<a href="/admin/users/user/{verifier.pk}/change/">verifier</a>') >= 2
