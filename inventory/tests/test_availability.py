"""`GET batch-records/{id}/availability/`: the dry run of dispensing (seed 004): per
material line, what remains to dispense, what is available, the shortfall and the lots
FEFO would pick. It changes nothing."""

from decimal import Decimal

import pytest

from batch_records.models import BatchMaterial, BatchRecord
from batch_records.services.materials import dispense_material
from core.models import Signature
from inventory.models import BatchMaterialLot, Lot, LotMovement
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"


def availability(client, batch):
    response = client.get(f"{BATCHES}{batch.pk}/availability/")
    assert response.status_code == 200, response.json()
    return response.json()


def by_code(body):
    return {row["material_code"]: row for row in body["materials"]}


def test_dry_run_reports_required_available_shortfall_and_fefo_picks(
    stock, make_started_batch, operator, api_client_for
):
    late = stock("API-001", "40", days_to_expiry=60)
    early = stock("API-001", "30", days_to_expiry=20)
    lactose = stock("EXC-002", "10")
    batch = make_started_batch()
    body = availability(api_client_for(operator), batch)
    assert (body["batch_id"], body["satisfied"]) == (batch.batch_id, False)
    api, exc = by_code(body)["API-001"], by_code(body)["EXC-002"]
    assert (api["required"], api["available"], api["shortfall"], api["satisfied"]) == (
        "50.0000",
        "70.0000",
        "0.0000",
        True,
    )
    assert [(pick["lot_id"], pick["quantity"]) for pick in api["lots"]] == [
        (early.lot_id, "30.0000"),
        (late.lot_id, "20.0000"),
    ]
    assert (exc["required"], exc["available"], exc["shortfall"], exc["satisfied"]) == (
        "25.0000",
        "10.0000",
        "15.0000",
        False,
    )
    assert [(pick["lot_id"], pick["quantity"]) for pick in exc["lots"]] == [(lactose.lot_id, "10.0000")]


def test_dry_run_changes_nothing(stock, make_started_batch, operator, api_client_for):
    lot = stock("API-001", "70")
    stock("EXC-002", "10")
    batch = make_started_batch()
    client = api_client_for(operator)
    counts = {
        "movements": LotMovement.objects.count(),
        "allocations": BatchMaterialLot.objects.count(),
        "signatures": Signature.objects.count(),
        "lot history": Lot.history.count(),
        "material history": BatchMaterial.history.count(),
        "batch history": BatchRecord.history.count(),
    }
    availability(client, batch)
    availability(client, batch)
    assert counts == {
        "movements": LotMovement.objects.count(),
        "allocations": BatchMaterialLot.objects.count(),
        "signatures": Signature.objects.count(),
        "lot history": Lot.history.count(),
        "material history": BatchMaterial.history.count(),
        "batch history": BatchRecord.history.count(),
    }
    lot.refresh_from_db()
    assert lot.quantity_on_hand == Decimal("70")
    assert set(BatchMaterial.objects.filter(batch=batch).values_list("status", flat=True)) == {"pending"}


def test_a_dispensed_line_requires_nothing_more(stock, make_started_batch, operator, api_client_for):
    stock("API-001", "70")
    batch = make_started_batch()
    line = batch.materials.get(material_code="API-001")
    dispense_material(line, actor=operator, quantity=Decimal("50"), auto=True, password=PASSWORD)
    row = by_code(availability(api_client_for(operator), batch))["API-001"]
    assert (row["status"], row["required"], row["available"], row["lots"]) == ("dispensed", "0.0000", "20.0000", [])
    assert row["satisfied"] is True


def test_lines_of_the_same_material_share_the_stock(
    stock, make_approved_mbr, make_started_batch, operator, api_client_for
):
    line = {"material_code": "API-001", "material_name": "Paracetamol", "unit_of_measure": "kg"}
    mbr = make_approved_mbr(
        bill_of_materials=[{**line, "quantity_per_unit": "0.3"}, {**line, "quantity_per_unit": "0.2"}]
    )
    lot = stock("API-001", "40")
    body = availability(api_client_for(operator), make_started_batch(mbr))
    first, second = body["materials"]
    assert (first["required"], first["available"], first["shortfall"]) == ("30.0000", "40.0000", "0.0000")
    assert (second["required"], second["available"], second["shortfall"]) == ("20.0000", "10.0000", "10.0000")
    assert [(pick["lot_id"], pick["quantity"]) for pick in second["lots"]] == [(lot.lot_id, "10.0000")]


def test_dry_run_of_a_pending_batch_with_nothing_in_stock(materials, make_batch, operator, api_client_for):
    body = availability(api_client_for(operator), make_batch())
    assert body["satisfied"] is False
    assert [row["shortfall"] for row in body["materials"]] == ["50.0000", "25.0000"]


def test_dry_run_of_another_sites_batch_is_404(make_batch, other_site, api_client_for):
    from conftest import _persona
    from users.roles import OPERATOR

    stranger = _persona(OPERATOR, other_site, "stranger")
    assert api_client_for(stranger).get(f"{BATCHES}{make_batch().pk}/availability/").status_code == 404


def test_dry_run_keeps_a_constant_query_count(
    stock, make_started_batch, operator, api_client_for, django_assert_max_num_queries
):
    batch = make_started_batch()
    client = api_client_for(operator)
    stock("API-001", "10")
    with django_assert_max_num_queries(15) as few:
        availability(client, batch)
    for _ in range(8):
        stock("API-001", "10")
        stock("EXC-002", "10")
    with django_assert_max_num_queries(len(few.captured_queries)):
        availability(client, batch)
