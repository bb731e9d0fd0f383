"""The CAPA admin: a constant number of queries on long lists, links to the deviation and
batch deviations, and the workflow through the services (the owner starts their own CAPA;
closing signed, a wrong password changes nothing)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/capa/capa/"
ROWS = 32


def run_action(client, action, capa, **data):
    payload = {"action": action, ACTION_CHECKBOX_NAME: [capa.pk], "confirm": "yes", **data}
    return client.post(CHANGELIST, payload, follow=True)


def messages_of(page):
    return [str(message) for message in page.context["messages"]]


@pytest.fixture
def deviation(site, operator):
    from deviations.tests.factories import DeviationFactory

    deviation = DeviationFactory.build(site=site)
    deviation.save(actor=operator)
    return deviation


def test_list_has_a_constant_number_of_queries(
    make_capa, deviation, records_admin, admin_client_for, django_assert_max_num_queries
):
    for _ in range(ROWS):
        make_capa(deviation=deviation)
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(9):
        page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["cl"].result_count == ROWS
    html = page.content.decode()
    assert "status-badge" in html
    assert f'href="/admin/deviations/deviation/{deviation.pk}/change/"' in html


def test_change_page_links_the_deviation_and_batch_deviations(
    make_closed_capa, deviation, records_admin, admin_client_for, django_assert_max_num_queries
):
    capa = make_closed_capa(deviation=deviation)
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(10):
        page = client.get(f"{CHANGELIST}{capa.pk}/change/")
    html = page.content.decode()
    assert f'href="/admin/deviations/deviation/{deviation.pk}/change/"' in html
    assert f"/admin/batch_records/batchdeviation/?linked_capa__id__exact={capa.pk}" in html
    assert "electronic signatures" in html.lower()
    assert 'name="_save"' not in html  # closed: read-only
    assert client.get(f"{CHANGELIST}{capa.pk}/history/").status_code == 200


def test_owner_starts_their_own_capa_whatever_their_role(make_capa, operator, admin_client_for):
    capa = make_capa()
    page = run_action(admin_client_for(operator), "action_start_capa", capa)
    assert "Start the work: done for 1 record(s)." in messages_of(page)
    capa.refresh_from_db()
    assert capa.status == "in_progress"


def test_start_by_someone_else_without_the_permission_is_refused(make_capa, operator2, admin_client_for):
    capa = make_capa()
    page = run_action(admin_client_for(operator2), "action_start_capa", capa)
    assert any("permission" in message for message in messages_of(page))
    capa.refresh_from_db()
    assert capa.status == "open"


def test_effectiveness_check_action(make_in_progress_capa, qa_reviewer, admin_client_for):
    capa = make_in_progress_capa()
    run_action(admin_client_for(qa_reviewer), "action_check_capa_effectiveness", capa)
    capa.refresh_from_db()
    assert capa.status == "effectiveness_check"


def test_close_action_signs(make_capa_in_effectiveness_check, qa_approver, admin_client_for):
    capa = make_capa_in_effectiveness_check(effectiveness_result="No recurrence")
    run_action(admin_client_for(qa_approver), "action_close_capa_from_admin", capa, password=PASSWORD)
    capa.refresh_from_db()
    assert (capa.status, capa.closed_by) == ("closed", qa_approver)
    assert capa.signatures.get().meaning == "closed"


def test_close_action_with_a_wrong_password_changes_nothing(
    make_capa_in_effectiveness_check, qa_approver, admin_client_for
):
    capa = make_capa_in_effectiveness_check(effectiveness_result="No recurrence")
    page = run_action(admin_client_for(qa_approver), "action_close_capa_from_admin", capa, password="wrong")
    assert any("password is not correct" in message for message in messages_of(page))
    capa.refresh_from_db()
    assert (capa.status, capa.closed_by) == ("effectiveness_check", None)
    assert capa.signatures.count() == 0
