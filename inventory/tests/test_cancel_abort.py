"""Cancel a batch that will not be made, abort one that cannot be finished (issue 19): both
signed with a reason, kept in the records, in the audit trail and the export; an abort
puts dispensed material back through the ledger (or writes it off) and goes to QA for
rejection. Every refusal changes nothing."""

from decimal import Decimal

import pytest

from batch_records.models import BatchMaterial, BatchRecord
from batch_records.services.materials import dispense_material, verify_material
from batch_records.services.stops import abort_batch, cancel_batch
from core.models import Signature
from inventory.models import Lot, LotMovement, LotReservation, Material
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/batch-records/"


def post(client, batch, action, **body):
    return client.post(f"{URL}{batch.pk}/{action}/", body, format="json")


def signatures(batch):
    return list(
        Signature.objects.filter(content_type__model="batchrecord", object_id=batch.pk).values_list(
            "meaning", "signer__username"
        )
    )


# --- cancel ----------------------------------------------------------------------------


def test_a_pending_batch_is_cancelled_with_a_reason_and_a_signature(make_batch, verifier, api_client_for):
    batch = make_batch()
    response = post(api_client_for(verifier), batch, "cancel", reason="Order withdrawn", password=PASSWORD)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["allowed_actions"]) == ("cancelled", [])
    stored = BatchRecord.objects.get(pk=batch.pk)
    assert stored.disposition_reason == "Order withdrawn"
    assert signatures(stored) == [("cancelled", "verifier")]
    assert stored.history.first().history_change_reason == "Cancelled: Order withdrawn"
    history = api_client_for(verifier).get(f"{URL}{batch.pk}/history/").json()
    rows = history["results"] if isinstance(history, dict) else history
    assert any(row["reason"] == "Cancelled: Order withdrawn" for row in rows)


def test_a_cancelled_batch_is_kept_and_final(make_batch, verifier, operator, api_client_for):
    batch = cancel_batch(make_batch(), actor=verifier, reason="Not needed", password=PASSWORD)
    client = api_client_for(verifier)
    assert client.delete(f"{URL}{batch.pk}/").status_code == 409
    assert post(api_client_for(operator), batch, "start").status_code == 409
    assert BatchRecord.objects.filter(pk=batch.pk, status="cancelled").exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"password": PASSWORD}, 400, "reason"),
        ({"reason": "  ", "password": PASSWORD}, 400, "reason"),
        ({"reason": "Not needed", "password": "wrong"}, 403, None),
    ],
)
def test_a_cancel_without_reason_or_with_a_wrong_password_changes_nothing(
    body, status, field, make_batch, verifier, api_client_for
):
    batch = make_batch()
    history = batch.history.count()
    response = api_client_for(verifier).post(f"{URL}{batch.pk}/cancel/", body, format="json")
    assert response.status_code == status
    if field:
        assert field in response.json()["errors"]
    stored = BatchRecord.objects.get(pk=batch.pk)
    assert (stored.status, stored.history.count(), signatures(stored)) == ("pending", history, [])


def test_a_started_batch_cannot_be_cancelled(make_started_batch, verifier, api_client_for):
    batch = make_started_batch()
    response = post(api_client_for(verifier), batch, "cancel", reason="x", password=PASSWORD)
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == ("in_progress", "cancel")


def test_an_operator_may_not_cancel(make_batch, operator, api_client_for):
    batch = make_batch()
    assert post(api_client_for(operator), batch, "cancel", reason="x", password=PASSWORD).status_code == 403
    assert BatchRecord.objects.get(pk=batch.pk).status == "pending"


# --- abort -----------------------------------------------------------------------------


@pytest.fixture
def stocked(materials, stock):
    return {"API-001": stock("API-001", "80", unit_price="2"), "EXC-002": stock("EXC-002", "60")}


def test_abort_returns_dispensed_material_through_the_ledger_and_releases_reservations(
    stocked, make_started_batch, operator, verifier, api_client_for
):
    batch = make_started_batch()
    api, exc = batch.materials.order_by("line_number")
    assert LotReservation.objects.filter(batch=batch, quantity_open__gt=0).count() == 2
    api = dispense_material(api, actor=operator, quantity=Decimal("50"), auto=True, password=PASSWORD)
    verify_material(api, actor=verifier, password=PASSWORD)
    response = post(api_client_for(verifier), batch, "abort", reason="Granulator broke down", password=PASSWORD)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "aborted"
    assert response.json()["allowed_actions"] == []
    api.refresh_from_db()
    exc.refresh_from_db()
    assert (api.status, api.return_reason) == ("returned", "Batch aborted: Granulator broke down")
    assert exc.status == "pending"
    assert Lot.objects.get(pk=stocked["API-001"].pk).quantity_on_hand == Decimal("80")
    [back] = LotMovement.objects.filter(kind="return")
    assert (back.quantity, back.batch_id) == (Decimal("50"), batch.pk)
    assert not LotReservation.objects.filter(batch=batch, quantity_open__gt=0).exists()
    stored = BatchRecord.objects.get(pk=batch.pk)
    assert signatures(stored) == [("aborted", "verifier")]
    assert stored.disposition_reason == "Granulator broke down"


def test_abort_writes_off_the_lines_named(stocked, make_started_batch, operator, verifier):
    batch = make_started_batch()
    api = batch.materials.get(line_number=1)
    dispense_material(api, actor=operator, quantity=Decimal("50"), auto=True, password=PASSWORD)
    abort_batch(batch, actor=verifier, reason="Contaminated blend", password=PASSWORD, write_off=[1])
    api.refresh_from_db()
    assert (api.status, api.return_reason) == ("written_off", "Written off: batch aborted: Contaminated blend")
    assert Lot.objects.get(pk=stocked["API-001"].pk).quantity_on_hand == Decimal("30")
    assert not LotMovement.objects.filter(kind="return").exists()


@pytest.mark.parametrize(("write_off", "field"), [([9], "write_off[0]"), ([2], "write_off[0]")])
def test_abort_refuses_a_write_off_that_is_not_dispensed_material_and_changes_nothing(
    write_off, field, stocked, make_started_batch, operator, verifier, api_client_for
):
    batch = make_started_batch()
    dispense_material(batch.materials.get(line_number=1), actor=operator, quantity="50", auto=True, password=PASSWORD)
    response = post(api_client_for(verifier), batch, "abort", reason="Stopped", password=PASSWORD, write_off=write_off)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert BatchRecord.objects.get(pk=batch.pk).status == "in_progress"
    assert BatchMaterial.objects.get(batch=batch, line_number=1).status == "dispensed"
    assert Lot.objects.get(pk=stocked["API-001"].pk).quantity_on_hand == Decimal("30")
    assert LotReservation.objects.filter(batch=batch, quantity_open__gt=0).count() == 1  # EXC-002's


def test_abort_with_a_wrong_password_changes_nothing(stocked, make_started_batch, operator, verifier, api_client_for):
    batch = make_started_batch()
    dispense_material(batch.materials.get(line_number=1), actor=operator, quantity="50", auto=True, password=PASSWORD)
    response = post(api_client_for(verifier), batch, "abort", reason="Stopped", password="wrong")
    assert response.status_code == 403
    assert BatchRecord.objects.get(pk=batch.pk).status == "in_progress"
    assert not LotMovement.objects.filter(kind="return").exists()
    assert Lot.objects.get(pk=stocked["API-001"].pk).quantity_on_hand == Decimal("30")


def test_a_pending_batch_cannot_be_aborted(make_batch, verifier, api_client_for):
    batch = make_batch()
    response = post(api_client_for(verifier), batch, "abort", reason="x", password=PASSWORD)
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == ("pending", "abort")


def test_an_aborted_batch_goes_to_qa_for_rejection(make_started_batch, verifier, qa_approver, api_client_for):
    batch = abort_batch(make_started_batch(), actor=verifier, reason="Power failure", password=PASSWORD)
    client = api_client_for(qa_approver)
    assert client.get(f"{URL}{batch.pk}/").json()["allowed_actions"] == ["reject"]
    assert post(client, batch, "release", password=PASSWORD).status_code == 409
    response = post(client, batch, "reject", reason="Aborted in production", password=PASSWORD)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "rejected"


def test_cancel_and_abort_appear_in_the_export(make_batch, make_started_batch, verifier, qa_reviewer, api_client_for):
    cancelled = cancel_batch(make_batch(), actor=verifier, reason="Order withdrawn", password=PASSWORD)
    aborted = abort_batch(make_started_batch(), actor=verifier, reason="Power failure", password=PASSWORD)
    client = api_client_for(qa_reviewer)
    for batch, meaning, reason in ((cancelled, "cancelled", "Order withdrawn"), (aborted, "aborted", "Power failure")):
        response = client.get(f"{URL}{batch.pk}/export/?format=json")
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert body["header"]["status"] == meaning
        assert body["header"]["disposition_reason"] == reason
        assert meaning in [signature["meaning"] for signature in body["signatures"]]


def test_the_admin_offers_cancel_and_abort(make_batch, verifier, admin_client_for):
    page = admin_client_for(verifier).get("/admin/batch_records/batchrecord/").content.decode()
    assert "action_cancel" in page or "Cancel (not started)" in page
    assert "Abort production" in page


def test_material_kept_in_inventory_is_not_needed_for_cancel(materials, make_batch, verifier):
    assert Material.objects.count() == 2
    batch = cancel_batch(make_batch(), actor=verifier, reason="x", password=PASSWORD)
    assert batch.status == "cancelled"


def test_a_pending_batch_edited_since_its_creation_is_not_deleted(make_batch, verifier, api_client_for):
    batch = make_batch()
    client = api_client_for(verifier)
    edited = client.patch(f"{URL}{batch.pk}/", {"lot_number": "L-NEW", "reason": "Renumbered"}, format="json")
    assert edited.status_code == 200, edited.json()
    response = client.delete(f"{URL}{batch.pk}/")
    assert response.status_code == 409
    assert "Cancel it instead" in response.json()["detail"]
    assert BatchRecord.objects.filter(pk=batch.pk).exists()
