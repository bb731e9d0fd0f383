"""Reading units through the API: addressing by id or serial ID, the 404 message, site
scoping, filters, search, progress counts and query budgets."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from batch_records.services.batches import create_batch, start_batch
from serials.models import SerialNumber
from serials.services import force_complete_serial, scrap_serial
from users.roles import OPERATOR, VERIFIER
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
SERIALS = "/api/batch_records/serials/"


@pytest.fixture
def other_site_serial(other_site, make_serialized_mbr):
    lead = UserFactory(username="lead_s2")
    lead.groups.add(Group.objects.get(name=VERIFIER), Group.objects.get(name=OPERATOR))
    lead.sites.add(other_site)
    batch = create_batch(
        make_serialized_mbr(),
        actor=lead,
        batch_number="S2-0001",
        lot_number="S2-L1",
        quantity_planned=Decimal("1"),
        site=other_site,
    )
    start_batch(batch, actor=lead)
    return SerialNumber.objects.get(batch=batch)


def test_a_serial_is_addressed_by_its_serial_id_or_its_id(serial, operator, api_client_for):
    client = api_client_for(operator)

    by_serial_id = client.get(f"{SERIALS}{serial.serial_id}/")
    by_pk = client.get(f"{SERIALS}{serial.pk}/")

    assert by_serial_id.status_code == 200
    assert by_pk.status_code == 200
    assert by_serial_id.json() == by_pk.json()
    body = by_pk.json()
    assert body["serial_id"] == "SN-00001"
    assert body["batch"] == serial.batch_id
    assert body["batch_id"] == serial.batch.batch_id
    assert body["current_step_number"] == 1
    assert [status["step_number"] for status in body["step_statuses"]] == [1, 2, 3]
    assert body["allowed_actions"] == ["advance", "advance_to_step"]


def test_an_unknown_serial_is_404_naming_it(operator, api_client_for, db):
    client = api_client_for(operator)

    by_serial_id = client.get(f"{SERIALS}SN-99999/")
    by_pk = client.get(f"{SERIALS}424242/")
    action = client.post(f"{SERIALS}SN-99999/force_complete/", {"password": PASSWORD}, format="json")

    assert by_serial_id.status_code == 404
    assert by_serial_id.json()["detail"] == "Serial not found: SN-99999"
    assert by_pk.json()["detail"] == "Serial not found: 424242"
    assert action.status_code == 404
    assert action.json()["detail"] == "Serial not found: SN-99999"


def test_another_sites_serial_is_404_and_not_listed(serial, other_site_serial, operator, qa_approver, api_client_for):
    client = api_client_for(operator)

    detail = client.get(f"{SERIALS}{other_site_serial.serial_id}/")
    forced = api_client_for(qa_approver).post(
        f"{SERIALS}{other_site_serial.serial_id}/force_complete/", {"password": PASSWORD}, format="json"
    )
    listed = [row["serial_id"] for row in client.get(SERIALS).json()["results"]]
    record = client.get(f"{SERIALS}{other_site_serial.serial_id}/device-history-record/")
    progress = client.get(f"{SERIALS}progress/", {"batch": other_site_serial.batch_id})

    assert detail.status_code == 404
    assert detail.json()["detail"] == f"Serial not found: {other_site_serial.serial_id}"
    assert forced.status_code == 404
    other_site_serial.refresh_from_db()
    assert other_site_serial.status == "in_progress"
    assert other_site_serial.serial_id not in listed
    assert serial.serial_id in listed
    assert record.status_code == 404
    assert progress.status_code == 404


def test_serials_are_not_created_through_the_api(serialized_batch, qa_approver, api_client_for):
    response = api_client_for(qa_approver).post(SERIALS, {"batch": serialized_batch.pk}, format="json")

    assert response.status_code in (403, 405)
    assert SerialNumber.objects.filter(batch=serialized_batch).count() == 3


def test_list_filters_by_batch_status_and_force_completed(make_serialized_batch, verifier, api_client_for):
    first = make_serialized_batch(units=3)
    second = make_serialized_batch(units=2)
    one, two, _ = SerialNumber.objects.filter(batch=first).order_by("id")
    scrap_serial(one, actor=verifier, reason="Dropped")
    force_complete_serial(two, actor=verifier, password=PASSWORD)
    client = api_client_for(verifier)

    def ids(**params):
        return [row["serial_id"] for row in client.get(SERIALS, params).json()["results"]]

    assert len(ids(batch=second.pk)) == 2
    assert ids(batch=first.pk, status="scrapped") == [one.serial_id]
    assert ids(force_completed="true") == [two.serial_id]
    assert len(ids(status=["in_progress", "completed"])) == 4
    assert ids(search=two.serial_id) == [two.serial_id]
    assert len(ids(batch_id=second.batch_id)) == 2
    assert ids(ordering="-serial_id")[0] == "SN-00005"


def test_list_rows_are_light(serial, operator, api_client_for):
    [row, *_] = api_client_for(operator).get(SERIALS).json()["results"]

    assert set(row) == {
        "id",
        "serial_id",
        "batch",
        "batch_id",
        "status",
        "current_step_index",
        "force_completed",
        "completed_at",
        "created_at",
        "updated_at",
    }


def test_list_query_count_does_not_grow_with_units(
    make_serialized_batch, operator, api_client_for, django_assert_max_num_queries
):
    make_serialized_batch(units=1)
    client = api_client_for(operator)
    with django_assert_max_num_queries(20) as few:
        client.get(SERIALS)
    baseline = len(few.captured_queries)
    make_serialized_batch(units=12)

    with django_assert_max_num_queries(baseline):
        response = client.get(SERIALS)

    assert response.json()["count"] == 13


def test_detail_query_count_does_not_grow_with_steps_and_signatures(
    make_serialized_batch, operator, verifier, advance, api_client_for, django_assert_max_num_queries
):
    from serials.services import waive_serial_step

    small = SerialNumber.objects.get(batch=make_serialized_batch(units=1, steps=2))
    waive_serial_step(small, actor=verifier, step_number=2, reason="n/a", password=PASSWORD)
    client = api_client_for(operator)
    with django_assert_max_num_queries(30) as few:
        client.get(f"{SERIALS}{small.serial_id}/")
    baseline = len(few.captured_queries)
    large = SerialNumber.objects.get(batch=make_serialized_batch(units=1, steps=5))
    large = advance(large, operator, times=2)
    waive_serial_step(large, actor=verifier, step_number=4, reason="n/a", password=PASSWORD)
    waive_serial_step(large, actor=verifier, step_number=5, reason="n/a", password=PASSWORD)

    with django_assert_max_num_queries(baseline):
        response = client.get(f"{SERIALS}{large.serial_id}/")

    assert len(response.json()["step_statuses"]) == 5
    assert len(response.json()["waivers"]) == 2


def test_progress_counts_force_completed_units_as_completed(
    make_serialized_batch, operator, verifier, advance, api_client_for
):
    batch = make_serialized_batch(units=5)
    one, two, three, _, _ = SerialNumber.objects.filter(batch=batch).order_by("id")
    advance(one, operator, times=3)
    force_complete_serial(two, actor=verifier, password=PASSWORD)
    scrap_serial(three, actor=verifier, reason="Cracked")
    client = api_client_for(operator)

    by_pk = client.get(f"{SERIALS}progress/", {"batch": batch.pk})
    by_batch_id = client.get(f"{SERIALS}progress/", {"batch": batch.batch_id})

    assert by_pk.status_code == 200
    assert by_pk.json() == {
        "batch": batch.pk,
        "batch_id": batch.batch_id,
        "total": 5,
        "completed": 2,
        "force_completed": 1,
        "scrapped": 1,
        "in_progress": 2,
    }
    assert by_batch_id.json() == by_pk.json()


def test_progress_needs_a_known_batch(operator, api_client_for, db):
    client = api_client_for(operator)

    missing = client.get(f"{SERIALS}progress/")
    unknown = client.get(f"{SERIALS}progress/", {"batch": "BR-9999"})

    assert missing.status_code == 400
    assert "batch" in missing.json()["errors"]
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "Batch not found: BR-9999"


def test_progress_of_a_batch_without_serials_is_all_zero(make_started_batch, operator, api_client_for):
    batch = make_started_batch()

    response = api_client_for(operator).get(f"{SERIALS}progress/", {"batch": batch.pk})

    assert response.json()["total"] == 0


def test_history_shows_each_change_with_its_reason(serial, verifier, api_client_for):
    force_complete_serial(serial, actor=verifier, password=PASSWORD, reason="Customer accepted")

    response = api_client_for(verifier).get(f"{SERIALS}{serial.serial_id}/history/")

    assert response.status_code == 200
    reasons = [entry["reason"] for entry in response.json()["results"]]
    assert reasons[0] == f"Generated at the start of {serial.batch.batch_id}"
    assert reasons[-1].startswith('serial_force_completed {"incomplete_step_ids": [')


def test_every_role_reads_units(serial, author, records_admin, api_client_for):
    for user in (author, records_admin):
        assert api_client_for(user).get(f"{SERIALS}{serial.serial_id}/").status_code == 200


def test_anonymous_clients_are_401(serial, anonymous_client):
    assert anonymous_client.get(SERIALS).status_code == 401
