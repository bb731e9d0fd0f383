"""At release, the quantity produced becomes a released finished-goods lot of the product,
with a production movement, in the release transaction."""

from decimal import Decimal

import pytest

from batch_records.services.review import release_batch, submit_batch_for_review
from inventory import services
from inventory.models import Lot, LotMovement, Material
from users.tests.factories import PASSWORD

from .helpers import BATCHES, completed_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def under_review(stock, make_started_batch, operator, verifier, qa_reviewer):
    stock("API-001", "100", unit_price="2")
    stock("EXC-002", "100", unit_price="1")
    batch = completed_batch(make_started_batch, operator, verifier, produced="98.5")
    return submit_batch_for_review(batch, actor=qa_reviewer)


def test_release_makes_a_released_finished_goods_lot(under_review, qa_approver, site, api_client_for):
    batch = under_review
    response = api_client_for(qa_approver).post(f"{BATCHES}{batch.pk}/release/", {"password": PASSWORD})
    assert response.status_code == 200, response.json()
    batch.refresh_from_db()
    lot = Lot.objects.get(produced_by_batch=batch)
    assert lot.lot_id.startswith("LOT-")
    assert (lot.material.code, lot.material.name) == (batch.mbr.product_code, batch.mbr.product_name)
    assert (lot.supplier, lot.supplier_lot, lot.site) == (site.name, batch.lot_number, site)
    assert (lot.status, lot.released_by, lot.quantity_on_hand) == ("released", qa_approver, Decimal("98.5"))
    assert lot.unit_price == batch.unit_cost
    [movement] = LotMovement.objects.filter(lot=lot)
    assert (movement.kind, movement.quantity, movement.batch, movement.actor) == (
        "production",
        Decimal("98.5"),
        batch,
        qa_approver,
    )


def test_an_existing_product_material_is_reused(under_review, qa_approver):
    product = Material.objects.create(
        code=under_review.mbr.product_code, name="Paracetamol tablets", unit_of_measure="box"
    )
    release_batch(under_review, actor=qa_approver, password=PASSWORD)
    assert Lot.objects.get(produced_by_batch=under_review).material == product
    assert Material.objects.filter(code=under_review.mbr.product_code).count() == 1


def test_a_refused_release_makes_no_lot(under_review, qa_approver, api_client_for):
    response = api_client_for(qa_approver).post(f"{BATCHES}{under_review.pk}/release/", {"password": "wrong"})
    assert response.status_code == 403
    assert not Lot.objects.filter(produced_by_batch=under_review).exists()
    assert not Material.objects.filter(code=under_review.mbr.product_code).exists()


def test_finished_goods_are_received_once(under_review, qa_approver):
    batch = release_batch(under_review, actor=qa_approver, password=PASSWORD)
    first = Lot.objects.get(produced_by_batch=batch)
    assert services.receive_finished_goods(batch, actor=qa_approver) == first
    assert Lot.objects.filter(produced_by_batch=batch).count() == 1


def test_nothing_produced_makes_no_lot(make_started_batch, operator, qa_approver):
    from batch_records.services.batches import complete_batch
    from batch_records.tests.review_helpers import perform_steps, return_unused_materials

    batch = make_started_batch()
    perform_steps(batch, operator)
    return_unused_materials(batch, operator)
    batch = complete_batch(batch, actor=operator, quantity_produced=Decimal("0"), quantity_rejected=Decimal("0"))
    assert services.receive_finished_goods(batch, actor=qa_approver) is None
    assert not Lot.objects.exists()


def test_finished_goods_can_be_drawn_by_another_batch(
    under_review, qa_approver, make_approved_mbr, make_started_batch, operator, api_client_for
):
    """A released intermediate feeds the next batch, and genealogy follows it."""
    batch = release_batch(under_review, actor=qa_approver, password=PASSWORD)
    finished = Lot.objects.get(produced_by_batch=batch)
    code = batch.mbr.product_code
    mbr = make_approved_mbr(
        bill_of_materials=[
            {"material_code": code, "material_name": "Tablets", "quantity_per_unit": "0.5", "unit_of_measure": "unit"}
        ]
    )
    line = make_started_batch(mbr).materials.get()
    response = api_client_for(operator).post(
        f"/api/batch_records/batch-materials/{line.pk}/dispense/",
        {"quantity": "50", "auto": True, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["lot_number"] == finished.lot_id
    where_used = api_client_for(operator).get(f"/api/inventory/lots/{finished.pk}/where-used/").json()
    assert [row["batch"] for row in where_used["batches"]] == [line.batch_id]
