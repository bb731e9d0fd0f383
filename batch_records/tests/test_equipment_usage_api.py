"""Reading the equipment use log through the API: shapes, writes only through create and
the actions, site scoping, filters, search, ordering, query budgets, and the batch detail
that nests it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from batch_records.services.batches import create_batch
from batch_records.services.equipment_usage import (
    add_batch_equipment,
    end_usage,
    start_usage,
    verify_calibration,
    verify_cleaning,
)
from equipment import services as equipment_services
from equipment.tests.factories import EquipmentFactory
from users.roles import OPERATOR, VERIFIER
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
USAGES = "/api/batch_records/batch-equipment/"
BATCHES = "/api/batch_records/batch-records/"


@pytest.fixture
def usable_equipment(site, verifier):
    def make(**fields):
        equipment = EquipmentFactory(**{"site": site, **fields})
        equipment_services.record_calibration(
            equipment, actor=verifier, result="pass", next_due_date=timezone.localdate() + timedelta(days=90)
        )
        return equipment_services.record_cleaning(equipment, actor=verifier, result="pass")

    return make


def in_use(batch, equipment, operator, verifier):
    usage = add_batch_equipment(batch, actor=operator, equipment=equipment)
    usage = verify_cleaning(verify_calibration(usage, actor=verifier), actor=verifier)
    return start_usage(usage, actor=operator)


def names(response):
    assert response.status_code == 200, response.json()
    return [row["equipment_name"] for row in response.json()["results"]]


# --- shapes ----------------------------------------------------------------------------


def test_usage_list_rows_are_light(make_started_batch, usable_equipment, operator, verifier, api_client_for):
    batch = make_started_batch()
    equipment = usable_equipment(name="Blender B-1")
    in_use(batch, equipment, operator, verifier)
    [row] = api_client_for(operator).get(USAGES).json()["results"]
    assert (row["batch_id"], row["equipment"], row["equipment_name"], row["equipment_id_manual"]) == (
        batch.batch_id,
        equipment.pk,
        "Blender B-1",
        equipment.equipment_id,
    )
    assert (row["status"], row["started_by"], row["calibration_verified_by"]) == ("in_use", "operator", "verifier")
    assert not {"signatures", "allowed_actions", "created_by"} & set(row)


def test_usage_detail_shows_who_verified_and_used_it(
    make_started_batch, usable_equipment, operator, verifier, api_client_for
):
    usage = end_usage(in_use(make_started_batch(), usable_equipment(), operator, verifier), actor=operator)
    body = api_client_for(verifier).get(f"{USAGES}{usage.pk}/").json()
    assert (body["status"], body["started_by"], body["ended_by"]) == ("ended", "operator", "operator")
    assert (body["calibration_verified_by"], body["cleaning_verified_by"]) == ("verifier", "verifier")
    for moment in ("usage_start", "usage_end", "calibration_verified_at", "cleaning_verified_at"):
        assert body[moment] is not None
    assert body["usage_start"] <= body["usage_end"]
    assert (body["signatures"], body["allowed_actions"]) == ([], [])
    assert (body["created_by"], body["updated_by"]) == ("operator", "operator")


def test_usage_history_shows_each_action(make_started_batch, usable_equipment, operator, verifier, api_client_for):
    usage = in_use(make_started_batch(), usable_equipment(), operator, verifier)
    entries = api_client_for(operator).get(f"{USAGES}{usage.pk}/history/").json()["results"]
    assert [entry["user"] for entry in entries] == ["operator", "verifier", "verifier", "operator"]
    assert entries[-1]["reason"] == "Usage started"
    assert {change["field"] for change in entries[-1]["changes"]} >= {"status", "usage_start", "started_by"}


def test_batch_detail_nests_equipment_use_with_its_fields(
    make_started_batch, usable_equipment, operator, verifier, api_client_for
):
    batch = make_started_batch()
    usage = in_use(batch, usable_equipment(name="Tablet press TP-1"), operator, verifier)
    body = api_client_for(operator).get(f"{BATCHES}{batch.pk}/").json()
    [nested] = body["equipment"]
    assert (nested["id"], nested["equipment_name"], nested["status"]) == (usage.pk, "Tablet press TP-1", "in_use")
    assert (nested["calibration_verified"], nested["cleaning_verified"]) == (True, True)
    assert (nested["started_by"], nested["calibration_verified_by"]) == ("operator", "verifier")
    assert nested["usage_start"] is not None
    assert nested["allowed_actions"] == ["end_usage"]


# --- writes ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["patch", "put"])
def test_usages_cannot_be_edited(method, make_started_batch, operator, api_client_for):
    usage = add_batch_equipment(make_started_batch(), actor=operator, equipment_name="Sieve")
    response = getattr(api_client_for(operator), method)(
        f"{USAGES}{usage.pk}/", {"equipment_name": "Other", "calibration_verified": True}, format="json"
    )
    assert response.status_code == 405
    usage.refresh_from_db()
    assert (usage.equipment_name, usage.calibration_verified) == ("Sieve", False)


def test_usages_are_kept_delete_is_409(make_batch, operator, api_client_for):
    usage = add_batch_equipment(make_batch(), actor=operator, equipment_name="Sieve")
    response = api_client_for(operator).delete(f"{USAGES}{usage.pk}/")
    assert response.status_code == 409
    assert (response.json()["action"], response.json()["current_status"]) == ("delete", "not_started")
    usage.refresh_from_db()


def test_create_refuses_read_only_fields(make_started_batch, operator, api_client_for):
    response = api_client_for(operator).post(
        USAGES,
        {"batch": make_started_batch().pk, "equipment_name": "Sieve", "status": "in_use", "calibration_verified": True},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "calibration_verified"}


# --- site scoping ----------------------------------------------------------------------


def test_another_sites_usage_is_not_found(other_site, make_approved_mbr, make_started_batch, operator, api_client_for):
    planner = UserFactory(username="lead_s2")
    planner.groups.add(Group.objects.get(name=VERIFIER), Group.objects.get(name=OPERATOR))
    planner.sites.add(other_site)
    foreign_batch = create_batch(
        make_approved_mbr(),
        actor=planner,
        batch_number="S2-1",
        lot_number="S2-L1",
        quantity_planned=Decimal("10"),
        site=other_site,
    )
    foreign = add_batch_equipment(foreign_batch, actor=planner, equipment_name="Foreign mixer")
    mine = add_batch_equipment(make_started_batch(), actor=operator, equipment_name="My mixer")
    client = api_client_for(operator)
    assert client.get(f"{USAGES}{foreign.pk}/").status_code == 404
    assert client.post(f"{USAGES}{foreign.pk}/start_usage/").status_code == 404
    assert [row["id"] for row in client.get(USAGES).json()["results"]] == [mine.pk]


# --- filters, search, ordering ---------------------------------------------------------


def test_usage_filters(make_started_batch, usable_equipment, operator, verifier, api_client_for):
    first, second = make_started_batch(), make_started_batch()
    press = usable_equipment(name="Press")
    in_use(first, press, operator, verifier)
    add_batch_equipment(first, actor=operator, equipment_name="Sieve", equipment_id_manual="SV-1")
    verify_calibration(add_batch_equipment(second, actor=operator, equipment_name="Scale"), actor=verifier)
    client = api_client_for(operator)
    assert names(client.get(USAGES, {"batch": first.pk})) == ["Press", "Sieve"]
    assert names(client.get(USAGES, {"status": "in_use"})) == ["Press"]
    assert names(client.get(USAGES, {"status": ["in_use", "not_started"]})) == ["Press", "Sieve", "Scale"]
    assert names(client.get(USAGES, {"equipment": press.pk})) == ["Press"]
    assert names(client.get(USAGES, {"equipment_id_manual": "SV-1"})) == ["Sieve"]
    assert names(client.get(USAGES, {"calibration_verified": "true"})) == ["Press", "Scale"]
    assert names(client.get(USAGES, {"cleaning_verified": "false"})) == ["Sieve", "Scale"]
    assert names(client.get(USAGES, {"started_by": operator.pk})) == ["Press"]
    today = timezone.now().date().isoformat()
    assert names(client.get(USAGES, {"usage_start__date__gte": today})) == ["Press"]
    assert client.get(USAGES, {"status": "broken"}).status_code == 400


def test_usage_search_and_ordering(make_started_batch, operator, api_client_for):
    first, second = make_started_batch(), make_started_batch()
    add_batch_equipment(first, actor=operator, equipment_name="Sieve", equipment_id_manual="SV-1")
    add_batch_equipment(second, actor=operator, equipment_name="Fluid bed dryer", equipment_id_manual="FBD-2")
    client = api_client_for(operator)
    assert names(client.get(USAGES, {"search": "fbd"})) == ["Fluid bed dryer"]
    assert names(client.get(USAGES, {"search": "sieve"})) == ["Sieve"]
    assert names(client.get(USAGES, {"search": second.batch_id})) == ["Fluid bed dryer"]
    assert names(client.get(USAGES, {"ordering": "equipment_name"})) == ["Fluid bed dryer", "Sieve"]
    assert names(client.get(USAGES, {"ordering": "-batch__batch_id"})) == ["Fluid bed dryer", "Sieve"]


# --- query budgets ---------------------------------------------------------------------


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_usage_list_query_count_does_not_grow_with_rows(
    make_started_batch, usable_equipment, operator, verifier, api_client_for
):
    client = api_client_for(operator)
    in_use(make_started_batch(), usable_equipment(), operator, verifier)
    few = count_queries(client, USAGES)
    for _ in range(4):
        batch = make_started_batch()
        end_usage(in_use(batch, usable_equipment(), operator, verifier), actor=operator)
        add_batch_equipment(batch, actor=operator, equipment_name="Sieve")
    assert count_queries(client, USAGES) == few
    assert count_queries(client, f"{USAGES}?status=ended&search=press") == few


def test_usage_detail_query_count_is_the_same_whatever_its_state(
    make_started_batch, usable_equipment, operator, verifier, api_client_for
):
    client = api_client_for(operator)
    batch = make_started_batch()
    plain = add_batch_equipment(batch, actor=operator, equipment_name="Sieve")
    few = count_queries(client, f"{USAGES}{plain.pk}/")
    used = end_usage(in_use(batch, usable_equipment(), operator, verifier), actor=operator)
    assert count_queries(client, f"{USAGES}{used.pk}/") == few
