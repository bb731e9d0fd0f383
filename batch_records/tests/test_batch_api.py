"""Reading batches, steps and deviations through the API: shapes, site scoping, filters,
search, ordering and query budgets; reporting a deviation."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from batch_records.models import BatchDeviation
from batch_records.services.batches import complete_batch, create_batch, start_batch
from batch_records.services.steps import complete_step, start_step
from batch_records.tests.factories import manufacturing_instructions
from batch_records.tests.review_helpers import return_unused_materials
from users.roles import OPERATOR, VERIFIER
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"
STEPS = "/api/batch_records/batch-steps/"
DEVIATIONS = "/api/batch_records/batch-deviations/"


def bill_of_materials(lines):
    return [
        {
            "material_code": f"M-{n}",
            "material_name": f"Material {n}",
            "quantity_per_unit": "0.1",
            "unit_of_measure": "kg",
        }
        for n in range(1, lines + 1)
    ]


def perform(step, operator, values):
    return complete_step(start_step(step, actor=operator), actor=operator, actual_values=values, password=PASSWORD)


@pytest.fixture
def other_site_batch(other_site, make_approved_mbr):
    planner = UserFactory(username="lead_s2")
    planner.groups.add(Group.objects.get(name=VERIFIER), Group.objects.get(name=OPERATOR))
    planner.sites.add(other_site)
    batch = create_batch(
        make_approved_mbr(),
        actor=planner,
        batch_number="S2-0001",
        lot_number="S2-L1",
        quantity_planned=Decimal("10"),
        site=other_site,
    )
    return start_batch(batch, actor=planner)


# --- shapes ----------------------------------------------------------------------------


def test_batch_list_rows_are_light(make_batch, operator, api_client_for):
    batch = make_batch(production_line="Line 1")
    [row] = api_client_for(operator).get(BATCHES).json()["results"]
    assert row["batch_id"] == batch.batch_id
    assert row["mbr_id"] == batch.mbr.mbr_id
    assert row["mbr_version"] == 1
    assert row["product_code"] == batch.mbr.product_code
    assert row["site_code"] == "S1"
    assert row["status"] == "pending"
    assert row["quantity_planned"] == "100.000"
    assert (row["has_deviations"], row["review_by_exception"]) == (False, True)
    assert not {"steps", "materials", "signatures", "deviations"} & set(row)


def test_batch_detail_nests_steps_materials_equipment_deviations_signatures(
    make_started_batch, operator, api_client_for
):
    batch = make_started_batch()
    perform(batch.steps.get(step_number=1), operator, {"blend_time": 50})
    body = api_client_for(operator).get(f"{BATCHES}{batch.pk}/").json()
    assert {"steps", "materials", "equipment", "deviations", "signatures", "allowed_actions"} <= set(body)
    assert body["steps"][0]["signatures"][0]["meaning"] == "performed"
    assert body["steps"][0]["deviations"] == [body["deviations"][0]["deviation_id"]]
    assert body["deviations"][0]["step_number"] == 1
    assert len(body["materials"]) == 2
    assert body["equipment"] == []


def test_step_detail_shows_signatures_and_the_step_list_does_not(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    step = perform(batch.steps.get(step_number=1), operator, {"blend_time": 10})
    client = api_client_for(operator)
    detail = client.get(f"{STEPS}{step.pk}/").json()
    assert detail["signatures"][0]["signer"] == "operator"
    assert detail["batch_id"] == batch.batch_id
    row = client.get(STEPS, {"batch": batch.pk, "step_number": 1}).json()["results"][0]
    assert "signatures" not in row
    assert row["status"] == "completed"


def test_steps_cannot_be_created_edited_or_deleted_directly(make_batch, api_client_for):
    step = make_batch().steps.first()
    # Not even a superuser: there is no such route (a role without rights is refused earlier, 403).
    client = api_client_for(UserFactory(username="root", is_superuser=True, is_staff=True))
    created = client.post(STEPS, {"batch": step.batch_id, "step_number": 9, "instruction_text": "x"})
    assert created.status_code == 405
    assert client.patch(f"{STEPS}{step.pk}/", {"actual_values": {}}).status_code == 405
    assert client.put(f"{STEPS}{step.pk}/", {"actual_values": {}}).status_code == 405
    assert client.delete(f"{STEPS}{step.pk}/").status_code == 405
    assert step.batch.steps.count() == 3


# --- site scoping ----------------------------------------------------------------------


def test_another_sites_batch_is_404_and_absent_from_lists(make_batch, other_site_batch, operator, api_client_for):
    mine = make_batch()
    client = api_client_for(operator)
    assert [row["id"] for row in client.get(BATCHES).json()["results"]] == [mine.pk]
    assert client.get(f"{BATCHES}{other_site_batch.pk}/").status_code == 404
    assert client.post(f"{BATCHES}{other_site_batch.pk}/complete/", {}).status_code == 404
    other_step = other_site_batch.steps.first()
    assert client.get(f"{STEPS}{other_step.pk}/").status_code == 404
    assert client.post(f"{STEPS}{other_step.pk}/start/", {}).status_code == 404
    assert other_step.pk not in [row["id"] for row in client.get(STEPS, {"page_size": 200}).json()["results"]]
    other_step.refresh_from_db()
    assert other_step.status == "pending"


def test_another_sites_deviation_is_404_and_cannot_be_reported(other_site_batch, operator, api_client_for):
    deviation_client = api_client_for(other_site_batch.created_by)
    reported = deviation_client.post(
        DEVIATIONS, {"batch": other_site_batch.pk, "deviation_type": "environmental", "description": "Humidity"}
    )
    assert reported.status_code == 201, reported.json()
    client = api_client_for(operator)
    assert client.get(DEVIATIONS).json()["count"] == 0
    assert client.get(f"{DEVIATIONS}{reported.json()['id']}/").status_code == 404
    refused = client.post(
        DEVIATIONS, {"batch": other_site_batch.pk, "deviation_type": "environmental", "description": "x"}
    )
    assert refused.status_code == 400
    assert "batch" in refused.json()["errors"]


def test_superuser_sees_every_site(make_batch, other_site_batch, api_client_for):
    make_batch()
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert api_client_for(admin).get(BATCHES).json()["count"] == 2


# --- filters, search, ordering ---------------------------------------------------------


def test_batch_filters_search_and_ordering(make_approved_mbr, make_batch, make_started_batch, operator, api_client_for):
    pending = make_batch(batch_number="B-ALPHA", lot_number="LOT-A")
    running = make_started_batch(make_approved_mbr(product_code="IBU-200", product_name="Ibuprofen 200 mg"))
    perform(running.steps.get(step_number=1), operator, {"blend_time": 1})
    client = api_client_for(operator)

    def ids(**params):
        response = client.get(BATCHES, params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="pending") == {pending.pk}
    assert ids(status=["pending", "in_progress"]) == {pending.pk, running.pk}
    assert ids(product_code="IBU-200") == {running.pk}
    assert ids(mbr=running.mbr_id) == {running.pk}
    assert ids(batch_number="B-ALPHA") == {pending.pk}
    assert ids(lot_number="LOT-A") == {pending.pk}
    assert ids(has_deviations="true") == {running.pk}
    assert ids(review_by_exception="true") == {pending.pk}
    assert ids(created_at__date__gte="2000-01-01") == {pending.pk, running.pk}
    assert ids(created_at__date__lte="2000-01-01") == set()
    assert ids(search="Ibuprofen") == {running.pk}
    assert ids(search="ALPHA") == {pending.pk}
    assert ids(search=running.batch_id) == {running.pk}
    ordered = [row["batch_number"] for row in client.get(BATCHES, {"ordering": "batch_number"}).json()["results"]]
    assert ordered == sorted(ordered)
    assert client.get(BATCHES, {"status": "nonsense"}).status_code == 400


def test_step_filters_by_batch_status_and_number(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    make_started_batch()
    perform(batch.steps.get(step_number=1), operator, {"blend_time": 10})
    start_step(batch.steps.get(step_number=2), actor=operator)
    client = api_client_for(operator)

    def numbers(**params):
        return [row["step_number"] for row in client.get(STEPS, {"batch": batch.pk, **params}).json()["results"]]

    assert numbers() == [1, 2, 3]
    assert numbers(status=["completed", "in_progress"]) == [1, 2]
    assert numbers(status="pending") == [3]
    assert numbers(step_number=2) == [2]
    assert client.get(STEPS, {"step_number": 1}).json()["count"] == 2


def test_deviation_filters(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    perform(batch.steps.get(step_number=1), operator, {"blend_time": 1})
    client = api_client_for(operator)
    client.post(DEVIATIONS, {"batch": batch.pk, "deviation_type": "environmental", "description": "Door open"})
    assert client.get(DEVIATIONS, {"batch": batch.pk}).json()["count"] == 2
    assert client.get(DEVIATIONS, {"deviation_type": "parameter_excursion"}).json()["count"] == 1
    assert client.get(DEVIATIONS, {"status": ["open", "investigating"]}).json()["count"] == 2
    assert client.get(DEVIATIONS, {"status": "closed"}).json()["count"] == 0
    assert client.get(DEVIATIONS, {"search": "Door"}).json()["count"] == 1


# --- reporting deviations --------------------------------------------------------------


def test_operator_reports_a_deviation_on_a_step(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    step = batch.steps.get(step_number=2)
    response = api_client_for(operator).post(
        DEVIATIONS,
        {
            "batch": batch.pk,
            "batch_step": step.pk,
            "deviation_type": "equipment_failure",
            "description": "Granulator stopped twice",
            "immediate_action": "Restarted after inspection",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["deviation_id"].startswith("BD-")
    assert (body["status"], body["step_number"], body["batch_id"]) == ("open", 2, batch.batch_id)
    assert body["created_by"] == "operator"
    assert body["allowed_actions"] == []
    batch.refresh_from_db()
    assert (batch.has_deviations, batch.review_by_exception) == (True, False)


def test_reported_deviation_is_validated(make_started_batch, make_batch, operator, api_client_for):
    batch = make_started_batch()
    elsewhere = make_batch().steps.first()
    client = api_client_for(operator)
    wrong_step = client.post(
        DEVIATIONS,
        {"batch": batch.pk, "batch_step": elsewhere.pk, "deviation_type": "environmental", "description": "x"},
    )
    assert wrong_step.status_code == 400
    assert "does not belong" in wrong_step.json()["errors"]["batch_step"][0]
    bad_type = client.post(DEVIATIONS, {"batch": batch.pk, "deviation_type": "gremlins", "description": "x"})
    assert bad_type.status_code == 400
    no_text = client.post(DEVIATIONS, {"batch": batch.pk, "deviation_type": "environmental", "description": ""})
    assert no_text.status_code == 400
    forced = client.post(
        DEVIATIONS, {"batch": batch.pk, "deviation_type": "environmental", "description": "x", "status": "closed"}
    )
    assert forced.status_code == 400
    assert not BatchDeviation.objects.exists()


@pytest.mark.parametrize("role", ["author", "records_admin"])
def test_roles_without_the_permission_cannot_report_deviations(make_started_batch, request, api_client_for, role):
    batch = make_started_batch()
    client = api_client_for(request.getfixturevalue(role))
    response = client.post(DEVIATIONS, {"batch": batch.pk, "deviation_type": "environmental", "description": "x"})
    assert response.status_code == 403


def test_deviations_can_be_reported_on_a_completed_batch(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    for number, values in (
        (1, {"blend_time": 10}),
        (2, {"appearance_ok": True, "remarks": "ok"}),
        (3, {"hardness": 6}),
    ):
        perform(batch.steps.get(step_number=number), operator, values)
    return_unused_materials(batch, operator)
    complete_batch(batch, actor=operator, quantity_produced=Decimal("100"), quantity_rejected=Decimal("0"))
    response = api_client_for(operator).post(
        DEVIATIONS, {"batch": batch.pk, "deviation_type": "documentation_error", "description": "Late entry"}
    )
    assert response.status_code == 201
    batch.refresh_from_db()
    assert batch.review_by_exception is False


# --- query budgets ---------------------------------------------------------------------


def _populate(make_approved_mbr, make_started_batch, operator, steps, lines):
    mbr = make_approved_mbr(
        manufacturing_instructions=manufacturing_instructions(steps), bill_of_materials=bill_of_materials(lines)
    )
    batch = make_started_batch(mbr)
    perform(batch.steps.get(step_number=1), operator, {"blend_time": 50})
    perform(batch.steps.get(step_number=2), operator, {"appearance_ok": True, "remarks": "ok"})
    return batch


def test_batch_detail_query_count_is_constant_in_steps_and_rows(
    make_approved_mbr, make_started_batch, operator, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(operator)
    small = _populate(make_approved_mbr, make_started_batch, operator, steps=3, lines=2)
    client.get(f"{BATCHES}{small.pk}/")  # warm the permission and content type caches
    with django_assert_max_num_queries(30) as few:
        assert client.get(f"{BATCHES}{small.pk}/").status_code == 200
    large = _populate(make_approved_mbr, make_started_batch, operator, steps=12, lines=9)
    perform(large.steps.get(step_number=3), operator, {"hardness": 6})
    for number in range(4, 9):
        perform(large.steps.get(step_number=number), operator, {"temperature": 20})
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(f"{BATCHES}{large.pk}/").json()
    assert len(body["steps"]) == 12
    assert len(body["materials"]) == 9


def test_list_query_counts_are_constant_in_rows(
    make_approved_mbr, make_started_batch, operator, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(operator)
    _populate(make_approved_mbr, make_started_batch, operator, steps=3, lines=2)
    budgets = {}
    for url in (BATCHES, STEPS, DEVIATIONS):
        client.get(url)
        with django_assert_max_num_queries(20) as few:
            assert client.get(url).status_code == 200
        budgets[url] = len(few.captured_queries)
    for _ in range(4):
        _populate(make_approved_mbr, make_started_batch, operator, steps=5, lines=3)
    for url, budget in budgets.items():
        with django_assert_max_num_queries(budget):
            response = client.get(url)
        assert response.json()["count"] > 3


def test_batch_detail_shows_the_cost_snapshot_fields(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    body = api_client_for(operator).get(f"/api/batch_records/batch-records/{batch.pk}/").json()
    assert {"material_cost", "labour_cost", "overhead_cost", "total_cost", "unit_cost"} <= set(body)
    assert body["total_cost"] is None  # taken at completion
