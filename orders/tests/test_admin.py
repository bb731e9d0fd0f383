"""The admin pages of orders, events, webhooks and their deliveries open, and the admin's
actions go through the same declarations as the API."""

import pytest
from django.urls import reverse

from batch_records.models import BatchRecord
from events import relay
from events.models import DomainEvent, Webhook, WebhookDelivery
from events.services import register_webhook
from orders.models import ProductionOrder

from .conftest import ORDERS

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_records(place_order, shop_floor, records_admin, site):
    order = place_order(quantity_ordered="100", batch_size=None)
    shop_floor.create_batch(order)
    register_webhook(
        actor=records_admin, site=site, url="http://127.0.0.1:9/hook", event_types=["BATCH_CREATED"], secret="s" * 20
    )
    relay.dispatch_pending()
    return order


@pytest.mark.parametrize(
    "model", [ProductionOrder, DomainEvent, Webhook, WebhookDelivery], ids=lambda model: model.__name__
)
def test_changelist_and_change_pages_open(with_records, admin_client_for, model, django_user_model):
    superuser = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client = admin_client_for(superuser)
    meta = model._meta
    assert client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")).status_code == 200
    record = model.objects.order_by("pk").first()
    change = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[record.pk]))
    assert change.status_code == 200


def test_the_admin_cancels_an_order_with_a_reason(with_records, admin_client_for, planner, shop_floor):
    client = admin_client_for(planner)
    order = ProductionOrder.objects.get()
    url = reverse("admin:orders_productionorder_changelist")
    action = next(
        name for name in client.get(url).context["action_form"].fields["action"].choices if "cancel" in name[0]
    )

    response = client.post(
        url, {"action": action[0], "_selected_action": [order.pk], "confirm": "1", "reason": "Withdrawn"}, follow=True
    )
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == "cancelled"
    # Its pending batch is cancelled with it, and kept.
    assert [row["batch_id"] for row in shop_floor.order(order.pk)["batches"]] == ["BR-0001"]
    assert BatchRecord.objects.get(batch_id="BR-0001").status == "cancelled"
    assert shop_floor.planner_client.get(f"{ORDERS}{order.pk}/").json()["status"] == "cancelled"
