"""Genealogy both ways (21 CFR 211.184, 211.188(b)): from a supplier's lot forward to the
batches that used it and the finished goods they made; from a batch back to the lots it
consumed, their suppliers and supplier lots."""

from decimal import Decimal

import pytest

from batch_records.services.materials import dispense_material, return_material
from users.tests.factories import PASSWORD

from .helpers import BATCHES, LOTS, released_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def traced(stock, make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    """Two paracetamol lots from two suppliers and one lactose lot, drawn by a released batch."""
    first = stock("API-001", "30", days_to_expiry=30, supplier="Acme Pharma", supplier_lot="ACM-17")
    second = stock("API-001", "60", days_to_expiry=90, supplier="Bolt Chemicals", supplier_lot="BC-2291")
    lactose = stock("EXC-002", "25", supplier="Lacto GmbH", supplier_lot="LG-5")
    batch = released_batch(make_started_batch, operator, verifier, qa_reviewer, qa_approver)
    return {"first": first, "second": second, "lactose": lactose, "batch": batch}


def test_batch_genealogy_lists_the_lots_consumed_with_suppliers(traced, operator, api_client_for):
    batch = traced["batch"]
    response = api_client_for(operator).get(f"{BATCHES}{batch.pk}/genealogy/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["batch_id"], body["status"], body["lot_number"]) == (batch.batch_id, "released", batch.lot_number)
    api, exc = body["materials"]
    assert (api["material_code"], api["status"], api["quantity_used"]) == ("API-001", "consumed", "50.0000")
    assert [(lot["lot_id"], lot["supplier"], lot["supplier_lot"], lot["quantity"]) for lot in api["lots"]] == [
        (traced["first"].lot_id, "Acme Pharma", "ACM-17", "30.0000"),
        (traced["second"].lot_id, "Bolt Chemicals", "BC-2291", "20.0000"),
    ]
    assert api["lot_number"] == f"{traced['first'].lot_id}, {traced['second'].lot_id}"
    assert [(lot["lot_id"], lot["supplier_lot"], lot["quantity_net"]) for lot in exc["lots"]] == [
        (traced["lactose"].lot_id, "LG-5", "25.0000")
    ]
    [finished] = body["finished_goods_lots"]
    assert (finished["material_code"], finished["quantity_on_hand"], finished["status"]) == (
        batch.mbr.product_code,
        "100.0000",
        "released",
    )
    assert body["cost"]["total_cost"] is not None


def test_where_used_follows_a_lot_to_batches_and_finished_goods(traced, operator, api_client_for):
    batch = traced["batch"]
    response = api_client_for(operator).get(f"{LOTS}{traced['second'].pk}/where-used/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["lot_id"], body["material_code"], body["produced_by_batch"]) == (
        traced["second"].lot_id,
        "API-001",
        None,
    )
    [used] = body["batches"]
    assert (used["batch_id"], used["batch_status"], used["quantity"], used["quantity_net"]) == (
        batch.batch_id,
        "released",
        "20.0000",
        "20.0000",
    )
    [finished] = used["finished_goods_lots"]
    assert finished["lot_id"] == batch.finished_goods_lots.get().lot_id


def test_a_finished_goods_lot_points_back_to_its_batch(traced, operator, api_client_for):
    finished = traced["batch"].finished_goods_lots.get()
    body = api_client_for(operator).get(f"{LOTS}{finished.pk}/where-used/").json()
    assert (body["produced_by_batch"], body["batches"]) == (traced["batch"].pk, [])
    detail = api_client_for(operator).get(f"{LOTS}{finished.pk}/").json()
    assert detail["produced_by_batch_id"] == traced["batch"].batch_id


def test_an_unused_lot_is_used_nowhere(stock, operator, api_client_for):
    lot = stock("API-001", "10")
    assert api_client_for(operator).get(f"{LOTS}{lot.pk}/where-used/").json()["batches"] == []


def test_a_returned_draw_shows_what_went_back(stock, make_started_batch, operator, api_client_for):
    lot = stock("API-001", "80")
    batch = make_started_batch()
    line = batch.materials.get(material_code="API-001")
    dispense_material(line, actor=operator, quantity=Decimal("50"), lot_number=lot.lot_id, password=PASSWORD)
    return_material(line, actor=operator, reason="Order cancelled")
    client = api_client_for(operator)
    api = client.get(f"{BATCHES}{batch.pk}/genealogy/").json()["materials"][0]
    assert [(row["quantity"], row["quantity_returned"], row["quantity_net"]) for row in api["lots"]] == [
        ("50.0000", "50.0000", "0.0000")
    ]
    [used] = client.get(f"{LOTS}{lot.pk}/where-used/").json()["batches"]
    assert (used["material_status"], used["quantity_net"]) == ("returned", "0.0000")


def test_genealogy_of_another_sites_batch_is_404(traced, other_site, api_client_for):
    from conftest import _persona
    from users.roles import OPERATOR

    stranger = _persona(OPERATOR, other_site, "stranger")
    client = api_client_for(stranger)
    assert client.get(f"{BATCHES}{traced['batch'].pk}/genealogy/").status_code == 404
    assert client.get(f"{LOTS}{traced['first'].pk}/where-used/").status_code == 404


def test_genealogy_reads_keep_a_constant_query_count(
    stock,
    make_started_batch,
    operator,
    verifier,
    qa_reviewer,
    qa_approver,
    api_client_for,
    django_assert_max_num_queries,
):
    lot = stock("API-001", "1000", days_to_expiry=10)
    for _ in range(3):
        stock("EXC-002", "10")
    client = api_client_for(operator)
    first = released_batch(make_started_batch, operator, verifier, qa_reviewer, qa_approver)
    with django_assert_max_num_queries(20) as few_genealogy:
        client.get(f"{BATCHES}{first.pk}/genealogy/")
    with django_assert_max_num_queries(20) as few_where_used:
        client.get(f"{LOTS}{lot.pk}/where-used/")
    for _ in range(3):
        stock("EXC-002", "25")
        released_batch(make_started_batch, operator, verifier, qa_reviewer, qa_approver)
    with django_assert_max_num_queries(len(few_genealogy.captured_queries)):
        client.get(f"{BATCHES}{first.pk}/genealogy/")
    with django_assert_max_num_queries(len(few_where_used.captured_queries)):
        assert len(client.get(f"{LOTS}{lot.pk}/where-used/").json()["batches"]) == 4
