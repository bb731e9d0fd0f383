"""32 tablets dispensing from the same lots at the same moment (PostgreSQL row locks): the
stock is never overdrawn, every refusal is a shortage, and the ledger still balances."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from batch_records.models import BatchMaterial, BatchRecord
from batch_records.services.batches import start_batch
from batch_records.services.materials import dispense_material
from core.exceptions import Conflict
from core.testing import run_concurrently
from inventory.models import BatchMaterialLot, Lot, LotMovement, LotReservation
from users.tests.factories import PASSWORD

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
THREADS = 32


def assert_ledger_balanced():
    for lot in Lot.objects.all():
        total = LotMovement.objects.filter(lot=lot).aggregate(total=Sum("quantity"))["total"]
        assert lot.quantity_on_hand == total >= 0, lot.lot_id


def lines_of(make_approved_mbr, make_started_batch, count):
    mbr = make_approved_mbr()
    return [make_started_batch(mbr).materials.get(material_code="API-001").pk for _ in range(count)]


def test_thirty_two_dispenses_from_one_lot_never_overdraw(stock, make_approved_mbr, make_started_batch, operator):
    lot = stock("API-001", "510")  # room for ten draws of 50 kg
    lines = lines_of(make_approved_mbr, make_started_batch, THREADS)

    def dispense(index):
        material = BatchMaterial.objects.get(pk=lines[index])
        source = {"auto": True} if index % 2 else {"lot_number": lot.lot_id}
        return dispense_material(material, actor=operator, quantity=Decimal("50"), password=PASSWORD, **source)

    outcomes = run_concurrently(dispense, THREADS)
    errors = [error for _, error in outcomes if error is not None]
    assert all(isinstance(error, Conflict) and error.code == "insufficient_stock" for error in errors), errors
    assert len(errors) == THREADS - 10
    lot.refresh_from_db()
    assert lot.quantity_on_hand == Decimal("10")
    drawn = BatchMaterialLot.objects.aggregate(total=Sum("quantity"))["total"]
    assert drawn == Decimal("500")
    assert BatchMaterial.objects.filter(status="dispensed").count() == 10
    assert LotMovement.objects.filter(kind="consumption").count() == 10
    assert_ledger_balanced()


def test_fefo_and_named_draws_across_two_lots_stay_within_stock(stock, make_approved_mbr, make_started_batch, operator):
    early = stock("API-001", "260", days_to_expiry=10)
    late = stock("API-001", "250", days_to_expiry=20)
    lines = lines_of(make_approved_mbr, make_started_batch, THREADS)

    def dispense(index):
        material = BatchMaterial.objects.get(pk=lines[index])
        source = {"auto": True} if index % 2 else {"lot_number": late.lot_id}
        return dispense_material(material, actor=operator, quantity=Decimal("50"), password=PASSWORD, **source)

    outcomes = run_concurrently(dispense, THREADS)
    errors = [error for _, error in outcomes if error is not None]
    assert all(isinstance(error, Conflict) and error.code == "insufficient_stock" for error in errors), errors
    successes = THREADS - len(errors)
    drawn = BatchMaterialLot.objects.aggregate(total=Sum("quantity"))["total"] or Decimal(0)
    assert drawn == successes * Decimal("50") <= Decimal("510")
    early.refresh_from_db()
    late.refresh_from_db()
    assert early.quantity_on_hand + late.quantity_on_hand == Decimal("510") - drawn
    # Started one after the other, the batches were promised 510 kg (ten 50 kg, one 10 kg);
    # a named draw from a lot promised to others is refused, so fewer than ten may succeed,
    # but no promise is ever broken.
    assert 0 < successes <= 10
    assert_promises_kept()
    assert_ledger_balanced()


def assert_promises_kept():
    """No lot has promised more than it holds."""
    for lot in Lot.objects.all():
        promised = LotReservation.objects.filter(lot=lot).aggregate(total=Sum("quantity_open"))["total"] or 0
        assert promised <= lot.quantity_on_hand, lot.lot_id


def test_thirty_two_batches_starting_on_one_lot_are_never_promised_the_same_stock(
    stock, make_approved_mbr, make_batch, operator
):
    """Issue 19: 32 batches start at the same moment against one lot of 510 kg (each needs
    50): exactly 510 kg is promised, ten batches in full and one in part; then the 32 lines
    dispense at once, and only the ten fully promised succeed."""
    lot = stock("API-001", "510")
    mbr = make_approved_mbr()
    batches = [make_batch(mbr).pk for _ in range(THREADS)]

    def start(index):
        return start_batch(BatchRecord.objects.get(pk=batches[index]), actor=operator)

    outcomes = run_concurrently(start, THREADS)
    assert [error for _, error in outcomes] == [None] * THREADS
    promised = {
        row["batch_id"]: row["total"]
        for row in LotReservation.objects.filter(lot=lot).values("batch_id").annotate(total=Sum("quantity_open"))
    }
    assert sum(promised.values()) == Decimal("510")
    assert sorted(promised.values(), reverse=True) == [Decimal("50")] * 10 + [Decimal("10")]
    assert_promises_kept()

    lines = {pk: BatchMaterial.objects.get(batch_id=pk, material_code="API-001").pk for pk in batches}

    def dispense(index):
        material = BatchMaterial.objects.get(pk=lines[batches[index]])
        source = {"auto": True} if index % 2 else {"lot_number": lot.lot_id}
        return dispense_material(material, actor=operator, quantity=Decimal("50"), password=PASSWORD, **source)

    outcomes = run_concurrently(dispense, THREADS)
    errors = [error for _, error in outcomes if error is not None]
    assert all(isinstance(error, Conflict) and error.code == "insufficient_stock" for error in errors), errors
    dispensed = set(BatchMaterial.objects.filter(status="dispensed").values_list("batch_id", flat=True))
    assert dispensed == {pk for pk, total in promised.items() if total == Decimal("50")}
    lot.refresh_from_db()
    assert lot.quantity_on_hand == Decimal("10")
    assert_promises_kept()
    assert_ledger_balanced()
