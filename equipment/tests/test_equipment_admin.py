"""The equipment admin: site-scoped pages with bounded queries; status changed only by the
actions, which call the services (never on equipment in use)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from equipment import services
from equipment.tests.factories import EquipmentFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/equipment/equipment/"


def test_pages_load_with_few_queries_and_only_own_site(
    records_admin, other_site, make_usable_equipment, admin_client_for, django_assert_max_num_queries
):
    client = admin_client_for(records_admin)
    for _ in range(5):
        make_usable_equipment()
    theirs = EquipmentFactory(site=other_site, name="Foreign mixer")
    with django_assert_max_num_queries(12):
        page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"Foreign mixer" not in page.content
    equipment = make_usable_equipment()
    with django_assert_max_num_queries(25):
        assert client.get(f"{CHANGELIST}{equipment.pk}/change/").status_code == 200
    assert client.get(f"{CHANGELIST}{theirs.pk}/change/").status_code == 302  # not found: back to the list


def test_status_action_needs_a_reason_and_goes_through_the_service(records_admin, make_equipment, admin_client_for):
    client = admin_client_for(records_admin)
    equipment = make_equipment()
    data = {"action": "action_put_in_maintenance", ACTION_CHECKBOX_NAME: [equipment.pk], "confirm": "yes"}
    page = client.post(CHANGELIST, data, follow=True)
    assert b"A reason is required" in page.content
    client.post(CHANGELIST, {**data, "reason": "Punch wear"}, follow=True)
    equipment.refresh_from_db()
    assert equipment.status == "maintenance"
    assert equipment.history.latest("history_id").history_change_reason == "Punch wear"


def test_status_action_on_equipment_in_use_is_refused(records_admin, operator, make_usable_equipment, admin_client_for):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    client = admin_client_for(records_admin)
    data = {"action": "action_take_out_of_service", ACTION_CHECKBOX_NAME: [equipment.pk], "confirm": "yes"}
    page = client.post(CHANGELIST, {**data, "reason": "Broken"}, follow=True)
    assert b"is not allowed from status" in page.content
    equipment.refresh_from_db()
    assert equipment.status == "in_use"


def test_equipment_is_never_deleted_in_the_admin(records_admin, make_equipment, admin_client_for):
    client = admin_client_for(records_admin)
    equipment = make_equipment()
    assert client.get(f"{CHANGELIST}{equipment.pk}/delete/").status_code == 403
    assert b"delete_selected" not in client.get(CHANGELIST).content
