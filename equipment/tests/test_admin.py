"""The equipment admin for records management: lists stay at a constant number of queries,
calibrations and cleanings are recorded by actions calling the services (their logs are
read-only), and the status changes only through the actions."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from equipment import services
from equipment.models import CalibrationRecord, CleaningLog

pytestmark = pytest.mark.django_db
ADMIN = "/admin/equipment"
ROWS = 32


def run_action(client, action, equipment, **data):
    payload = {"action": action, ACTION_CHECKBOX_NAME: [equipment.pk], "confirm": "yes", **data}
    return client.post(f"{ADMIN}/equipment/", payload, follow=True)


def messages_of(page):
    return [str(message) for message in page.context["messages"]]


@pytest.fixture
def register(make_usable_equipment):
    return [make_usable_equipment() for _ in range(ROWS)]


@pytest.mark.parametrize("model", ["equipment", "calibrationrecord", "cleaninglog"])
def test_lists_have_a_constant_number_of_queries(
    model, register, records_admin, admin_client_for, django_assert_max_num_queries
):
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(9):
        page = client.get(f"{ADMIN}/{model}/")
    assert page.status_code == 200
    assert page.context["cl"].result_count == ROWS
    assert b"status-badge" in page.content


def test_equipment_page_shows_its_logs_with_few_queries(
    make_usable_equipment, verifier, records_admin, admin_client_for, django_assert_max_num_queries
):
    equipment = make_usable_equipment()
    for _ in range(10):
        services.record_cleaning(equipment, actor=verifier, result="pass", method="CIP")
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(12):
        page = client.get(f"{ADMIN}/equipment/{equipment.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("CIP") == 10
    assert f"/admin/batch_records/batchequipment/?equipment__id__exact={equipment.pk}" in html
    assert client.get(f"{ADMIN}/equipment/{equipment.pk}/history/").status_code == 200


def test_log_pages_link_their_equipment_and_are_read_only(make_usable_equipment, records_admin, admin_client_for):
    equipment = make_usable_equipment()
    client = admin_client_for(records_admin)
    calibration, cleaning = CalibrationRecord.objects.get(), CleaningLog.objects.get()
    for model, log in (("calibrationrecord", calibration), ("cleaninglog", cleaning)):
        page = client.get(f"{ADMIN}/{model}/{log.pk}/change/")
        assert page.status_code == 200
        assert f'href="{ADMIN}/equipment/{equipment.pk}/change/"' in page.content.decode()
        assert 'name="_save"' not in page.content.decode()
        assert client.post(f"{ADMIN}/{model}/{log.pk}/change/", {"notes": "edited"}).status_code == 403
        assert client.get(f"{ADMIN}/{model}/add/").status_code == 403
        assert client.get(f"{ADMIN}/{model}/{log.pk}/delete/").status_code == 403


def test_record_calibration_action_logs_it_through_the_service(make_equipment, verifier, admin_client_for):
    equipment = make_equipment()
    due = timezone.localdate() + timedelta(days=180)
    page = run_action(
        admin_client_for(verifier),
        "action_record_calibration",
        equipment,
        result="pass",
        next_due_date=due.isoformat(),
        certificate="CERT-42",
    )
    assert "Record a calibration: done for 1 record(s)." in messages_of(page)
    equipment.refresh_from_db()
    assert equipment.calibration_due_date == due
    log = equipment.calibrations.get()
    assert (log.result, log.certificate, log.performed_by) == ("pass", "CERT-42", verifier)


def test_record_calibration_pass_without_a_due_date_changes_nothing(make_equipment, verifier, admin_client_for):
    equipment = make_equipment()
    page = run_action(admin_client_for(verifier), "action_record_calibration", equipment, result="pass")
    assert any("next_due_date: A passed calibration needs the next due date." in m for m in messages_of(page))
    assert not equipment.calibrations.exists()


def test_failed_calibration_puts_the_equipment_in_maintenance(make_usable_equipment, verifier, admin_client_for):
    equipment = make_usable_equipment()
    run_action(admin_client_for(verifier), "action_record_calibration", equipment, result="fail")
    equipment.refresh_from_db()
    assert (equipment.status, equipment.calibration_due_date) == ("maintenance", None)


def test_record_cleaning_action(make_equipment, operator, admin_client_for):
    equipment = make_equipment()
    run_action(admin_client_for(operator), "action_record_cleaning", equipment, result="pass", method="Manual wipe")
    equipment.refresh_from_db()
    assert equipment.cleaning_status == "clean"
    assert equipment.cleanings.get().cleaned_by == operator


def test_return_to_service_action(make_equipment, records_admin, admin_client_for):
    equipment = services.set_equipment_status(
        make_equipment(), actor=records_admin, status="out_of_service", reason="Broken"
    )
    run_action(admin_client_for(records_admin), "action_return_to_service", equipment, reason="Repaired")
    equipment.refresh_from_db()
    assert equipment.status == "available"


def test_status_actions_are_offered_only_to_those_who_may_change_equipment(
    records_admin, qa_approver, operator, admin_client_for
):
    admin_page = admin_client_for(records_admin).get(f"{ADMIN}/equipment/").content.decode()
    qa_page = admin_client_for(qa_approver).get(f"{ADMIN}/equipment/").content.decode()
    operator_page = admin_client_for(operator).get(f"{ADMIN}/equipment/").content.decode()
    assert "action_put_in_maintenance" in admin_page
    assert "action_put_in_maintenance" not in qa_page
    assert "action_record_cleaning" in operator_page
    assert "action_record_calibration" not in operator_page


def test_calibration_filter_finds_overdue_equipment(
    make_equipment, make_usable_equipment, records_admin, admin_client_for
):
    never, calibrated = make_equipment(name="Never calibrated"), make_usable_equipment(name="Calibrated")
    page = admin_client_for(records_admin).get(f"{ADMIN}/equipment/?calibration=overdue").content.decode()
    assert never.equipment_id in page
    assert calibrated.equipment_id not in page
