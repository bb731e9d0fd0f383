"""Reservations (issue 19): a started batch is promised its materials, FEFO, from what other
batches leave free; availability and dispensing see only what is not promised to another
batch; dispensing consumes the promise; cancel, abort, completion and rejection release
what is left."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from batch_records.services.batches import start_batch
from batch_records.services.materials import dispense_material
from batch_records.services.stops import abort_batch
from core.exceptions import Conflict
from inventory.models import LotReservation
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/batch-records/"


def open_reserved(**filters):
    return LotReservation.objects.filter(quantity_open__gt=0, **filters).aggregate(total=Sum("quantity_open"))[
        "total"
    ] or Decimal(0)


def test_a_started_batch_reserves_its_materials_fefo(stock, make_started_batch):
    late = stock("API-001", "40", days_to_expiry=90)
    early = stock("API-001", "30", days_to_expiry=30)
    stock("EXC-002", "100")
    batch = make_started_batch()
    rows = LotReservation.objects.filter(batch=batch, batch_material__line_number=1).order_by("lot__expiry_date")
    assert [(row.lot_id, row.quantity, row.quantity_open) for row in rows] == [
        (early.pk, Decimal("30"), Decimal("30")),
        (late.pk, Decimal("20"), Decimal("20")),
    ]
    assert open_reserved(batch=batch, batch_material__line_number=2) == Decimal("25")
    assert rows.first().history.first().history_change_reason.startswith(f"Reserved for {batch.batch_id}")


def test_two_batches_are_never_promised_the_same_stock(stock, make_started_batch, operator, api_client_for):
    lot = stock("API-001", "70")
    first = make_started_batch()
    second = make_started_batch()
    assert open_reserved(batch=first) == Decimal("50")
    assert open_reserved(batch=second) == Decimal("20")  # only what the first left free
    client = api_client_for(operator)
    row = client.get(f"{URL}{second.pk}/availability/").json()["materials"][0]
    assert (row["reserved"], row["available"], row["shortfall"]) == ("20.0000", "20.0000", "30.0000")
    # The second batch cannot take the first one's 50 kg, by FEFO or by naming the lot.
    line = second.materials.get(line_number=1)
    for source in ({"auto": True}, {"lot_number": lot.lot_id}):
        with pytest.raises(Conflict) as refused:
            dispense_material(line, actor=operator, quantity=Decimal("50"), password=PASSWORD, **source)
        assert refused.value.code == "insufficient_stock"
    # The first batch draws what it was promised.
    dispense_material(first.materials.get(line_number=1), actor=operator, quantity="50", auto=True, password=PASSWORD)
    assert open_reserved(batch=first, batch_material__line_number=1) == 0


def test_a_pending_batch_is_shown_what_started_batches_leave(stock, make_batch, make_started_batch, api_client_for):
    stock("API-001", "60")
    make_started_batch()
    pending = make_batch()
    body = api_client_for(pending.created_by).get(f"{URL}{pending.pk}/availability/").json()
    assert body["materials"][0]["available"] == "10.0000"


def test_dispensing_less_than_reserved_gives_back_the_rest(stock, make_started_batch, operator):
    stock("API-001", "100")
    batch = make_started_batch()
    dispense_material(batch.materials.get(line_number=1), actor=operator, quantity="45", auto=True, password=PASSWORD)
    assert open_reserved(batch=batch) == 0
    other = make_started_batch()
    assert open_reserved(batch=other) == Decimal("50")  # 100 − 45 drawn: 55 free


def test_abort_and_cancel_release_what_is_left(stock, make_batch, make_started_batch, verifier):
    stock("API-001", "100")
    batch = make_started_batch()
    assert open_reserved() == Decimal("50")
    abort_batch(batch, actor=verifier, reason="Stopped", password=PASSWORD)
    assert open_reserved() == 0
    assert LotReservation.objects.get(batch=batch).history.first().history_change_reason == f"{batch.batch_id} aborted"


def test_completion_releases_what_is_left(stock, make_started_batch, operator, verifier):
    from batch_records.services.batches import complete_batch
    from batch_records.services.materials import return_material
    from batch_records.tests.review_helpers import perform_steps

    stock("API-001", "100")
    stock("EXC-002", "100")
    batch = make_started_batch()
    perform_steps(batch, operator)
    for line in batch.materials.all():
        line = dispense_material(line, actor=operator, quantity=line.quantity_required, auto=True, password=PASSWORD)
        return_material(line, actor=operator, reason="Not used")
    complete_batch(batch, actor=operator, quantity_produced=Decimal("0"), quantity_rejected=Decimal("100"))
    assert open_reserved(batch=batch) == 0


def test_a_start_without_stock_reserves_nothing_and_still_starts(materials, make_batch, operator):
    batch = start_batch(make_batch(), actor=operator)
    assert batch.status == "in_progress"
    assert not LotReservation.objects.exists()
