"""Orders reached through the API as a planner (verifier) and the shop floor would."""

from datetime import timedelta

import pytest
from django.utils import timezone

from batch_records.tests.conftest import make_approved_mbr, make_batch, make_draft_mbr, make_started_batch
from batch_records.tests.review_helpers import perform_steps, return_unused_materials

# The batch fixtures, shared with this app's tests.
__all__ = ["make_approved_mbr", "make_batch", "make_draft_mbr", "make_started_batch"]

ORDERS = "/api/orders/production-orders/"
BATCHES = "/api/batch_records/batch-records/"


@pytest.fixture
def planner(verifier):
    return verifier


@pytest.fixture
def place_order(api_client_for, planner, site, make_approved_mbr):
    """POST an order as the planner; returns its JSON."""

    def place(quantity_ordered="250", batch_size="100", mbr=None, **fields):
        body = {
            "site": site.pk,
            "mbr": (mbr or make_approved_mbr()).pk,
            "quantity_ordered": quantity_ordered,
            "due_date": (timezone.localdate() + timedelta(days=30)).isoformat(),
            **({"batch_size": batch_size} if batch_size is not None else {}),
            **fields,
        }
        response = api_client_for(planner).post(ORDERS, body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return place


@pytest.fixture
def shop_floor(api_client_for, operator, planner):
    """Actions through the API: plan a batch of an order, start it, perform it, complete it."""

    class ShopFloor:
        planner_client = api_client_for(planner)
        operator_client = api_client_for(operator)

        def order(self, order_id):
            response = self.planner_client.get(f"{ORDERS}{order_id}/")
            assert response.status_code == 200
            return response.json()

        def create_batch(self, order, **body):
            return self.planner_client.post(f"{ORDERS}{order['id']}/create_batch/", body, format="json")

        def start(self, batch_pk):
            response = self.operator_client.post(f"{BATCHES}{batch_pk}/start/", {}, format="json")
            assert response.status_code == 200, response.json()

        def complete(self, batch_pk, produced, rejected="0"):
            from batch_records.models import BatchRecord

            batch = BatchRecord.objects.get(pk=batch_pk)
            perform_steps(batch, operator)
            return_unused_materials(batch, operator)
            return self.operator_client.post(
                f"{BATCHES}{batch_pk}/complete/",
                {"quantity_produced": produced, "quantity_rejected": rejected},
                format="json",
            )

    return ShopFloor()
