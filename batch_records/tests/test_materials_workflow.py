"""Materials in a batch through the API: dispense (signed), second-person verification
(21 CFR 211.101(d)), consumption against the tolerance, return; every refused transition."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from batch_records.models import BatchDeviation, BatchMaterial
from batch_records.services.batches import complete_batch
from batch_records.services.materials import consume_material, dispense_material, return_material, verify_material
from batch_records.services.steps import complete_step, start_step
from users.roles import OPERATOR, VERIFIER
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
MATERIALS = "/api/batch_records/batch-materials/"


def action_url(material, action):
    return f"{MATERIALS}{material.pk}/{action}/"


def api_material(make_started_batch, code="API-001"):
    """The API-001 line of a fresh in-progress batch: 0.5 kg/unit × 100 units = 50 kg required."""
    return make_started_batch().materials.get(material_code=code)


def dispensed(material, operator, quantity="50"):
    return dispense_material(
        material, actor=operator, lot_number="LOT-7", quantity=Decimal(quantity), password=PASSWORD
    )


def verified(material, operator, verifier, quantity="50"):
    return verify_material(dispensed(material, operator, quantity), actor=verifier, password=PASSWORD)


def finish_production(batch, operator):
    """Every step performed within its specifications, then the batch completed."""
    values = {1: {"blend_time": "10"}, 2: {"appearance_ok": True, "remarks": "ok"}, 3: {"hardness": "6"}}
    for step in batch.steps.order_by("step_number"):
        complete_step(
            start_step(step, actor=operator), actor=operator, actual_values=values[step.step_number], password=PASSWORD
        )
    return complete_batch(batch, actor=operator, quantity_produced=Decimal("98"), quantity_rejected=Decimal("0"))


@pytest.fixture
def lead(site):
    """A shift lead holding both the operator and the verifier roles."""
    user = UserFactory(username="shift_lead")
    user.groups.add(Group.objects.get(name=OPERATOR), Group.objects.get(name=VERIFIER))
    user.sites.add(site)
    return user


# --- dispense --------------------------------------------------------------------------


def test_dispense_records_lot_quantity_dispenser_and_signature(make_started_batch, operator, api_client_for):
    material = api_material(make_started_batch)
    response = api_client_for(operator).post(
        action_url(material, "dispense"),
        {"lot_number": " LOT-7 ", "quantity": "50.25", "password": PASSWORD, "comment": "Scale 3"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "dispensed"
    assert (body["lot_number"], body["quantity_dispensed"]) == ("LOT-7", "50.2500")
    assert body["dispensed_by"] == "operator"
    assert body["dispensed_at"] is not None
    [signature] = body["signatures"]
    assert (signature["meaning"], signature["signer"], signature["comment"], signature["valid"]) == (
        "dispensed",
        "operator",
        "Scale 3",
        True,
    )
    assert signature["record_status"] == "dispensed"


def test_dispense_refused_while_batch_is_pending(make_batch, operator, api_client_for):
    material = make_batch().materials.get(material_code="API-001")
    response = api_client_for(operator).post(
        action_url(material, "dispense"), {"lot_number": "LOT-7", "quantity": "50", "password": PASSWORD}
    )
    assert response.status_code == 409
    body = response.json()
    assert (body["current_status"], body["batch_status"], body["action"]) == ("pending", "pending", "dispense")
    assert "the batch is 'pending'" in body["detail"]
    material.refresh_from_db()
    assert (material.status, material.lot_number, material.quantity_dispensed) == ("pending", "", None)
    assert not material.signatures.exists()


def test_dispense_refused_once_production_has_stopped(make_started_batch, operator, qa_reviewer, api_client_for):
    from batch_records.services.review import quarantine_batch

    batch = make_started_batch()
    quarantine_batch(batch, actor=qa_reviewer, reason="Power cut in the suite")
    material = batch.materials.get(material_code="API-001")
    response = api_client_for(operator).post(
        action_url(material, "dispense"), {"lot_number": "LOT-7", "quantity": "50", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["batch_status"] == "quarantined"


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "1.00001", ""])
def test_dispense_quantity_must_be_a_decimal_above_zero(quantity, make_started_batch, operator, api_client_for):
    material = api_material(make_started_batch)
    response = api_client_for(operator).post(
        action_url(material, "dispense"), {"lot_number": "LOT-7", "quantity": quantity, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert "quantity" in response.json()["errors"]
    material.refresh_from_db()
    assert material.status == "pending"


def test_dispense_needs_a_lot_number(make_started_batch, operator, api_client_for):
    material = api_material(make_started_batch)
    response = api_client_for(operator).post(
        action_url(material, "dispense"), {"lot_number": "   ", "quantity": "50", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert "lot_number" in response.json()["errors"]


def test_dispense_with_a_wrong_password_changes_nothing(make_started_batch, operator, api_client_for):
    material = api_material(make_started_batch)
    response = api_client_for(operator).post(
        action_url(material, "dispense"), {"lot_number": "LOT-7", "quantity": "50", "password": "wrong"}
    )
    assert response.status_code == 403
    material.refresh_from_db()
    assert (material.status, material.lot_number, material.dispensed_by) == ("pending", "", None)
    assert material.history.count() == 1


def test_dispense_refused_for_a_role_without_permission(make_started_batch, verifier, api_client_for):
    material = api_material(make_started_batch)
    response = api_client_for(verifier).post(
        action_url(material, "dispense"), {"lot_number": "LOT-7", "quantity": "50", "password": PASSWORD}
    )
    assert response.status_code == 403


# --- verify (second person) ------------------------------------------------------------


def test_verify_by_a_second_person_is_signed_verified(make_started_batch, operator, verifier, api_client_for):
    material = dispensed(api_material(make_started_batch), operator)
    response = api_client_for(verifier).post(action_url(material, "verify"), {"password": PASSWORD})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["verified_by"]) == ("verified", "verifier")
    assert body["verified_at"] is not None
    assert [(s["meaning"], s["signer"], s["valid"]) for s in body["signatures"]] == [
        ("dispensed", "operator", True),
        ("verified", "verifier", True),
    ]


def test_dispenser_cannot_verify_own_dispensing(make_started_batch, lead, api_client_for):
    material = dispensed(api_material(make_started_batch), lead)
    response = api_client_for(lead).post(action_url(material, "verify"), {"password": PASSWORD})
    assert response.status_code == 403
    assert "second-person" in response.json()["detail"]
    material.refresh_from_db()
    assert (material.status, material.verified_by) == ("dispensed", None)
    assert list(material.signatures.values_list("meaning", flat=True)) == ["dispensed"]


def test_someone_else_may_verify_what_a_lead_dispensed(make_started_batch, lead, verifier, api_client_for):
    material = dispensed(api_material(make_started_batch), lead)
    response = api_client_for(verifier).post(action_url(material, "verify"), {"password": PASSWORD})
    assert response.status_code == 200


def test_operator_role_cannot_verify(make_started_batch, operator, operator2, api_client_for):
    material = dispensed(api_material(make_started_batch), operator)
    response = api_client_for(operator2).post(action_url(material, "verify"), {"password": PASSWORD})
    assert response.status_code == 403


def test_verify_with_a_wrong_password_changes_nothing(make_started_batch, operator, verifier, api_client_for):
    material = dispensed(api_material(make_started_batch), operator)
    response = api_client_for(verifier).post(action_url(material, "verify"), {"password": "wrong"})
    assert response.status_code == 403
    material.refresh_from_db()
    assert (material.status, material.verified_by) == ("dispensed", None)


# --- consume and the tolerance ---------------------------------------------------------


def consume(client, material, quantity_used):
    return client.post(action_url(material, "consume"), {"quantity_used": quantity_used}, format="json")


def material_deviations(material):
    return BatchDeviation.objects.filter(batch_material=material)


def test_consume_within_tolerance_records_usage_without_deviation(
    make_started_batch, operator, verifier, api_client_for
):
    material = verified(api_material(make_started_batch), operator, verifier)
    response = consume(api_client_for(operator), material, "49.5")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["quantity_used"], body["consumed_by"]) == ("consumed", "49.5000", "operator")
    assert body["consumed_at"] is not None
    assert not material_deviations(material).exists()
    material.batch.refresh_from_db()
    assert material.batch.has_deviations is False


@pytest.mark.parametrize("used", ["49", "51"])
def test_usage_exactly_at_the_tolerance_limit_is_within(used, make_started_batch, operator, verifier, api_client_for):
    material = verified(api_material(make_started_batch), operator, verifier, quantity="55")
    assert consume(api_client_for(operator), material, used).status_code == 200
    assert not material_deviations(material).exists()


def test_over_consumption_beyond_tolerance_opens_material_issue_deviation(
    make_started_batch, operator, verifier, api_client_for
):
    material = verified(api_material(make_started_batch), operator, verifier, quantity="55")
    response = consume(api_client_for(operator), material, "51.5")
    # Recorded as it happened, not refused.
    assert response.status_code == 200
    assert response.json()["status"] == "consumed"
    assert response.json()["deviations"] == [material_deviations(material).get().deviation_id]
    deviation = material_deviations(material).get()
    assert (deviation.deviation_type, deviation.status, deviation.batch_id) == (
        "material_issue",
        "open",
        material.batch_id,
    )
    for text in ("API-001", "LOT-7", "51.5000 kg used", "50.0000 kg required", "3.00% more", "±2%"):
        assert text in deviation.description
    assert deviation.created_by == operator
    material.batch.refresh_from_db()
    assert material.batch.has_deviations is True
    assert material.batch.review_by_exception is False


def test_under_consumption_beyond_tolerance_opens_material_issue_deviation(
    make_started_batch, operator, verifier, api_client_for
):
    material = verified(api_material(make_started_batch), operator, verifier)
    assert consume(api_client_for(operator), material, "48.5").status_code == 200
    deviation = material_deviations(material).get()
    assert deviation.deviation_type == "material_issue"
    assert "48.5000 kg used" in deviation.description
    assert "3.00% less" in deviation.description
    material.batch.refresh_from_db()
    assert material.batch.has_deviations is True


def test_tolerance_comes_from_the_setting(settings, make_started_batch, operator, verifier, api_client_for):
    settings.EBR_MATERIAL_TOLERANCE_PERCENT = "5"
    material = verified(api_material(make_started_batch), operator, verifier, quantity="55")
    assert consume(api_client_for(operator), material, "52.5").status_code == 200
    assert not material_deviations(material).exists()
    other = verified(api_material(make_started_batch), operator, verifier, quantity="55")
    assert consume(api_client_for(operator), other, "52.6").status_code == 200
    assert "±5%" in material_deviations(other).get().description


def test_consuming_more_than_dispensed_is_400(make_started_batch, operator, verifier, api_client_for):
    material = verified(api_material(make_started_batch), operator, verifier)
    response = consume(api_client_for(operator), material, "50.0001")
    assert response.status_code == 400
    assert "dispensed" in response.json()["errors"]["quantity_used"][0]
    material.refresh_from_db()
    assert (material.status, material.quantity_used) == ("verified", None)


@pytest.mark.parametrize("used", ["-1", "x", "1.12345"])
def test_quantity_used_must_be_a_decimal_not_below_zero(used, make_started_batch, operator, verifier, api_client_for):
    material = verified(api_material(make_started_batch), operator, verifier)
    response = consume(api_client_for(operator), material, used)
    assert response.status_code == 400
    assert "quantity_used" in response.json()["errors"]


def test_completion_waits_for_the_consumption_to_be_recorded(make_started_batch, operator, verifier, api_client_for):
    from batch_records.services.batches import open_materials

    batch = make_started_batch()
    material = verified(batch.materials.get(material_code="API-001"), operator, verifier)
    return_material(dispensed(batch.materials.get(material_code="EXC-002"), operator, "25"), actor=operator, reason="x")
    assert open_materials(batch) == [{"line_number": 1, "material_code": "API-001", "status": "verified"}]
    assert consume(api_client_for(operator), material, "50").status_code == 200
    assert finish_production(batch, operator).status == "completed"


# --- return ----------------------------------------------------------------------------


@pytest.mark.parametrize("verify_first", [False, True], ids=["from_dispensed", "from_verified"])
def test_return_with_a_reason(verify_first, make_started_batch, operator, verifier, api_client_for):
    material = dispensed(api_material(make_started_batch), operator)
    if verify_first:
        material = verify_material(material, actor=verifier, password=PASSWORD)
    response = api_client_for(operator).post(action_url(material, "return"), {"reason": "Wrong lot picked"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["return_reason"]) == ("returned", "Wrong lot picked")
    assert body["returned_at"] is not None
    assert material.history.latest("history_id").history_change_reason == "Returned: Wrong lot picked"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_return_needs_a_reason(body, make_started_batch, operator, api_client_for):
    material = dispensed(api_material(make_started_batch), operator)
    response = api_client_for(operator).post(action_url(material, "return"), body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    material.refresh_from_db()
    assert material.status == "dispensed"


# --- refused transitions ---------------------------------------------------------------


def reach(state, material, operator, verifier):
    if state == "pending":
        return material
    if state == "dispensed":
        return dispensed(material, operator)
    if state == "verified":
        return verified(material, operator, verifier)
    if state == "consumed":
        return consume_material(verified(material, operator, verifier), actor=operator, quantity_used=Decimal("50"))
    return return_material(dispensed(material, operator), actor=operator, reason="Not needed")


BODIES = {
    "dispense": {"lot_number": "LOT-8", "quantity": "50", "password": PASSWORD},
    "verify": {"password": PASSWORD},
    "consume": {"quantity_used": "50"},
    "return": {"reason": "Not needed"},
}
ACTORS = {"dispense": "operator", "verify": "verifier", "consume": "operator", "return": "operator"}


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("pending", "verify"),
        ("pending", "consume"),
        ("pending", "return"),
        ("dispensed", "dispense"),
        ("dispensed", "consume"),
        ("verified", "dispense"),
        ("verified", "verify"),
        ("consumed", "dispense"),
        ("consumed", "verify"),
        ("consumed", "consume"),
        ("consumed", "return"),
        ("returned", "dispense"),
        ("returned", "verify"),
        ("returned", "consume"),
        ("returned", "return"),
    ],
)
def test_refused_transition_is_409_and_changes_nothing(
    state, action, make_started_batch, operator, verifier, api_client_for
):
    material = reach(state, api_material(make_started_batch), operator, verifier)
    before = BatchMaterial.objects.get(pk=material.pk)
    history, signatures = material.history.count(), material.signatures.count()
    user = {"operator": operator, "verifier": verifier}[ACTORS[action]]
    response = api_client_for(user).post(action_url(material, action), BODIES[action], format="json")
    assert response.status_code == 409, response.json()
    body = response.json()
    assert (body["current_status"], body["action"]) == (state, action)
    assert f"'{state}'" in body["detail"]
    after = BatchMaterial.objects.get(pk=material.pk)
    assert after.status == before.status
    assert (after.lot_number, after.quantity_dispensed, after.quantity_used) == (
        before.lot_number,
        before.quantity_dispensed,
        before.quantity_used,
    )
    assert (material.history.count(), material.signatures.count()) == (history, signatures)
    assert not BatchDeviation.objects.filter(batch_material=material).exists()
