"""Every transition of the order's state machine, allowed and refused, through the API; who
may place and see orders."""

import pytest

from orders.choices import OrderStatus
from orders.models import ProductionOrder
from orders.workflows import ORDER_WORKFLOW

from .conftest import ORDERS

pytestmark = pytest.mark.django_db

BODIES = {
    "create_batch": {"quantity_planned": "5"},
    "link_batch": None,
    "close": {},
    "cancel": {"reason": "Not needed"},
}


@pytest.fixture
def order_in(place_order, shop_floor):
    """An order brought to `status` through the API."""

    def reach(status):
        order = place_order(quantity_ordered="100", batch_size=None)
        if status == OrderStatus.OPEN:
            return order
        if status == OrderStatus.CANCELLED:
            shop_floor.planner_client.post(f"{ORDERS}{order['id']}/cancel/", {"reason": "Test"}, format="json")
            return order
        [batch] = shop_floor.create_batch(order).json()["batches"]
        shop_floor.start(batch["batch"])
        if status != OrderStatus.IN_PROGRESS:
            shop_floor.complete(batch["batch"], produced="100")
        if status == OrderStatus.CLOSED:
            shop_floor.planner_client.post(f"{ORDERS}{order['id']}/close/", {}, format="json")
        assert ProductionOrder.objects.get(pk=order["id"]).status == status
        return order

    return reach


@pytest.mark.parametrize("status", OrderStatus.values)
@pytest.mark.parametrize("action", list(BODIES))
def test_every_planner_transition_from_every_status(order_in, shop_floor, make_batch, status, action):
    order = order_in(status)
    body = BODIES[action]
    if body is None:  # link_batch: a pending batch of the order's product
        body = {"batch": make_batch(ProductionOrder.objects.get(pk=order["id"]).mbr).pk}
    response = shop_floor.planner_client.post(f"{ORDERS}{order['id']}/{action}/", body, format="json")
    after = ProductionOrder.objects.get(pk=order["id"])
    transition = ORDER_WORKFLOW[action]

    if status in transition.sources:
        assert response.status_code == 200, response.json()
        assert after.status == (transition.target or status)
    else:
        assert response.status_code == 409, response.json()
        assert response.json()["current_status"] == status
        assert after.status == status


@pytest.mark.parametrize("action", ["start", "complete"])
def test_the_order_moves_itself_nobody_does_it_by_hand(order_in, shop_floor, action):
    order = order_in(OrderStatus.OPEN if action == "start" else OrderStatus.IN_PROGRESS)
    response = shop_floor.planner_client.post(f"{ORDERS}{order['id']}/{action}/", {}, format="json")
    assert response.status_code == 403


def test_an_order_is_placed_only_by_a_planner_of_the_site(api_client_for, operator, make_approved_mbr, site):
    body = {"site": site.pk, "mbr": make_approved_mbr().pk, "quantity_ordered": "10", "due_date": "2030-01-01"}
    assert api_client_for(operator).post(ORDERS, body, format="json").status_code == 403


def test_bad_order_input_names_the_field(api_client_for, planner, make_draft_mbr, make_approved_mbr, site, other_site):
    client = api_client_for(planner)
    body = {"site": site.pk, "mbr": make_approved_mbr().pk, "quantity_ordered": "10", "due_date": "2030-01-01"}

    assert "quantity_ordered" in client.post(ORDERS, {**body, "quantity_ordered": "0"}, format="json").json()["errors"]
    assert "site" in client.post(ORDERS, {**body, "site": other_site.pk}, format="json").json()["errors"]
    draft = client.post(ORDERS, {**body, "mbr": make_draft_mbr().pk}, format="json")
    assert draft.status_code == 400
    assert "approved" in draft.json()["errors"]["mbr"][0]
    assert client.post(ORDERS, {**body, "status": "closed"}, format="json").status_code == 400
    assert not ProductionOrder.objects.exists()


def test_orders_of_another_site_are_not_found(place_order, api_client_for, other_site):
    from django.contrib.auth.models import Group

    from users.tests.factories import UserFactory

    order = place_order()
    stranger = UserFactory(username="elsewhere")
    stranger.sites.add(other_site)
    stranger.groups.add(Group.objects.get(name="verifier"))
    client = api_client_for(stranger)
    assert client.get(f"{ORDERS}{order['id']}/").status_code == 404
    assert client.get(ORDERS).json()["results"] == []


def test_planning_fields_change_while_open_and_never_below_what_was_made(place_order, shop_floor):
    order = place_order(quantity_ordered="200", batch_size="100")
    url = f"{ORDERS}{order['id']}/"
    changed = shop_floor.planner_client.patch(url, {"quantity_ordered": "300", "reason": "ERP update"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["quantity_ordered"] == "300.000"
    refused = shop_floor.planner_client.patch(url, {"mbr": order["mbr"]}, format="json")
    assert refused.status_code == 400
