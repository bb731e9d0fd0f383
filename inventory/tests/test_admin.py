"""Inventory admin: pages load with bounded queries; a lot is released only through the
signed action, and a wrong password changes nothing."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from inventory.models import Material
from inventory.services import receive_lot
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def lot(records_admin, site):
    material = Material.objects.create(code="API-001", name="Paracetamol", unit_of_measure="kg")
    return receive_lot(
        actor=records_admin,
        material=material,
        site=site,
        supplier="Acme",
        quantity=Decimal("10"),
        expiry_date=timezone.localdate().replace(year=timezone.localdate().year + 1),
    )


def test_inventory_pages_load(records_admin, admin_client_for, lot, django_assert_max_num_queries):
    client = admin_client_for(records_admin)
    for url in ("/admin/inventory/material/", "/admin/inventory/lot/", "/admin/inventory/lotmovement/"):
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200
    assert client.get(f"/admin/inventory/lot/{lot.pk}/change/").status_code == 200


def _release(client, lot, **extra):
    data = {"action": "action_release_lot", ACTION_CHECKBOX_NAME: [lot.pk], "confirm": "yes", **extra}
    return client.post("/admin/inventory/lot/", data, follow=True)


def test_lot_released_only_with_the_password(qa_approver, admin_client_for, lot):
    client = admin_client_for(qa_approver)
    _release(client, lot, password="wrong")
    lot.refresh_from_db()
    assert lot.status == "quarantine"
    _release(client, lot, password=PASSWORD)
    lot.refresh_from_db()
    assert lot.status == "released"
    assert lot.signatures.get().meaning == "released"
