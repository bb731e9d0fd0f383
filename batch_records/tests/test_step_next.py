"""The operator's next step (issue 23): GET batch-records/{id}/next/ answers the steps the
requesting user can act on now, with their fields, limits and allowed actions."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batch_records.services.steps import complete_step, start_step
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"
STEPS = "/api/batch_records/batch-steps/"


def step_of(batch, number):
    return batch.steps.get(step_number=number)


def next_of(client, batch):
    response = client.get(f"{BATCHES}{batch.pk}/next/")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def batch(make_started_batch):
    return make_started_batch()


def test_operator_gets_the_first_step_with_its_fields_and_actions(batch, operator, api_client_for):
    body = next_of(api_client_for(operator), batch)
    assert (body["batch"], body["batch_id"], body["status"]) == (batch.pk, batch.batch_id, "in_progress")
    [step] = body["steps"]
    assert step == {
        "id": step_of(batch, 1).pk,
        "reference": f"{batch.batch_id} step 1",
        "step_number": 1,
        "status": "pending",
        "instruction_text": "Dispense and blend for 10 minutes.",
        "data_fields": [
            {"name": "blend_time", "type": "number", "unit": "min", "choices": None, "min": "9", "max": "11"}
        ],
        "requires_verification": True,
        "requires_separate_start": False,
        "operator": None,
        "allowed_actions": ["start", "record"],
    }


def test_the_operator_works_through_next_and_record_only(batch, operator, verifier, api_client_for):
    """A tablet needs two calls per step: next, then record (signed, idempotent)."""
    client = api_client_for(operator)
    values = {1: {"blend_time": 10}, 2: {"appearance_ok": True, "remarks": "Uniform"}, 3: {"hardness": 6}}
    for number in (1, 2, 3):
        [step] = [row for row in next_of(client, batch)["steps"] if "record" in row["allowed_actions"]]
        assert step["step_number"] == number
        response = client.post(
            f"{STEPS}{step['id']}/record/",
            {"actual_values": values[number], "password": PASSWORD},
            headers={"Idempotency-Key": f"step-{number}"},
        )
        assert response.status_code == 200, response.json()
    # Nothing left for the operator; the verifier sees the two steps awaiting verification.
    assert next_of(client, batch)["steps"] == []
    verifier_view = next_of(api_client_for(verifier), batch)["steps"]
    assert [(row["step_number"], row["allowed_actions"]) for row in verifier_view] == [(1, ["verify"]), (3, ["verify"])]
    assert verifier_view[0]["operator"] == "operator"


def test_a_step_in_progress_offers_complete_and_holds_the_next(batch, operator, verifier, api_client_for):
    start_step(step_of(batch, 1), actor=operator)
    rows = next_of(api_client_for(operator), batch)["steps"]
    assert [(row["step_number"], row["status"], row["allowed_actions"]) for row in rows] == [
        (1, "in_progress", ["complete"])
    ]
    # The supervisor may skip the next pending step, not start it.
    rows = next_of(api_client_for(verifier), batch)["steps"]
    assert [(row["step_number"], row["allowed_actions"]) for row in rows] == [(2, ["skip"])]


def test_whoever_recorded_a_step_is_not_offered_its_verification(batch, operator, verifier, api_client_for):
    complete_step(
        start_step(step_of(batch, 1), actor=operator),
        actor=operator,
        actual_values={"blend_time": 10},
        password=PASSWORD,
    )
    operator_rows = next_of(api_client_for(operator), batch)["steps"]
    assert [(row["step_number"], row["allowed_actions"]) for row in operator_rows] == [(2, ["start", "record"])]
    verifier_rows = next_of(api_client_for(verifier), batch)["steps"]
    assert [(row["step_number"], row["allowed_actions"]) for row in verifier_rows] == [(1, ["verify"]), (2, ["skip"])]


def test_a_timed_step_offers_start_not_record(make_approved_mbr, make_started_batch, operator, api_client_for):
    from batch_records.tests.factories import manufacturing_instructions

    instructions = manufacturing_instructions()
    instructions[0]["requires_separate_start"] = True
    batch = make_started_batch(make_approved_mbr(manufacturing_instructions=instructions))
    [row] = next_of(api_client_for(operator), batch)["steps"]
    assert (row["requires_separate_start"], row["allowed_actions"]) == (True, ["start"])


def test_nothing_to_do_in_a_batch_not_started(make_batch, operator, api_client_for):
    batch = make_batch()
    body = next_of(api_client_for(operator), batch)
    assert (body["status"], body["steps"]) == ("pending", [])


def test_next_of_a_batch_of_another_site_is_404(batch, other_site, api_client_for):
    from django.contrib.auth.models import Group

    from users.roles import OPERATOR
    from users.tests.factories import UserFactory

    elsewhere = UserFactory(username="elsewhere")
    elsewhere.groups.add(Group.objects.get(name=OPERATOR))
    elsewhere.sites.add(other_site)
    assert api_client_for(elsewhere).get(f"{BATCHES}{batch.pk}/next/").status_code == 404


def test_next_reads_a_fixed_number_of_queries_whatever_the_number_of_steps(
    make_approved_mbr, make_started_batch, operator, api_client_for
):
    from batch_records.tests.factories import manufacturing_instructions

    client = api_client_for(operator)
    counts = []
    for steps in (3, 30):
        batch = make_started_batch(make_approved_mbr(manufacturing_instructions=manufacturing_instructions(steps)))
        with CaptureQueriesContext(connection) as queries:
            next_of(client, batch)
        counts.append(len(queries))
    assert counts[0] == counts[1]
