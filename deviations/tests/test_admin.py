"""The QMS deviation admin: a constant number of queries on long lists, links to the CAPAs
and batch deviations that refer to a deviation, and its workflow through the services
(closing signed, a wrong password changes nothing)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/deviations/deviation/"
ROWS = 32


def run_action(client, action, deviation, **data):
    payload = {"action": action, ACTION_CHECKBOX_NAME: [deviation.pk], "confirm": "yes", **data}
    return client.post(CHANGELIST, payload, follow=True)


def messages_of(page):
    return [str(message) for message in page.context["messages"]]


def test_list_has_a_constant_number_of_queries(
    make_deviation, make_closed_deviation, records_admin, admin_client_for, django_assert_max_num_queries
):
    for _ in range(ROWS):
        make_deviation()
    make_closed_deviation()
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(9):
        page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["cl"].result_count == ROWS + 1
    assert b"status-badge" in page.content


def test_change_page_links_related_capas_and_batch_deviations(
    make_closed_deviation, records_admin, admin_client_for, django_assert_max_num_queries
):
    deviation = make_closed_deviation()
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(10):
        page = client.get(f"{CHANGELIST}{deviation.pk}/change/")
    html = page.content.decode()
    assert f"/admin/capa/capa/?deviation__id__exact={deviation.pk}" in html
    assert f"/admin/batch_records/batchdeviation/?linked_deviation__id__exact={deviation.pk}" in html
    assert "electronic signatures" in html.lower()
    assert 'name="_save"' not in html
    assert client.get(f"{CHANGELIST}{deviation.pk}/history/").status_code == 200


def test_investigate_action(make_deviation, qa_reviewer, admin_client_for):
    deviation = make_deviation()
    page = run_action(admin_client_for(qa_reviewer), "action_investigate_deviation", deviation, reason="Assigned")
    assert "Start the investigation: done for 1 record(s)." in messages_of(page)
    deviation.refresh_from_db()
    assert deviation.status == "investigating"


def test_close_action_shows_the_meaning_and_signs(make_investigating_deviation, qa_approver, admin_client_for):
    deviation = make_investigating_deviation(root_cause="Worn seal", conclusion="Replaced")
    client = admin_client_for(qa_approver)
    page = client.post(
        CHANGELIST, {"action": "action_close_deviation_from_admin", ACTION_CHECKBOX_NAME: [deviation.pk]}
    )
    assert "Meaning of this signature: <strong>closed</strong>" in page.content.decode()
    run_action(client, "action_close_deviation_from_admin", deviation, password=PASSWORD)
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_by) == ("closed", qa_approver)


def test_close_action_with_a_wrong_password_changes_nothing(
    make_investigating_deviation, qa_approver, admin_client_for
):
    deviation = make_investigating_deviation(root_cause="Worn seal", conclusion="Replaced")
    page = run_action(admin_client_for(qa_approver), "action_close_deviation_from_admin", deviation, password="wrong")
    assert any("password is not correct" in message for message in messages_of(page))
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_by) == ("investigating", None)
    assert deviation.signatures.count() == 0


def test_close_is_offered_only_to_qa_approvers(qa_reviewer, qa_approver, admin_client_for):
    assert "action_close_deviation_from_admin" not in admin_client_for(qa_reviewer).get(CHANGELIST).content.decode()
    assert "action_close_deviation_from_admin" in admin_client_for(qa_approver).get(CHANGELIST).content.decode()


def test_deviations_are_never_deleted(make_deviation, qa_approver, admin_client_for):
    deviation = make_deviation()
    assert admin_client_for(qa_approver).get(f"{CHANGELIST}{deviation.pk}/delete/").status_code == 403
