"""Units in the admin: pages load, site-scoped, read-only; actions run the services."""

import pytest

from serials.models import SerialNumber
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ADMIN = "/admin/serials/serialnumber/"


def test_changelist_and_change_page_load_with_a_bounded_number_of_queries(
    make_serialized_batch, records_admin, admin_client_for, django_assert_max_num_queries
):
    make_serialized_batch(units=20)
    serial = SerialNumber.objects.order_by("id").first()
    client = admin_client_for(records_admin)

    with django_assert_max_num_queries(12):
        listing = client.get(ADMIN)
    page = client.get(f"{ADMIN}{serial.pk}/change/")

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 20
    assert page.status_code == 200
    assert serial.serial_id in page.content.decode()
    assert b'name="_save"' not in page.content  # read-only: units change through their actions


def test_another_sites_units_are_not_in_the_admin(make_serialized_batch, other_site, records_admin, admin_client_for):
    make_serialized_batch(units=1)
    records_admin.sites.set([other_site])

    listing = admin_client_for(records_admin).get(ADMIN)

    assert listing.context["cl"].result_count == 0


def test_force_complete_from_the_admin_asks_for_the_password_and_signs(serial, qa_approver, admin_client_for):
    client = admin_client_for(qa_approver)
    selection = {"action": "action_force_complete_serial", "_selected_action": [serial.pk]}

    confirmation = client.post(ADMIN, selection)
    done = client.post(ADMIN, {**selection, "confirm": "1", "password": PASSWORD, "reason": "Customer accepted"})

    assert confirmation.status_code == 200
    assert b'name="password"' in confirmation.content
    assert done.status_code == 302
    serial.refresh_from_db()
    assert serial.force_completed is True
    assert serial.force_completed_reason == "Customer accepted"
    assert serial.signatures.get().meaning == "force_completed"


def test_scrap_is_not_offered_to_a_user_without_the_permission(serial, operator, admin_client_for):
    listing = admin_client_for(operator).get(ADMIN)

    assert listing.status_code == 200
    assert b"action_scrap_serial" not in listing.content
