"""Which lots a quantity is drawn from: FEFO (first expired, first out) over released,
unexpired lots of the material at the site; explicit lot plans refused for unusable lots;
the shortage error (seed 001)."""

from decimal import Decimal

import pytest

from core.exceptions import Conflict
from inventory import allocation, services
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
MATERIALS = "/api/batch_records/batch-materials/"


def picked(draws):
    return [(draw.lot.lot_id, draw.quantity) for draw in draws]


def test_fefo_takes_the_earliest_expiry_first(stock, site):
    late = stock("API-001", "30", days_to_expiry=300)
    early = stock("API-001", "20", days_to_expiry=100)
    middle = stock("API-001", "25", days_to_expiry=200)
    draws = allocation.plan_lots("API-001", Decimal("50"), site=site)
    assert picked(draws) == [(early.lot_id, Decimal("20")), (middle.lot_id, Decimal("25")), (late.lot_id, Decimal("5"))]


def test_fefo_breaks_an_expiry_tie_by_lot_id(stock, site):
    first = stock("API-001", "10", days_to_expiry=100)
    second = stock("API-001", "10", days_to_expiry=100)
    assert first.lot_id < second.lot_id
    draws = allocation.plan_lots("API-001", Decimal("15"), site=site)
    assert picked(draws) == [(first.lot_id, Decimal("10")), (second.lot_id, Decimal("5"))]


def test_fefo_orders_lot_ids_numerically():
    class FakeLot:
        def __init__(self, lot_id):
            self.lot_id, self.expiry_date = lot_id, None

    lots = sorted([FakeLot("LOT-10000"), FakeLot("LOT-9999")], key=allocation.fefo_key)
    assert [lot.lot_id for lot in lots] == ["LOT-9999", "LOT-10000"]


def test_fefo_skips_expired_quarantined_rejected_other_material_and_other_site_lots(
    stock, receive, qa_approver, other_site, records_admin, clock, site
):
    records_admin.sites.add(other_site)
    expiring = stock("API-001", "100", days_to_expiry=5)  # expired once the calendar moves on
    quarantined = receive("API-001", "100", days_to_expiry=10)
    rejected = services.reject_lot(
        receive("API-001", "100", days_to_expiry=11), actor=qa_approver, reason="Assay fails", password=PASSWORD
    )
    stock("EXC-002", "100", days_to_expiry=12)
    qa_approver.sites.add(other_site)
    stock("API-001", "100", days_to_expiry=13, lot_site=other_site)
    usable = stock("API-001", "40", days_to_expiry=400)
    clock.days_ahead(6)

    draws = allocation.plan_lots("API-001", Decimal("40"), site=site)
    assert picked(draws) == [(usable.lot_id, Decimal("40"))]
    assert {lot.lot_id for lot in allocation.usable_lots("API-001", site=site)} == {usable.lot_id}
    assert [expiring.status, quarantined.status, rejected.status] == ["released", "quarantine", "rejected"]


def test_a_lot_expiring_today_is_still_usable(stock, clock, site):
    lot = stock("API-001", "10", days_to_expiry=3)
    clock.days_ahead(3)
    assert picked(allocation.plan_lots("API-001", Decimal("10"), site=site)) == [(lot.lot_id, Decimal("10"))]


def test_shortage_names_material_required_available_and_shortage(stock, site):
    stock("API-001", "12.5")
    stock("API-001", "7.25")
    with pytest.raises(Conflict) as refused:
        allocation.plan_lots("API-001", Decimal("50"), site=site)
    assert refused.value.extra == {
        "material_code": "API-001",
        "required": "50.0000",
        "available": "19.7500",
        "shortage": "30.2500",
    }


def test_shortage_through_the_api_is_409_with_exact_fields_as_decimal_strings(
    stock, make_started_batch, operator, api_client_for
):
    stock("API-001", "12.5")
    stock("API-001", "7.25")
    material = make_started_batch().materials.get(material_code="API-001")
    response = api_client_for(operator).post(
        f"{MATERIALS}{material.pk}/dispense/", {"quantity": "50", "auto": True, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"detail", "code", "material_code", "required", "available", "shortage"}
    assert body["code"] == "insufficient_stock"
    assert (body["material_code"], body["required"], body["available"], body["shortage"]) == (
        "API-001",
        "50.0000",
        "19.7500",
        "30.2500",
    )
    assert "API-001" in body["detail"]


def test_no_stock_at_all_is_a_shortage_of_everything(materials, site):
    with pytest.raises(Conflict) as refused:
        allocation.plan_lots("API-001", Decimal("3"), site=site)
    assert refused.value.extra["available"] == "0.0000"
    assert refused.value.extra["shortage"] == "3.0000"


@pytest.mark.parametrize("state", ["quarantine", "rejected", "expired", "past_expiry", "wrong_material"])
def test_explicit_plan_refuses_an_unusable_lot_naming_it_and_its_status(
    state, stock, receive, qa_approver, clock, site
):
    if state == "quarantine":
        lot = receive("API-001", "100")
    elif state == "rejected":
        lot = services.reject_lot(receive("API-001", "100"), actor=qa_approver, reason="Torn bags", password=PASSWORD)
    elif state == "expired":
        lot = stock("API-001", "100", days_to_expiry=1)
        clock.days_ahead(2)
        lot = services.expire_lot(lot, actor=qa_approver)
    elif state == "past_expiry":  # still 'released', but its date has passed
        lot = stock("API-001", "100", days_to_expiry=1)
        clock.days_ahead(2)
    else:
        lot = stock("EXC-002", "100")
    with pytest.raises(Conflict) as refused:
        allocation.plan_lots("API-001", Decimal("10"), site=site, lot_plan=[{"lot": lot.lot_id, "quantity": "10"}])
    extra = refused.value.extra
    assert extra["lot"] == lot.lot_id
    assert lot.lot_id in refused.value.message
    expected_status = {"past_expiry": "expired", "wrong_material": "released"}.get(state, state)
    assert extra["lot_status"] == expected_status
    if state == "wrong_material":
        assert extra["lot_material_code"] == "EXC-002"
    else:
        assert expected_status in refused.value.message


def test_explicit_plan_is_drawn_in_its_own_order(stock, site):
    early = stock("API-001", "10", days_to_expiry=10)
    late = stock("API-001", "10", days_to_expiry=20)
    plan = [{"lot": late.lot_id, "quantity": "6"}, {"lot": early.lot_id, "quantity": "4"}]
    draws = allocation.plan_lots("API-001", Decimal("10"), site=site, lot_plan=plan)
    assert picked(draws) == [(late.lot_id, Decimal("6")), (early.lot_id, Decimal("4"))]


def test_explicit_plan_beyond_a_lots_stock_is_a_shortage_naming_the_lot(stock, site):
    lot = stock("API-001", "4")
    with pytest.raises(Conflict) as refused:
        allocation.plan_lots("API-001", Decimal("6"), site=site, lot_plan=[{"lot": lot.lot_id, "quantity": "6"}])
    assert refused.value.extra == {
        "material_code": "API-001",
        "required": "6.0000",
        "available": "4.0000",
        "shortage": "2.0000",
        "lot": lot.lot_id,
    }


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ([], "lot_plan"),
        ([{"quantity": "5"}], "lot_plan[0].lot"),
        ([{"lot": "LOT-9999", "quantity": "5"}], "lot_plan[0].lot"),
        ([{"lot": "{lot}", "quantity": "0"}], "lot_plan[0].quantity"),
        ([{"lot": "{lot}", "quantity": "2"}, {"lot": "{lot}", "quantity": "3"}], "lot_plan[1].lot"),
        ([{"lot": "{lot}", "quantity": "4"}], "lot_plan"),
    ],
)
def test_malformed_plans_are_400_naming_the_entry(plan, field, stock, site):
    from django.core.exceptions import ValidationError

    lot = stock("API-001", "100")
    plan = [{key: value.format(lot=lot.lot_id) for key, value in entry.items()} for entry in plan]
    with pytest.raises(ValidationError) as refused:
        allocation.plan_lots("API-001", Decimal("5"), site=site, lot_plan=plan)
    assert field in refused.value.message_dict


def test_a_lot_of_another_site_is_unknown_to_a_plan(stock, other_site, records_admin, qa_approver, site):
    from django.core.exceptions import ValidationError

    records_admin.sites.add(other_site)
    qa_approver.sites.add(other_site)
    foreign = stock("API-001", "100", lot_site=other_site)
    with pytest.raises(ValidationError):
        allocation.plan_lots("API-001", Decimal("5"), site=site, lot_plan=[{"lot": foreign.lot_id, "quantity": "5"}])
