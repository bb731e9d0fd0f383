"""A released or rejected batch is final (21 CFR 211.192; EU GMP Annex 11 §8.2): every write
to it or to anything in it answers 409 naming the batch's status, and changes nothing."""

import pytest

from batch_records.models import BatchDeviation, BatchEquipment
from batch_records.services.deviations import open_batch_deviation
from batch_records.services.equipment_usage import (
    end_usage,
)
from batch_records.services.review import reject_batch, release_batch
from batch_records.tests.review_helpers import (
    BATCHES,
    DEVIATIONS,
    MATERIALS,
    STEPS,
    equipment_in_use,
    finish_production,
    perform_steps,
    reconcile_materials,
    settle,
    verify_steps,
)
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
EQUIPMENT = "/api/batch_records/batch-equipment/"
SIGNED = {"password": PASSWORD}


@pytest.fixture(params=["released", "rejected"])
def final_batch(request, make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    """A released or rejected batch with a resolved deviation and an equipment use."""
    from batch_records.services.review import submit_batch_for_review

    batch = make_started_batch()
    end_usage(equipment_in_use(batch, operator, verifier), actor=operator)
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    reconcile_materials(batch, operator, verifier)
    deviation = open_batch_deviation(batch, actor=operator, deviation_type="environmental", description="Humidity")
    settle(deviation, qa_reviewer, qa_approver)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    if request.param == "released":
        return release_batch(batch, actor=qa_approver, password=PASSWORD)
    return reject_batch(batch, actor=qa_approver, reason="Label mix-up", password=PASSWORD)


def step(batch, number=1):
    return f"{STEPS}{batch.steps.get(step_number=number).pk}/"


def material(batch):
    return f"{MATERIALS}{batch.materials.get(line_number=1).pk}/"


def deviation(batch):
    return f"{DEVIATIONS}{batch.deviations.get().pk}/"


def usage(batch):
    return f"{EQUIPMENT}{batch.equipment.get().pk}/"


# (what, role, method, url(batch), body(batch))
WRITES = [
    ("step start", "operator", "post", lambda b: step(b) + "start/", None),
    (
        "step complete",
        "operator",
        "post",
        lambda b: step(b) + "complete/",
        {"actual_values": {"blend_time": 10}, **SIGNED},
    ),
    ("step verify", "verifier", "post", lambda b: step(b, 3) + "verify/", SIGNED),
    ("step skip", "verifier", "post", lambda b: step(b) + "skip/", {"reason": "n/a", **SIGNED}),
    (
        "step correct",
        "operator",
        "post",
        lambda b: step(b) + "correct/",
        {"actual_values": {"blend_time": 10.2}, "reason": "Typo", **SIGNED},
    ),
    (
        "material dispense",
        "operator",
        "post",
        lambda b: material(b) + "dispense/",
        {"lot_number": "X", "quantity": 1, **SIGNED},
    ),
    ("material verify", "verifier", "post", lambda b: material(b) + "verify/", SIGNED),
    ("material consume", "operator", "post", lambda b: material(b) + "consume/", {"quantity_used": "1"}),
    ("material return", "operator", "post", lambda b: material(b) + "return/", {"reason": "Unused"}),
    ("new equipment use", "operator", "post", lambda b: EQUIPMENT, {"equipment_name": "Mill M-3"}),
    ("equipment end_usage", "operator", "post", lambda b: usage(b) + "end_usage/", None),
    ("equipment start_usage", "operator", "post", lambda b: usage(b) + "start_usage/", None),
    (
        "new deviation",
        "operator",
        "post",
        lambda b: DEVIATIONS,
        {"deviation_type": "environmental", "description": "Found later"},
    ),
    ("deviation investigate", "qa_reviewer", "post", lambda b: deviation(b) + "investigate/", None),
    ("deviation resolve", "qa_approver", "post", lambda b: deviation(b) + "resolve/", {"root_cause": "x", **SIGNED}),
    ("deviation close", "qa_approver", "post", lambda b: deviation(b) + "close/", SIGNED),
    ("deviation patch", "qa_reviewer", "patch", deviation, {"impact_assessment": "Rewritten"}),
    ("deviation delete", "qa_approver", "delete", deviation, None),
    ("batch patch", "verifier", "patch", lambda b: f"{BATCHES}{b.pk}/", {"lot_number": "L-NEW"}),
    ("batch delete", "verifier", "delete", lambda b: f"{BATCHES}{b.pk}/", None),
    ("batch quarantine", "qa_reviewer", "post", lambda b: f"{BATCHES}{b.pk}/quarantine/", {"reason": "Recall"}),
    ("batch review", "qa_reviewer", "post", lambda b: f"{BATCHES}{b.pk}/review/", SIGNED),
    ("batch release", "qa_approver", "post", lambda b: f"{BATCHES}{b.pk}/release/", SIGNED),
    ("batch reject", "qa_approver", "post", lambda b: f"{BATCHES}{b.pk}/reject/", {"reason": "x", **SIGNED}),
]


def snapshot(batch):
    return {
        "batch": batch.history.count(),
        "steps": sum(step.history.count() for step in batch.steps.all()),
        "materials": sum(material.history.count() for material in batch.materials.all()),
        "deviations": BatchDeviation.history.filter(batch_id=batch.pk).count(),
        "equipment": BatchEquipment.history.filter(batch_id=batch.pk).count(),
    }


@pytest.mark.parametrize(("what", "role", "method", "url", "body"), WRITES, ids=[write[0] for write in WRITES])
def test_every_write_to_a_final_batch_is_409_naming_its_status(
    what, role, method, url, body, final_batch, request, api_client_for
):
    status = final_batch.status
    payload = dict(body or {})
    if url(final_batch) in (EQUIPMENT, DEVIATIONS):
        payload["batch"] = final_batch.pk
    before = snapshot(final_batch)
    client = api_client_for(request.getfixturevalue(role))
    response = getattr(client, method)(url(final_batch), payload, format="json")
    assert response.status_code == 409, (what, response.json())
    detail = response.json()["detail"]
    assert f"'{status}'" in detail, detail
    assert snapshot(final_batch) == before
    final_batch.refresh_from_db()
    assert final_batch.status == status


def test_the_guard_names_the_batch_and_its_status(final_batch, operator, api_client_for):
    response = api_client_for(operator).post(
        DEVIATIONS,
        {"batch": final_batch.pk, "deviation_type": "environmental", "description": "Found later"},
        format="json",
    )
    body = response.json()
    assert (body["batch_status"], body["action"]) == (final_batch.status, "open_deviation")
    assert final_batch.batch_id in body["detail"]
    assert "final" in body["detail"]


def test_a_final_batch_still_reads_and_shows_its_review(final_batch, qa_reviewer, api_client_for):
    client = api_client_for(qa_reviewer)
    assert client.get(f"{BATCHES}{final_batch.pk}/").status_code == 200
    review = client.get(f"{BATCHES}{final_batch.pk}/review/").json()
    assert review["status"] == final_batch.status
    assert [item["kind"] for item in review["exceptions"]] == ["deviation"]
