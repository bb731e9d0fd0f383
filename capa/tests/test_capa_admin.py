"""The CAPA admin: pages load; the workflow runs through the services."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/capa/capa/"


def test_pages_load_with_few_queries(
    qa_approver, make_capa, make_closed_capa, admin_client_for, django_assert_max_num_queries
):
    client = admin_client_for(qa_approver)
    for _ in range(5):
        make_capa()
    with django_assert_max_num_queries(12):
        assert client.get(CHANGELIST).status_code == 200
    capa = make_closed_capa()
    with django_assert_max_num_queries(25):
        assert client.get(f"{CHANGELIST}{capa.pk}/change/").status_code == 200


def test_workflow_actions_run_through_the_services(qa_approver, make_capa, admin_client_for):
    client = admin_client_for(qa_approver)
    capa = make_capa(effectiveness_result="No recurrence")
    for action in ("action_start_capa", "action_check_capa_effectiveness"):
        client.post(CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: [capa.pk], "confirm": "yes"}, follow=True)
    data = {"action": "action_close_capa_from_admin", ACTION_CHECKBOX_NAME: [capa.pk], "confirm": "yes"}
    client.post(CHANGELIST, {**data, "password": PASSWORD}, follow=True)
    capa.refresh_from_db()
    assert (capa.status, capa.closed_by) == ("closed", qa_approver)
    assert capa.signatures.get().meaning == "closed"
