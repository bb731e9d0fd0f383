"""Orders and their batches through the API: continuation batches, the order's totals, the
last batch completing the order, a closed order taking no batch, cancellation."""

from decimal import Decimal

import pytest

from batch_records.models import BatchRecord
from events.models import DomainEvent
from orders.models import OrderBatch, ProductionOrder

from .conftest import ORDERS

pytestmark = pytest.mark.django_db


def test_continuation_batches_make_the_order_and_the_last_completes_it(place_order, shop_floor):
    order = place_order(quantity_ordered="250", batch_size="100")
    assert (order["order_id"], order["status"], order["quantity_remaining"]) == ("PO-0001", "open", "250.000")

    response = shop_floor.create_batch(order)
    assert response.status_code == 200, response.json()
    [first] = response.json()["batches"]
    assert (first["sequence"], first["batch_number"], first["quantity_planned"]) == (1, "PO-0001-01", "100.000")
    assert first["continues"] is None

    shop_floor.start(first["batch"])
    assert shop_floor.order(order["id"])["status"] == "in_progress"

    assert shop_floor.complete(first["batch"], produced="98").status_code == 200
    state = shop_floor.order(order["id"])
    assert (state["quantity_completed"], state["quantity_remaining"], state["status"]) == (
        "98.000",
        "152.000",
        "in_progress",
    )
    second = state["batches"][1]
    assert (second["sequence"], second["status"], second["quantity_planned"]) == (2, "pending", "100.000")
    assert second["continues"] == first["batch_id"]
    assert second["mbr_id"] == first["mbr_id"]

    shop_floor.start(second["batch"])
    assert shop_floor.complete(second["batch"], produced="100").status_code == 200
    third = shop_floor.order(order["id"])["batches"][2]
    assert (third["quantity_planned"], third["continues"]) == ("52.000", second["batch_id"])  # only what remains

    shop_floor.start(third["batch"])
    assert shop_floor.complete(third["batch"], produced="53").status_code == 200
    done = shop_floor.order(order["id"])
    assert (done["status"], done["quantity_completed"], done["quantity_remaining"]) == (
        "completed",
        "251.000",
        "-1.000",
    )
    assert len(done["batches"]) == 3  # the last batch is not continued
    assert [row["quantity_counted"] for row in done["batches"]] == ["98.000", "100.000", "53.000"]
    assert done["allowed_actions"] == ["close"]

    completed = DomainEvent.objects.filter(event_type="BATCH_COMPLETED").order_by("position")
    assert [(event.payload["order"], event.payload["completed_quantity"]) for event in completed] == [
        ("PO-0001", "98.000"),
        ("PO-0001", "100.000"),
        ("PO-0001", "53.000"),
    ]
    continuation = DomainEvent.objects.get(event_type="BATCH_CREATED", aggregate_id=second["batch_id"])
    assert (continuation.payload["order"], continuation.payload["continues"]) == ("PO-0001", first["batch_id"])
    order_events = DomainEvent.objects.filter(aggregate_type="production_order").order_by("position")
    assert [event.event_type for event in order_events] == ["ORDER_CREATED", "ORDER_STARTED", "ORDER_COMPLETED"]


def test_a_closed_order_takes_no_batch_and_no_completion(place_order, shop_floor):
    order = place_order(quantity_ordered="100", batch_size=None)
    planned = shop_floor.create_batch(order).json()["batches"]
    extra = shop_floor.create_batch(order, quantity_planned="10").json()["batches"]
    first, second = planned[0], extra[1]
    shop_floor.start(first["batch"])
    shop_floor.start(second["batch"])
    assert shop_floor.complete(first["batch"], produced="100").status_code == 200
    response = shop_floor.planner_client.post(f"{ORDERS}{order['id']}/close/", {"reason": "Delivered"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "closed"

    refused = shop_floor.create_batch(order)
    assert refused.status_code == 409
    assert refused.json()["current_status"] == "closed"

    late = shop_floor.complete(second["batch"], produced="10")
    assert late.status_code == 409
    assert "PO-0001 is closed" in late.json()["detail"]
    assert BatchRecord.objects.get(pk=second["batch"]).status == "in_progress"  # nothing changed
    assert ProductionOrder.objects.get().quantity_completed == Decimal("100")


def test_cancelling_an_order_cancels_its_batches_not_started(place_order, shop_floor):
    order = place_order(quantity_ordered="300", batch_size="100")
    for _ in range(3):
        shop_floor.create_batch(order)
    batches = shop_floor.order(order["id"])["batches"]
    shop_floor.start(batches[0]["batch"])
    url = f"{ORDERS}{order['id']}/cancel/"

    without_reason = shop_floor.planner_client.post(url, {}, format="json")
    assert without_reason.status_code == 400
    assert "reason" in without_reason.json()["errors"]

    response = shop_floor.planner_client.post(url, {"reason": "Customer withdrew the order"}, format="json")
    assert response.status_code == 200, response.json()
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    # The batches not started are cancelled with the order and kept in the records.
    assert [row["batch_id"] for row in cancelled["batches"]] == [row["batch_id"] for row in batches]
    statuses = [BatchRecord.objects.get(pk=row["batch"]).status for row in batches]
    assert statuses == ["in_progress", "cancelled", "cancelled"]
    reason = BatchRecord.objects.get(pk=batches[1]["batch"]).disposition_reason
    assert reason == f"{order['order_id']} cancelled: Customer withdrew the order"
    history = shop_floor.planner_client.get(f"{ORDERS}{order['id']}/history/").json()["results"]
    assert "pending batches cancelled" in history[-1]["reason"]
    assert batches[1]["batch_id"] in history[-1]["reason"]

    # The batch in production still completes and is counted; the cancelled order continues no more.
    assert shop_floor.complete(batches[0]["batch"], produced="100").status_code == 200
    order_now = shop_floor.order(order["id"])
    assert (order_now["status"], order_now["quantity_completed"], len(order_now["batches"])) == (
        "cancelled",
        "100.000",
        3,
    )


def test_an_order_that_does_not_continue_waits_for_its_planner(place_order, shop_floor):
    order = place_order(quantity_ordered="200", batch_size="100", continue_automatically=False)
    [first] = shop_floor.create_batch(order).json()["batches"]
    shop_floor.start(first["batch"])
    shop_floor.complete(first["batch"], produced="100")

    state = shop_floor.order(order["id"])
    assert (state["status"], len(state["batches"]), state["quantity_remaining"]) == ("in_progress", 1, "100.000")
    assert "create_batch" in state["allowed_actions"]


def test_a_continuation_uses_the_mbr_version_in_effect(place_order, shop_floor, author, qa_approver):
    from batch_records.services.mbr import approve_mbr, create_new_mbr_version, submit_mbr
    from users.tests.factories import PASSWORD

    order = place_order(quantity_ordered="200", batch_size="100")
    [first] = shop_floor.create_batch(order).json()["batches"]
    original = ProductionOrder.objects.get().mbr
    draft = create_new_mbr_version(original, actor=author)
    approve_mbr(submit_mbr(draft, actor=author), actor=qa_approver, password=PASSWORD)
    shop_floor.start(first["batch"])
    shop_floor.complete(first["batch"], produced="100")

    second = shop_floor.order(order["id"])["batches"][1]
    assert (first["mbr_version"], second["mbr_version"]) == (original.version, original.version + 1)


def test_a_continuation_that_cannot_be_made_leaves_the_completion_standing(place_order, shop_floor, qa_approver):
    from batch_records.services.mbr import obsolete_mbr
    from users.tests.factories import PASSWORD

    order = place_order(quantity_ordered="200", batch_size="100")
    [first] = shop_floor.create_batch(order).json()["batches"]
    shop_floor.start(first["batch"])
    obsolete_mbr(ProductionOrder.objects.get().mbr, actor=qa_approver, reason="Withdrawn", password=PASSWORD)

    assert shop_floor.complete(first["batch"], produced="100").status_code == 200
    state = shop_floor.order(order["id"])
    assert len(state["batches"]) == 1
    assert "no approved master batch record in effect" in state["continuation_problem"]
    assert OrderBatch.objects.count() == 1


def test_linking_a_batch_checks_site_product_and_status(place_order, shop_floor, make_batch, make_approved_mbr):
    order = place_order(quantity_ordered="100", batch_size=None)
    same_product = make_batch(ProductionOrder.objects.get().mbr)
    other_product = make_batch(make_approved_mbr())
    url = f"{ORDERS}{order['id']}/link_batch/"

    refused = shop_floor.planner_client.post(url, {"batch": other_product.pk}, format="json")
    assert refused.status_code == 400
    assert "makes" in refused.json()["errors"]["batch"][0]

    linked = shop_floor.planner_client.post(url, {"batch": same_product.pk}, format="json")
    assert linked.status_code == 200, linked.json()
    assert [row["batch_id"] for row in linked.json()["batches"]] == [same_product.batch_id]
    again = shop_floor.planner_client.post(url, {"batch": same_product.pk}, format="json")
    assert "already belongs to an order" in again.json()["errors"]["batch"][0]


def test_an_implausible_declared_quantity_is_refused_and_counts_nothing(place_order, shop_floor):
    """Seed 000: the declared quantity must account for the batch (400 naming both numbers)."""
    order = place_order(quantity_ordered="200", batch_size="100")
    [first] = shop_floor.create_batch(order).json()["batches"]
    shop_floor.start(first["batch"])

    response = shop_floor.complete(first["batch"], produced="1000")
    assert response.status_code == 400
    message = response.json()["errors"]["quantity_produced"][0]
    assert "1000" in message
    assert "100.000 planned" in message
    state = shop_floor.order(order["id"])
    assert (state["quantity_completed"], len(state["batches"])) == ("0.000", 1)
    assert not DomainEvent.objects.filter(event_type="BATCH_COMPLETED").exists()
