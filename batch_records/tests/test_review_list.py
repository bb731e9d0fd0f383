"""QA review by exception: `GET batch-records/{id}/review/` lists everything a reviewer must
look at; `review_by_exception` (shown and stored on the batch) is true only when that list
is empty. `POST .../review/` documents the review with a signature "reviewed"."""

from decimal import Decimal

import pytest

from batch_records.services.deviations import open_batch_deviation
from batch_records.services.equipment_usage import add_batch_equipment
from batch_records.services.materials import dispense_material, return_material, verify_material
from batch_records.services.review import submit_batch_for_review
from batch_records.services.steps import correct_step, skip_step, start_step
from batch_records.tests.factories import manufacturing_instructions
from batch_records.tests.review_helpers import (
    BATCHES,
    equipment_in_use,
    finish_production,
    perform_steps,
    reconcile_materials,
    releasable_batch,
    settle,
    verify_steps,
)
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def get_review(client, batch):
    response = client.get(f"{BATCHES}{batch.pk}/review/")
    assert response.status_code == 200, response.json()
    return response.json()


def items(body, key="exceptions"):
    return [(item["kind"], item["reference"]) for item in body[key]]


def kinds(body, key="exceptions"):
    return {item["kind"] for item in body[key]}


def stored_flag(batch):
    batch.refresh_from_db()
    return batch.review_by_exception


@pytest.fixture
def under_review(make_started_batch, operator, verifier, qa_reviewer):
    return releasable_batch(make_started_batch, operator, verifier, qa_reviewer)


# --- a clean batch ---------------------------------------------------------------------


def test_a_clean_batch_is_reviewed_by_exception(under_review, qa_reviewer, api_client_for):
    body = get_review(api_client_for(qa_reviewer), under_review)
    assert body["batch_id"] == under_review.batch_id
    assert body["status"] == "under_review"
    assert (body["exceptions"], body["unmet_conditions"], body["review_by_exception"]) == ([], [], True)
    assert stored_flag(under_review) is True


def test_every_role_of_the_site_reads_the_review_list(under_review, operator, api_client_for):
    assert get_review(api_client_for(operator), under_review)["review_by_exception"] is True


def test_the_review_list_of_another_site_is_404(under_review, other_site, qa_reviewer, api_client_for):
    qa_reviewer.sites.set([other_site])
    assert api_client_for(qa_reviewer).get(f"{BATCHES}{under_review.pk}/review/").status_code == 404


# --- each kind of exception ------------------------------------------------------------


@pytest.mark.parametrize("settled", [False, True])
def test_a_deviation_is_listed_with_its_status_whatever_it_is(
    settled, under_review, operator, qa_reviewer, qa_approver, api_client_for
):
    deviation = open_batch_deviation(
        under_review, actor=operator, deviation_type="documentation_error", description="Page 3 not initialled"
    )
    if settled:
        deviation = settle(deviation, qa_reviewer, qa_approver)
    body = get_review(api_client_for(qa_reviewer), under_review)
    [item] = body["exceptions"]
    assert (item["kind"], item["reference"]) == ("deviation", deviation.deviation_id)
    assert item["status"] == ("resolved" if settled else "open")
    assert f"is {item['status']}" in item["message"]
    assert "Page 3 not initialled" in item["message"]
    assert body["review_by_exception"] is False
    assert stored_flag(under_review) is False


def test_an_out_of_spec_step_is_listed_with_its_deviation(make_started_batch, operator, qa_reviewer, api_client_for):
    batch = make_started_batch()
    perform_steps(batch, operator, values={1: {"blend_time": 14}})
    body = get_review(api_client_for(qa_reviewer), batch)
    deviation = batch.deviations.get()
    assert items(body) == [("deviation", deviation.deviation_id), ("step_out_of_spec", f"{batch.batch_id} step 1")]
    assert body["exceptions"][1]["status"] == "deviated"
    assert stored_flag(batch) is False


def test_a_skipped_step_is_listed_with_the_reason(make_started_batch, verifier, qa_reviewer, api_client_for):
    batch = make_started_batch()
    skip_step(batch.steps.get(step_number=1), actor=verifier, reason="Pre-blended lot used", password=PASSWORD)
    body = get_review(api_client_for(qa_reviewer), batch)
    [item] = body["exceptions"]
    assert (item["kind"], item["reference"], item["status"]) == ("step_skipped", f"{batch.batch_id} step 1", "skipped")
    assert "Pre-blended lot used" in item["message"]
    assert stored_flag(batch) is False


def test_a_corrected_step_is_listed_with_its_superseded_signature(
    make_started_batch, operator, qa_reviewer, api_client_for
):
    batch = make_started_batch()
    perform_steps(batch, operator)
    step = batch.steps.get(step_number=2)
    correct_step(
        step,
        actor=operator,
        actual_values={"appearance_ok": True, "remarks": "granules uniform"},
        reason="Remark incomplete",
        password=PASSWORD,
    )
    body = get_review(api_client_for(qa_reviewer), batch)
    reference = f"{batch.batch_id} step 2"
    assert items(body) == [("step_corrected", reference), ("invalid_signature", reference)]
    assert "corrected 1 time(s)" in body["exceptions"][0]["message"]
    signature = body["exceptions"][1]["message"]
    assert "'performed' by operator" in signature
    assert "signed again since: 'corrected' by operator" in signature
    # Superseded by the signed correction: reviewed, but not a bar to release.
    assert "invalid_signature" not in kinds(body, "unmet_conditions")
    assert stored_flag(batch) is False


def test_a_record_changed_after_its_last_signature_is_listed_and_blocks_release(
    make_started_batch, operator, qa_reviewer, api_client_for
):
    batch = make_started_batch()
    perform_steps(batch, operator)
    # A change that bypassed the services (e.g. a direct database edit).
    step = batch.steps.get(step_number=3)
    step.actual_values = {"hardness": "7"}
    step.save()
    body = get_review(api_client_for(qa_reviewer), batch)
    reference = f"{batch.batch_id} step 3"
    assert items(body) == [("invalid_signature", reference)]
    assert "the record changed after its last signature" in body["exceptions"][0]["message"]
    assert ("invalid_signature", reference) in items(body, "unmet_conditions")


def test_a_yield_outside_its_limits_is_listed(make_started_batch, operator, verifier, qa_reviewer, api_client_for):
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    finish_production(batch, operator, produced="90")
    body = get_review(api_client_for(qa_reviewer), batch)
    deviation = batch.deviations.get()
    assert items(body) == [("deviation", deviation.deviation_id), ("yield_outside_limits", batch.batch_id)]
    assert "Yield 90.00%" in body["exceptions"][1]["message"]
    assert "95.00% – 102.00%" in body["exceptions"][1]["message"]


def test_a_material_used_outside_tolerance_is_listed(
    make_started_batch, operator, verifier, qa_reviewer, api_client_for
):
    from batch_records.services.materials import consume_material

    batch = make_started_batch()
    material = batch.materials.get(line_number=1)
    material = dispense_material(
        material, actor=operator, lot_number="LOT-9", quantity=Decimal("60"), password=PASSWORD
    )
    material = verify_material(material, actor=verifier, password=PASSWORD)
    consume_material(material, actor=operator, quantity_used=Decimal("55"))
    body = get_review(api_client_for(qa_reviewer), batch)
    reference = f"{batch.batch_id} material API-001 (line 1)"
    assert ("material_outside_tolerance", reference) in items(body)
    item = next(item for item in body["exceptions"] if item["kind"] == "material_outside_tolerance")
    assert "55.0000 kg used against 50.0000 kg required (+10.00%" in item["message"]
    assert "deviation" in kinds(body)


# --- work left undone ------------------------------------------------------------------


@pytest.fixture
def batch_with_work_left(make_started_batch, operator, verifier):
    """A completed batch whose step 1 was never verified, whose second material was
    dispensed and returned unverified, with one piece of equipment still in use and another
    never used. (A material line never dispensed can no longer be left: completion is
    refused until every line is consumed or returned.)"""
    batch = make_started_batch()
    perform_steps(batch, operator)
    from batch_records.services.steps import verify_step

    verify_step(batch.steps.get(step_number=3), actor=verifier, password=PASSWORD)
    material = batch.materials.get(line_number=2)
    material = dispense_material(
        material, actor=operator, lot_number="LOT-2", quantity=Decimal("25"), password=PASSWORD
    )
    return_material(material, actor=operator, reason="Spilled; replaced from stores")
    first = dispense_material(
        batch.materials.get(line_number=1),
        actor=operator,
        lot_number="LOT-1",
        quantity=Decimal("50"),
        password=PASSWORD,
    )
    return_material(first, actor=operator, reason="Wrong container; batch used a fresh draw")
    equipment_in_use(batch, operator, verifier)
    add_batch_equipment(batch, actor=operator, equipment_name="Tablet press P-1")
    return finish_production(batch, operator)


def test_work_left_undone_is_not_an_exception_while_production_can_still_finish_it(
    batch_with_work_left, qa_reviewer, api_client_for
):
    body = get_review(api_client_for(qa_reviewer), batch_with_work_left)
    assert (body["exceptions"], body["review_by_exception"]) == ([], True)
    # ...but the release conditions already say what is missing.
    assert kinds(body, "unmet_conditions") == {"step_not_verified", "equipment_usage_not_ended"}


def test_work_left_undone_is_listed_once_the_batch_is_with_qa(batch_with_work_left, qa_reviewer, api_client_for):
    batch = submit_batch_for_review(batch_with_work_left, actor=qa_reviewer)
    body = get_review(api_client_for(qa_reviewer), batch)
    prefix = batch.batch_id
    assert items(body) == [
        ("step_not_verified", f"{prefix} step 1"),
        ("material_not_verified", f"{prefix} material API-001 (line 1)"),
        ("material_not_verified", f"{prefix} material EXC-002 (line 2)"),
        ("equipment_usage_not_ended", f"{prefix} equipment Blender V-200"),
        ("equipment_not_used", f"{prefix} equipment Tablet press P-1"),
    ]
    assert body["review_by_exception"] is False
    assert stored_flag(batch) is False


# --- query budget ----------------------------------------------------------------------


def test_the_review_list_costs_the_same_queries_whatever_the_number_of_steps(
    make_approved_mbr,
    make_started_batch,
    operator,
    verifier,
    qa_reviewer,
    api_client_for,
    django_assert_max_num_queries,
):
    client = api_client_for(qa_reviewer)
    small = make_started_batch()
    perform_steps(small, operator)
    large = make_started_batch(make_approved_mbr(manufacturing_instructions=manufacturing_instructions(12)))
    perform_steps(large, operator, values={4: {"temperature": 40}, 5: {"temperature": 40}})
    for batch in (small, large):
        reconcile_materials(batch, operator, verifier)
        open_batch_deviation(batch, actor=operator, deviation_type="environmental", description="Humidity")
    with django_assert_max_num_queries(30) as few:
        get_review(client, small)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = get_review(client, large)
    assert len(body["exceptions"]) == 5  # 3 deviations, 2 out-of-spec steps


# --- documenting the review ------------------------------------------------------------


def test_qa_documents_the_review_with_a_signature(under_review, qa_reviewer, api_client_for):
    client = api_client_for(qa_reviewer)
    response = client.post(f"{BATCHES}{under_review.pk}/review/", {"password": PASSWORD, "comment": "RBE"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["reviewed_by"]) == ("under_review", "qa_reviewer")
    assert body["reviewed_at"] is not None
    [signature] = body["signatures"]
    assert (signature["meaning"], signature["signer"], signature["comment"]) == ("reviewed", "qa_reviewer", "RBE")
    assert get_review(client, under_review)["reviewed_by"] == "qa_reviewer"


def test_review_with_a_wrong_password_is_403_and_changes_nothing(under_review, qa_reviewer, api_client_for):
    response = api_client_for(qa_reviewer).post(f"{BATCHES}{under_review.pk}/review/", {"password": "wrong"})
    assert response.status_code == 403
    under_review.refresh_from_db()
    assert (under_review.reviewed_by, under_review.reviewed_at) == (None, None)
    assert not under_review.signatures.exists()


@pytest.mark.parametrize("role", ["operator", "verifier", "records_admin"])
def test_review_is_documented_by_qa_only(role, under_review, request, api_client_for):
    client = api_client_for(request.getfixturevalue(role))
    assert client.post(f"{BATCHES}{under_review.pk}/review/", {"password": PASSWORD}).status_code == 403


def test_only_a_batch_under_review_is_reviewed(make_started_batch, operator, verifier, qa_reviewer, api_client_for):
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    finish_production(batch, operator)
    response = api_client_for(qa_reviewer).post(f"{BATCHES}{batch.pk}/review/", {"password": PASSWORD})
    assert response.status_code == 409
    assert (response.json()["current_status"], response.json()["action"]) == ("completed", "review")


def test_start_of_a_step_is_not_an_exception(make_started_batch, operator, qa_reviewer, api_client_for):
    batch = make_started_batch()
    start_step(batch.steps.get(step_number=1), actor=operator)
    assert get_review(api_client_for(qa_reviewer), batch)["review_by_exception"] is True
