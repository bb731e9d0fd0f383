"""The cost snapshot taken at batch completion (seed 001): material at the drawn lots'
prices for the quantity used (allocated in dispense order), labour from step durations,
overhead as a percentage, in Decimal rounded half-up to cents; stored, never recomputed."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from batch_records import costing
from batch_records.services.batches import complete_batch
from batch_records.services.materials import consume_material, dispense_material, return_material, verify_material
from batch_records.services.steps import complete_step, start_step
from batch_records.tests.review_helpers import values_for
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
LOTS = "/api/inventory/lots/"


def timed_steps(batch, operator, clock, minutes):
    """Perform the steps in order, step n taking minutes[n - 1]."""
    moment = timezone.now()
    for step, duration in zip(batch.steps.order_by("step_number"), minutes, strict=True):
        clock.set_now(moment)
        start_step(step, actor=operator)
        moment += datetime.timedelta(minutes=duration)
        clock.set_now(moment)
        complete_step(step, actor=operator, actual_values=values_for(step.step_number), password=PASSWORD)
        moment += datetime.timedelta(minutes=5)  # idle time between steps is not labour
    return moment


def dispense_verify(material, operator, verifier, **source):
    material = dispense_material(material, actor=operator, password=PASSWORD, **source)
    return verify_material(material, actor=verifier, password=PASSWORD)


def test_worked_example(stock, make_started_batch, operator, verifier, clock):
    """API-001: 50 kg drawn FEFO, 30 kg from lot A at 2.50 and 20 kg from lot B at 3.10; 49.5 kg
    used, so A gives 30 × 2.50 = 75.00 and B 19.5 × 3.10 = 60.45. EXC-002: 25 kg of lot C at
    1.2345 = 30.8625. Material 166.3125 → 166.31.
    Steps of 30, 45 and 20 minutes: 95 min = 1.58333… h × 45.00 = 71.25.
    Overhead (166.31 + 71.25) × 15 % = 35.634 → 35.63. Total 273.19; 98 produced: 2.78765… → 2.79."""
    lot_a = stock("API-001", "30", days_to_expiry=30, unit_price="2.50")
    lot_b = stock("API-001", "40", days_to_expiry=60, unit_price="3.10")
    stock("EXC-002", "30", unit_price="1.2345")
    batch = make_started_batch()
    api_line = batch.materials.get(material_code="API-001")
    exc_line = batch.materials.get(material_code="EXC-002")
    consume_material(
        dispense_verify(api_line, operator, verifier, quantity=Decimal("50"), auto=True),
        actor=operator,
        quantity_used=Decimal("49.5"),
    )
    consume_material(
        dispense_verify(exc_line, operator, verifier, quantity=Decimal("25"), auto=True),
        actor=operator,
        quantity_used=Decimal("25"),
    )
    assert [a.lot_id for a in api_line.lot_allocations.order_by("sequence")] == [lot_a.pk, lot_b.pk]
    moment = timed_steps(batch, operator, clock, [30, 45, 20])
    clock.set_now(moment)
    batch = complete_batch(batch, actor=operator, quantity_produced=Decimal("98"), quantity_rejected=Decimal("2"))

    batch.refresh_from_db()
    assert (batch.material_cost, batch.labour_cost, batch.overhead_cost, batch.total_cost, batch.unit_cost) == (
        Decimal("166.31"),
        Decimal("71.25"),
        Decimal("35.63"),
        Decimal("273.19"),
        Decimal("2.79"),
    )
    assert all(
        isinstance(value, Decimal)
        for value in (batch.material_cost, batch.labour_cost, batch.overhead_cost, batch.total_cost, batch.unit_cost)
    )


def test_a_later_price_change_does_not_change_a_completed_batch(
    stock, make_started_batch, operator, verifier, records_admin, api_client_for
):
    lot = stock("API-001", "100", unit_price="2.00")
    stock("EXC-002", "100", unit_price="1.00")
    from .helpers import completed_batch

    batch = completed_batch(make_started_batch, operator, verifier)
    batch.refresh_from_db()
    snapshot = (batch.material_cost, batch.labour_cost, batch.overhead_cost, batch.total_cost, batch.unit_cost)
    assert batch.material_cost == Decimal("125.00")  # 50 × 2.00 + 25 × 1.00

    response = api_client_for(records_admin).patch(f"{LOTS}{lot.pk}/", {"unit_price": "9.99", "reason": "Invoice"})
    assert response.status_code == 200
    batch.refresh_from_db()
    assert (batch.material_cost, batch.labour_cost, batch.overhead_cost, batch.total_cost, batch.unit_cost) == snapshot
    genealogy = api_client_for(operator).get(f"/api/batch_records/batch-records/{batch.pk}/genealogy/").json()
    assert genealogy["cost"]["material_cost"] == "125.00"


def test_rates_come_from_the_settings(settings, stock, make_started_batch, operator, verifier, clock):
    settings.EBR_LABOUR_HOURLY_RATE = "60"
    settings.EBR_OVERHEAD_PERCENT = "10"
    stock("API-001", "50", unit_price="1")
    stock("EXC-002", "25", unit_price="2")
    batch = make_started_batch()
    for material in batch.materials.order_by("line_number"):
        material = dispense_verify(material, operator, verifier, quantity=material.quantity_required, auto=True)
        consume_material(material, actor=operator, quantity_used=material.quantity_required)
    clock.set_now(timed_steps(batch, operator, clock, [60, 30, 30]))
    batch = complete_batch(batch, actor=operator, quantity_produced=Decimal("100"), quantity_rejected=Decimal("0"))
    batch.refresh_from_db()
    # material 50 + 50 = 100.00; labour 2 h × 60 = 120.00; overhead 22.00; total 242.00
    assert (batch.material_cost, batch.labour_cost, batch.overhead_cost, batch.total_cost, batch.unit_cost) == (
        Decimal("100.00"),
        Decimal("120.00"),
        Decimal("22.00"),
        Decimal("242.00"),
        Decimal("2.42"),
    )


def test_nothing_produced_has_no_unit_cost(stock, make_started_batch, operator, verifier):
    from batch_records.tests.review_helpers import perform_steps

    stock("API-001", "100", unit_price="2")
    stock("EXC-002", "100", unit_price="4")
    batch = make_started_batch()
    for line in batch.materials.all():
        line = dispense_material(line, actor=operator, password=PASSWORD, quantity=line.quantity_required, auto=True)
        return_material(line, actor=operator, reason="Batch stopped before charging")
    perform_steps(batch, operator)
    batch = complete_batch(batch, actor=operator, quantity_produced=Decimal("0"), quantity_rejected=Decimal("100"))
    batch.refresh_from_db()
    assert batch.material_cost == Decimal("0.00")
    assert batch.unit_cost is None
    assert batch.total_cost == batch.labour_cost + batch.overhead_cost


def test_usage_known_at_completion_is_costed(stock, make_started_batch, operator, verifier):
    """A consumed line is costed at the quantity used; a returned one costs nothing."""
    from batch_records.tests.review_helpers import perform_steps

    stock("API-001", "100", unit_price="2")
    stock("EXC-002", "100", unit_price="4")
    batch = make_started_batch()
    api_line = batch.materials.get(material_code="API-001")
    exc_line = batch.materials.get(material_code="EXC-002")
    api_line = dispense_material(api_line, actor=operator, password=PASSWORD, quantity=Decimal("50"), auto=True)
    api_line = verify_material(api_line, actor=verifier, password=PASSWORD)
    consume_material(api_line, actor=operator, quantity_used=Decimal("50"))
    dispense_material(exc_line, actor=operator, password=PASSWORD, quantity=Decimal("25"), auto=True)
    return_material(exc_line, actor=operator, reason="Not needed")
    perform_steps(batch, operator)
    batch = complete_batch(batch, actor=operator, quantity_produced=Decimal("100"), quantity_rejected=Decimal("0"))
    batch.refresh_from_db()
    assert batch.material_cost == Decimal("100.00")


def test_costs_are_null_until_completion(make_started_batch):
    batch = make_started_batch()
    assert (batch.material_cost, batch.total_cost, batch.unit_cost) == (None, None, None)


def test_money_rounds_half_up_to_cents():
    assert costing.money(Decimal("2.345")) == Decimal("2.35")
    assert costing.money(Decimal("0.125")) == Decimal("0.13")
    assert costing.money(Decimal("0.1249")) == Decimal("0.12")


def test_usage_is_allocated_to_lots_in_dispense_order():
    class Allocation:
        def __init__(self, sequence, quantity, price, returned="0"):
            self.sequence, self.quantity, self.quantity_returned = sequence, Decimal(quantity), Decimal(returned)
            self.lot = type("Lot", (), {"unit_price": Decimal(price)})()

    material = type(
        "Material", (), {"status": "consumed", "quantity_used": Decimal("25"), "stock_unit_of_measure": ""}
    )()
    allocations = [Allocation(2, "20", "5"), Allocation(1, "10", "1")]
    # 10 from the first drawn (× 1) and 15 from the second (× 5)
    assert costing.line_material_cost(material, allocations) == Decimal("85")
    # a line that drew from no lot is priced at the material's standard cost
    assert costing.line_material_cost(material, [], Decimal("3")) == Decimal("75")


def test_bad_rate_settings_are_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    from inventory import conf

    settings.EBR_LABOUR_HOURLY_RATE = "cheap"
    with pytest.raises(ImproperlyConfigured):
        conf.labour_hourly_rate()
    settings.EBR_OVERHEAD_PERCENT = "-1"
    with pytest.raises(ImproperlyConfigured):
        conf.overhead_percent()
