"""The equipment register through the API: CRUD by records administrators, site scoping,
and the calibration, cleaning and status actions with their logs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from equipment import services
from equipment.models import CalibrationRecord, CleaningLog
from equipment.tests.factories import EquipmentFactory

pytestmark = pytest.mark.django_db
URL = "/api/equipment/"


def in_days(days):
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def action_url(equipment, action):
    return f"{URL}{equipment.pk}/{action}/"


# --- register (CRUD) -------------------------------------------------------------------


def test_records_admin_registers_equipment_for_own_site(records_admin, site, api_client_for):
    response = api_client_for(records_admin).post(
        URL, {"name": "Fette 1200i", "equipment_type": "tablet_press", "site": site.pk, "reason": "Commissioned"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["equipment_id"].startswith("EQ-")
    assert body["status"] == "available"
    assert body["cleaning_status"] == "dirty"
    assert body["calibration_due_date"] is None
    assert body["site_code"] == "S1"
    assert body["created_by"] == "records_admin"
    # Never calibrated nor cleaned: registered, but not usable yet.
    assert len(body["usability_problems"]) == 2


def test_registering_equipment_for_a_site_the_user_is_not_in_is_400(records_admin, other_site, api_client_for):
    response = api_client_for(records_admin).post(URL, {"name": "Mixer", "site": other_site.pk})
    assert response.status_code == 400
    assert "site" in response.json()["errors"]


@pytest.mark.parametrize("field", ["status", "calibration_due_date", "cleaning_status", "cleaned_at", "created_by"])
def test_status_calibration_and_cleaning_cannot_be_written_directly(records_admin, site, api_client_for, field):
    value = {"status": "in_use", "calibration_due_date": in_days(300), "cleaning_status": "clean"}.get(field, "x")
    response = api_client_for(records_admin).post(URL, {"name": "Mixer", "site": site.pk, field: value})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


def test_records_admin_edits_equipment_with_a_reason(records_admin, make_equipment, api_client_for):
    equipment = make_equipment(name="Old name")
    client = api_client_for(records_admin)
    response = client.patch(f"{URL}{equipment.pk}/", {"name": "Blender V-200", "reason": "Asset tag corrected"})
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Blender V-200"
    history = client.get(f"{URL}{equipment.pk}/history/").json()["results"]
    assert history[-1]["reason"] == "Asset tag corrected"
    assert history[-1]["changes"] == [{"field": "name", "old": "Old name", "new": "Blender V-200"}]


def test_patching_status_is_400(records_admin, make_equipment, api_client_for):
    equipment = make_equipment()
    response = api_client_for(records_admin).patch(f"{URL}{equipment.pk}/", {"status": "out_of_service"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status"}


def test_cleaning_validity_must_be_at_least_one_hour(records_admin, site, api_client_for):
    response = api_client_for(records_admin).post(URL, {"name": "Mixer", "site": site.pk, "cleaning_validity_hours": 0})
    assert response.status_code == 400
    assert "cleaning_validity_hours" in response.json()["errors"]


def test_equipment_in_use_cannot_be_edited(records_admin, operator, make_usable_equipment, api_client_for):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    response = api_client_for(records_admin).patch(f"{URL}{equipment.pk}/", {"name": "x"})
    assert response.status_code == 409
    assert response.json()["current_status"] == "in_use"


@pytest.mark.parametrize("persona", ["operator", "verifier", "author", "qa_reviewer", "qa_approver"])
def test_only_records_admin_registers_or_edits_equipment(persona, request, site, make_equipment, api_client_for):
    client = api_client_for(request.getfixturevalue(persona))
    equipment = make_equipment()
    assert client.post(URL, {"name": "Mixer", "site": site.pk}).status_code == 403
    assert client.patch(f"{URL}{equipment.pk}/", {"name": "x"}).status_code == 403
    assert client.get(f"{URL}{equipment.pk}/").status_code == 200


def test_equipment_is_never_deleted(records_admin, make_equipment, api_client_for):
    equipment = make_equipment()
    response = api_client_for(records_admin).delete(f"{URL}{equipment.pk}/")
    assert response.status_code == 409
    assert response.json()["action"] == "delete"
    assert EquipmentFactory._meta.model.objects.filter(pk=equipment.pk).exists()


# --- site scoping ----------------------------------------------------------------------


def test_equipment_of_another_site_is_404_and_not_listed(records_admin, other_site, make_equipment, api_client_for):
    mine = make_equipment()
    theirs = EquipmentFactory(site=other_site)
    client = api_client_for(records_admin)
    assert [row["id"] for row in client.get(URL).json()["results"]] == [mine.pk]
    assert client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert client.patch(f"{URL}{theirs.pk}/", {"name": "x"}).status_code == 404
    assert client.post(action_url(theirs, "record_cleaning"), {"result": "pass"}).status_code == 404
    assert client.post(action_url(theirs, "set_status"), {"status": "maintenance", "reason": "x"}).status_code == 404


def test_logs_of_another_sites_equipment_are_hidden(verifier, other_site, make_equipment, api_client_for):
    stranger = EquipmentFactory(site=other_site)
    services.record_cleaning(stranger, actor=verifier, result="pass")
    services.record_calibration(
        stranger, actor=verifier, result="pass", next_due_date=timezone.localdate() + timedelta(1)
    )
    mine = make_equipment()
    services.record_cleaning(mine, actor=verifier, result="pass")
    client = api_client_for(verifier)
    cleanings = client.get(f"{URL}cleaning-logs/").json()["results"]
    assert [row["equipment"] for row in cleanings] == [mine.pk]
    assert client.get(f"{URL}calibration-records/").json()["count"] == 0
    other_log = CleaningLog.objects.get(equipment=stranger)
    assert client.get(f"{URL}cleaning-logs/{other_log.pk}/").status_code == 404
    other_record = CalibrationRecord.objects.get(equipment=stranger)
    assert client.get(f"{URL}calibration-records/{other_record.pk}/").status_code == 404


# --- record_calibration ----------------------------------------------------------------


def test_passed_calibration_sets_the_due_date_and_logs_who_and_when(verifier, make_equipment, api_client_for):
    equipment = make_equipment()
    before = timezone.now()
    response = api_client_for(verifier).post(
        action_url(equipment, "record_calibration"),
        {"result": "pass", "next_due_date": in_days(180), "certificate": "CAL-2026-117", "notes": "Within tolerance"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["calibration_due_date"] == in_days(180)
    assert body["status"] == "available"
    record = CalibrationRecord.objects.get(equipment=equipment)
    assert record.performed_by == verifier
    assert record.performed_at >= before
    assert (record.result, record.certificate, record.next_due_date.isoformat()) == (
        "pass",
        "CAL-2026-117",
        in_days(180),
    )


def test_calibration_performer_and_time_cannot_be_sent(verifier, make_equipment, api_client_for):
    equipment = make_equipment()
    response = api_client_for(verifier).post(
        action_url(equipment, "record_calibration"),
        {"result": "pass", "next_due_date": in_days(30), "performed_by": 1, "performed_at": "2020-01-01T00:00:00Z"},
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"performed_by", "performed_at"}
    assert not CalibrationRecord.objects.exists()


def test_failed_calibration_puts_equipment_in_maintenance(verifier, make_usable_equipment, api_client_for):
    equipment = make_usable_equipment()
    response = api_client_for(verifier).post(
        action_url(equipment, "record_calibration"), {"result": "fail", "notes": "Load cell drift 2.3 %"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "maintenance"
    # The previous due date no longer stands: only a passed calibration makes it usable again.
    assert body["calibration_due_date"] is None
    assert equipment.calibrations.first().result == "fail"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"result": "pass"}, "next_due_date"),
        ({"result": "pass", "next_due_date": "2001-01-01"}, "next_due_date"),
        ({"result": "pass", "next_due_date": "today"}, "next_due_date"),
        ({"result": "fail", "next_due_date": "tomorrow"}, "next_due_date"),
        ({"result": "maybe", "next_due_date": "tomorrow"}, "result"),
        ({"next_due_date": "tomorrow"}, "result"),
    ],
)
def test_calibration_with_bad_input_is_400_naming_the_field(verifier, make_equipment, api_client_for, payload, field):
    dates = {"today": in_days(0), "tomorrow": in_days(1)}
    if "next_due_date" in payload:
        payload = {**payload, "next_due_date": dates.get(payload["next_due_date"], payload["next_due_date"])}
    equipment = make_equipment()
    response = api_client_for(verifier).post(action_url(equipment, "record_calibration"), payload)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not CalibrationRecord.objects.exists()


@pytest.mark.parametrize("persona", ["verifier", "records_admin"])
def test_supervisors_and_records_admins_record_calibrations(persona, request, make_equipment, api_client_for):
    equipment = make_equipment()
    client = api_client_for(request.getfixturevalue(persona))
    body = {"result": "pass", "next_due_date": in_days(30)}
    assert client.post(action_url(equipment, "record_calibration"), body).status_code == 200


@pytest.mark.parametrize("persona", ["operator", "author", "qa_reviewer", "qa_approver"])
def test_other_roles_cannot_record_calibrations(persona, request, make_equipment, api_client_for):
    equipment = make_equipment()
    client = api_client_for(request.getfixturevalue(persona))
    response = client.post(action_url(equipment, "record_calibration"), {"result": "pass", "next_due_date": in_days(9)})
    assert response.status_code == 403
    assert not CalibrationRecord.objects.exists()


def test_calibration_of_equipment_in_use_is_409(verifier, operator, make_usable_equipment, api_client_for):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    response = api_client_for(verifier).post(
        action_url(equipment, "record_calibration"), {"result": "pass", "next_due_date": in_days(30)}
    )
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == ("in_use", "record_calibration")
    assert equipment.calibrations.count() == 1  # only the one made before use


def test_calibration_of_equipment_in_maintenance_is_allowed(verifier, records_admin, make_equipment, api_client_for):
    equipment = services.set_equipment_status(
        make_equipment(), actor=records_admin, status="maintenance", reason="Repair"
    )
    response = api_client_for(verifier).post(
        action_url(equipment, "record_calibration"), {"result": "pass", "next_due_date": in_days(30)}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "maintenance"  # back to available is a deliberate set_status


# --- record_cleaning -------------------------------------------------------------------


def test_passed_cleaning_makes_equipment_clean_now(operator, make_equipment, api_client_for):
    equipment = make_equipment()
    before = timezone.now()
    response = api_client_for(operator).post(
        action_url(equipment, "record_cleaning"), {"result": "pass", "method": "SOP-CL-004 wet clean"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["cleaning_status"] == "clean"
    equipment.refresh_from_db()
    assert equipment.cleaned_at >= before
    log = CleaningLog.objects.get(equipment=equipment)
    assert (log.cleaned_by, log.result, log.method) == (operator, "pass", "SOP-CL-004 wet clean")


def test_failed_cleaning_leaves_equipment_dirty(operator, make_usable_equipment, api_client_for):
    equipment = make_usable_equipment()
    response = api_client_for(operator).post(
        action_url(equipment, "record_cleaning"), {"result": "fail", "notes": "Residue on punches"}
    )
    assert response.status_code == 200
    assert response.json()["cleaning_status"] == "dirty"
    assert equipment.cleanings.first().result == "fail"


def test_cleaning_with_unknown_result_or_field_is_400(operator, make_equipment, api_client_for):
    equipment = make_equipment()
    client = api_client_for(operator)
    assert client.post(action_url(equipment, "record_cleaning"), {"result": "ok"}).status_code == 400
    response = client.post(action_url(equipment, "record_cleaning"), {"result": "pass", "cleaned_by": 3})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"cleaned_by"}
    assert not CleaningLog.objects.exists()


@pytest.mark.parametrize("persona", ["operator", "verifier", "records_admin"])
def test_shop_floor_and_records_admin_record_cleanings(persona, request, make_equipment, api_client_for):
    client = api_client_for(request.getfixturevalue(persona))
    assert client.post(action_url(make_equipment(), "record_cleaning"), {"result": "pass"}).status_code == 200


@pytest.mark.parametrize("persona", ["author", "qa_reviewer", "qa_approver"])
def test_other_roles_cannot_record_cleanings(persona, request, make_equipment, api_client_for):
    client = api_client_for(request.getfixturevalue(persona))
    assert client.post(action_url(make_equipment(), "record_cleaning"), {"result": "pass"}).status_code == 403
    assert not CleaningLog.objects.exists()


def test_cleaning_of_equipment_in_use_is_409(operator, make_usable_equipment, api_client_for):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    response = api_client_for(operator).post(action_url(equipment, "record_cleaning"), {"result": "pass"})
    assert response.status_code == 409
    assert response.json()["current_status"] == "in_use"


# --- set_status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "maintenance"),
        ([], "out_of_service"),
        (["maintenance"], "available"),
        (["maintenance"], "out_of_service"),
        (["out_of_service"], "available"),
        (["out_of_service"], "maintenance"),
    ],
)
def test_records_admin_sets_status(records_admin, make_equipment, api_client_for, path, target):
    equipment = make_equipment()
    for status in path:
        equipment = services.set_equipment_status(equipment, actor=records_admin, status=status, reason="setup")
    response = api_client_for(records_admin).post(
        action_url(equipment, "set_status"), {"status": target, "reason": "Preventive maintenance PM-88"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == target
    assert equipment.history.latest("history_id").history_change_reason == "Preventive maintenance PM-88"


def test_set_status_to_in_use_is_400(records_admin, make_equipment, api_client_for):
    response = api_client_for(records_admin).post(
        action_url(make_equipment(), "set_status"), {"status": "in_use", "reason": "x"}
    )
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_set_status_needs_a_reason(records_admin, make_equipment, api_client_for):
    response = api_client_for(records_admin).post(action_url(make_equipment(), "set_status"), {"status": "maintenance"})
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_set_status_to_the_current_status_is_409(records_admin, make_equipment, api_client_for):
    response = api_client_for(records_admin).post(
        action_url(make_equipment(), "set_status"), {"status": "available", "reason": "x"}
    )
    assert response.status_code == 409
    assert response.json()["current_status"] == "available"


def test_set_status_of_equipment_in_use_is_409(records_admin, operator, make_usable_equipment, api_client_for):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    response = api_client_for(records_admin).post(
        action_url(equipment, "set_status"), {"status": "out_of_service", "reason": "Broken"}
    )
    assert response.status_code == 409
    body = response.json()
    assert (body["current_status"], body["action"]) == ("in_use", "set_status")
    equipment.refresh_from_db()
    assert equipment.status == "in_use"


@pytest.mark.parametrize("persona", ["operator", "verifier", "author", "qa_reviewer", "qa_approver"])
def test_other_roles_cannot_set_status(persona, request, make_equipment, api_client_for):
    client = api_client_for(request.getfixturevalue(persona))
    response = client.post(action_url(make_equipment(), "set_status"), {"status": "maintenance", "reason": "x"})
    assert response.status_code == 403


# --- what each role is offered ------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "actions"),
    [
        ("operator", ["record_cleaning"]),
        ("verifier", ["record_calibration", "record_cleaning"]),
        ("records_admin", ["record_calibration", "record_cleaning", "set_status"]),
        ("qa_approver", []),
    ],
)
def test_allowed_actions_follow_role(persona, actions, request, make_equipment, api_client_for):
    client = api_client_for(request.getfixturevalue(persona))
    assert client.get(f"{URL}{make_equipment().pk}/").json()["allowed_actions"] == actions


def test_equipment_in_use_offers_no_action(records_admin, operator, make_usable_equipment, api_client_for):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    body = api_client_for(records_admin).get(f"{URL}{equipment.pk}/").json()
    assert body["allowed_actions"] == []
    assert body["usability_problems"] == [f"{equipment.equipment_id} is 'in_use', not available."]


# --- logs ------------------------------------------------------------------------------


def test_logs_are_read_only(records_admin, make_usable_equipment, api_client_for):
    equipment = make_usable_equipment()
    client = api_client_for(records_admin)
    calibration = equipment.calibrations.get()
    cleaning = equipment.cleanings.get()
    for url in (f"{URL}calibration-records/", f"{URL}cleaning-logs/"):
        assert client.post(url, {"equipment": equipment.pk, "result": "pass"}).status_code == 405
    assert client.patch(f"{URL}calibration-records/{calibration.pk}/", {"notes": "x"}).status_code == 405
    assert client.delete(f"{URL}cleaning-logs/{cleaning.pk}/").status_code == 405


def test_logs_filter_by_equipment_and_result(verifier, make_equipment, api_client_for):
    first, second = make_equipment(), make_equipment()
    services.record_cleaning(first, actor=verifier, result="fail")
    services.record_cleaning(first, actor=verifier, result="pass")
    services.record_cleaning(second, actor=verifier, result="pass")
    services.record_calibration(first, actor=verifier, result="fail")
    services.record_calibration(
        second, actor=verifier, result="pass", next_due_date=timezone.localdate() + timedelta(9)
    )
    client = api_client_for(verifier)
    cleanings = f"{URL}cleaning-logs/"
    assert client.get(cleanings, {"equipment": first.pk}).json()["count"] == 2
    assert client.get(cleanings, {"equipment": first.pk, "result": "pass"}).json()["count"] == 1
    assert client.get(cleanings, {"result": "fail"}).json()["count"] == 1
    calibrations = client.get(f"{URL}calibration-records/", {"result": "pass"}).json()["results"]
    assert [(row["equipment_code"], row["performed_by"]) for row in calibrations] == [(second.equipment_id, "verifier")]
    assert client.get(cleanings, {"result": "nonsense"}).status_code == 400


def test_log_detail_shows_who_and_when(operator, make_equipment, api_client_for):
    equipment = make_equipment()
    services.record_cleaning(equipment, actor=operator, result="pass", method="CIP")
    log = equipment.cleanings.get()
    body = api_client_for(operator).get(f"{URL}cleaning-logs/{log.pk}/").json()
    assert (body["equipment_code"], body["cleaned_by"], body["result"], body["method"]) == (
        equipment.equipment_id,
        "operator",
        "pass",
        "CIP",
    )


# --- lists -----------------------------------------------------------------------------


def test_list_filters_search_and_ordering(records_admin, verifier, make_equipment, api_client_for):
    press = make_equipment(name="Tablet press", equipment_type="press")
    make_equipment(name="Fluid bed dryer", equipment_type="dryer")
    broken = make_equipment(name="Coater", equipment_type="coater")
    services.set_equipment_status(broken, actor=records_admin, status="out_of_service", reason="Retired")
    services.record_calibration(
        press, actor=verifier, result="pass", next_due_date=timezone.localdate() + timedelta(20)
    )
    services.record_cleaning(press, actor=verifier, result="pass")
    client = api_client_for(records_admin)

    def ids(**params):
        return sorted(row["name"] for row in client.get(URL, params).json()["results"])

    assert ids(status=["available", "out_of_service"]) == ["Coater", "Fluid bed dryer", "Tablet press"]
    assert ids(status="out_of_service") == ["Coater"]
    assert ids(equipment_type="dryer") == ["Fluid bed dryer"]
    assert ids(cleaning_status="clean") == ["Tablet press"]
    assert ids(calibration_due_date__gte=in_days(10), calibration_due_date__lte=in_days(30)) == ["Tablet press"]
    assert ids(search="dryer") == ["Fluid bed dryer"]
    assert ids(search=press.equipment_id) == ["Tablet press"]
    assert len(ids(created_at__date__gte=in_days(0), created_at__date__lte=in_days(0))) == 3
    assert ids(created_at__date__gte=in_days(1)) == []
    ordered = [row["name"] for row in client.get(URL, {"ordering": "-name"}).json()["results"]]
    assert ordered == ["Tablet press", "Fluid bed dryer", "Coater"]
    listed = {row["name"]: row["usable"] for row in client.get(URL).json()["results"]}
    assert listed == {"Tablet press": True, "Fluid bed dryer": False, "Coater": False}
    assert client.get(URL, {"status": "nonsense"}).status_code == 400


@pytest.mark.parametrize("path", ["", "calibration-records/", "cleaning-logs/"])
def test_list_query_count_does_not_grow_with_rows(
    path, verifier, make_usable_equipment, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(verifier)
    for _ in range(2):
        make_usable_equipment()
    with django_assert_max_num_queries(10) as few:
        assert client.get(f"{URL}{path}").status_code == 200
    for _ in range(10):
        make_usable_equipment()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(f"{URL}{path}").json()["count"] == 12


def test_detail_query_count_is_bounded(verifier, make_usable_equipment, api_client_for, django_assert_max_num_queries):
    equipment = make_usable_equipment()
    client = api_client_for(verifier)
    with django_assert_max_num_queries(10):
        assert client.get(f"{URL}{equipment.pk}/").status_code == 200


def test_moving_equipment_to_a_site_the_user_is_not_in_is_400(
    records_admin, other_site, make_equipment, api_client_for
):
    equipment = make_equipment()
    response = api_client_for(records_admin).patch(f"{URL}{equipment.pk}/", {"site": other_site.pk})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"site"}


@pytest.mark.parametrize("path", ["", "calibration-records/", "cleaning-logs/"])
def test_anonymous_requests_are_401(path, anonymous_client):
    assert anonymous_client.get(f"{URL}{path}").status_code == 401


def test_a_retried_cleaning_with_the_same_idempotency_key_is_logged_once(operator, make_equipment, api_client_for):
    equipment = make_equipment()
    client = api_client_for(operator)
    first = client.post(action_url(equipment, "record_cleaning"), {"result": "pass"}, HTTP_IDEMPOTENCY_KEY="tab-7-0042")
    again = client.post(action_url(equipment, "record_cleaning"), {"result": "pass"}, HTTP_IDEMPOTENCY_KEY="tab-7-0042")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert equipment.cleanings.count() == 1
