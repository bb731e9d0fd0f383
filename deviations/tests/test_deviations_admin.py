"""The deviation admin: pages load; closing signs through the service with the password."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/deviations/deviation/"


def test_pages_load_with_few_queries(
    qa_approver, make_deviation, make_closed_deviation, admin_client_for, django_assert_max_num_queries
):
    client = admin_client_for(qa_approver)
    for _ in range(5):
        make_deviation()
    with django_assert_max_num_queries(12):
        assert client.get(CHANGELIST).status_code == 200
    deviation = make_closed_deviation()
    with django_assert_max_num_queries(25):
        assert client.get(f"{CHANGELIST}{deviation.pk}/change/").status_code == 200


def test_close_action_signs_through_the_service(qa_approver, make_investigating_deviation, admin_client_for):
    deviation = make_investigating_deviation(root_cause="Worn seal", conclusion="Replaced")
    data = {"action": "action_close_deviation_from_admin", ACTION_CHECKBOX_NAME: [deviation.pk], "confirm": "yes"}
    admin_client_for(qa_approver).post(CHANGELIST, {**data, "password": PASSWORD, "reason": "Done"}, follow=True)
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_by) == ("closed", qa_approver)
    assert deviation.signatures.get().comment == "Done"


def test_close_action_refused_without_root_cause(qa_approver, make_investigating_deviation, admin_client_for):
    deviation = make_investigating_deviation(conclusion="Replaced")
    data = {"action": "action_close_deviation_from_admin", ACTION_CHECKBOX_NAME: [deviation.pk], "confirm": "yes"}
    page = admin_client_for(qa_approver).post(CHANGELIST, {**data, "password": PASSWORD}, follow=True)
    assert b"root cause" in page.content
    deviation.refresh_from_db()
    assert deviation.status == "investigating"
