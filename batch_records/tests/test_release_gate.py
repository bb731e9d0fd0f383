"""Release (21 CFR 211.22, 211.192; EU GMP Annex 11 §15): signed "released" by a QA
approver independent of the batch's execution, and only when every condition is met —
each unmet condition is listed in the 409."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from batch_records.services.deviations import (
    close_batch_deviation,
    investigate_batch_deviation,
    open_batch_deviation,
)
from batch_records.services.equipment_usage import (
    end_usage,
)
from batch_records.services.materials import consume_material, dispense_material, return_material, verify_material
from batch_records.services.review import quarantine_batch, return_batch_to_review, submit_batch_for_review
from batch_records.services.steps import complete_step, start_step, verify_step
from batch_records.tests.review_helpers import (
    BATCHES,
    equipment_in_use,
    finish_production,
    perform_steps,
    reconcile_materials,
    releasable_batch,
    settle,
    values_for,
    verify_steps,
)
from core.models import Signature
from users.roles import OPERATOR, QA_APPROVER, VERIFIER
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def release(client, batch, password=PASSWORD, **extra):
    return client.post(f"{BATCHES}{batch.pk}/release/", {"password": password, **extra})


def assert_not_released(batch):
    batch.refresh_from_db()
    assert (batch.status, batch.released_by, batch.release_date) == ("under_review", None, None)
    assert not batch.signatures.filter(meaning="released").exists()


def unmet(response):
    assert response.status_code == 409, response.json()
    return [(item["kind"], item["reference"]) for item in response.json()["unmet_conditions"]]


@pytest.fixture
def under_review(make_started_batch, operator, verifier, qa_reviewer):
    return releasable_batch(make_started_batch, operator, verifier, qa_reviewer)


def consume(material, operator, verifier, dispenser=None):
    """Dispense (by `dispenser`, the operator by default), verify and consume all of it."""
    quantity = material.quantity_required
    material = dispense_material(
        material, actor=dispenser or operator, lot_number="L-7", quantity=quantity, password=PASSWORD
    )
    material = verify_material(material, actor=verifier, password=PASSWORD)
    return consume_material(material, actor=operator, quantity_used=quantity)


def dual_role_user(site, *roles, **fields):
    user = UserFactory(**fields)
    user.groups.add(*Group.objects.filter(name__in=roles))
    user.sites.add(site)
    return user


# --- release ---------------------------------------------------------------------------


def test_an_independent_qa_approver_releases_with_a_signature(under_review, qa_approver, api_client_for):
    response = release(api_client_for(qa_approver), under_review, comment="Batch meets specification")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["released_by"]) == ("released", "qa_approver")
    assert body["release_date"] is not None
    [signature] = body["signatures"]
    assert (signature["meaning"], signature["signer"], signature["valid"]) == ("released", "qa_approver", True)
    assert (signature["record_status"], signature["comment"]) == ("released", "Batch meets specification")
    assert body["allowed_actions"] == []


def test_settled_deviations_and_returned_materials_do_not_block_release(
    make_started_batch, operator, verifier, qa_reviewer, qa_approver, api_client_for
):
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    first, second = batch.materials.order_by("line_number")
    first = dispense_material(first, actor=operator, lot_number="L-1", quantity=Decimal("50"), password=PASSWORD)
    return_material(first, actor=operator, reason="Wrong lot brought")
    consume(second, operator, verifier)
    one = open_batch_deviation(batch, actor=operator, deviation_type="environmental", description="Humidity")
    two = open_batch_deviation(batch, actor=operator, deviation_type="documentation_error", description="Late entry")
    settle(one, qa_reviewer, qa_approver)
    close_batch_deviation(settle(two, qa_reviewer, qa_approver), actor=qa_approver, password=PASSWORD)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    response = release(api_client_for(qa_approver), batch)
    assert response.status_code == 200, response.json()


# --- each release condition blocks release on its own ----------------------------------


@pytest.mark.parametrize("status", ["open", "investigating"])
def test_a_deviation_not_resolved_blocks_release(
    status, under_review, operator, qa_reviewer, qa_approver, api_client_for
):
    deviation = open_batch_deviation(
        under_review, actor=operator, deviation_type="environmental", description="Humidity"
    )
    if status == "investigating":
        investigate_batch_deviation(deviation, actor=qa_reviewer)
    response = release(api_client_for(qa_approver), under_review)
    assert unmet(response) == [("deviation_not_resolved", deviation.deviation_id)]
    body = response.json()
    assert (body["current_status"], body["action"]) == ("under_review", "release")
    assert f"is '{status}'" in body["unmet_conditions"][0]["message"]
    assert_not_released(under_review)


def held_and_sent_to_qa(batch, qa_reviewer):
    """in_progress → quarantined → under_review, without completing production."""
    batch = quarantine_batch(batch, actor=qa_reviewer, reason="Held: line stoppage")
    return return_batch_to_review(batch, actor=qa_reviewer, reason="Sent to QA for disposition")


@pytest.mark.parametrize("state", ["pending", "dispensed", "verified"])
def test_a_material_neither_consumed_nor_returned_blocks_release(
    state, make_started_batch, operator, verifier, qa_reviewer, qa_approver, api_client_for
):
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    first, second = batch.materials.order_by("line_number")
    consume(second, operator, verifier)
    if state != "pending":
        first = dispense_material(first, actor=operator, lot_number="L-1", quantity=Decimal("50"), password=PASSWORD)
    if state == "verified":
        verify_material(first, actor=verifier, password=PASSWORD)
    # Completion would refuse the open line; a batch held in production and sent to QA
    # from quarantine still carries it, and can then only be rejected.
    batch = held_and_sent_to_qa(batch, qa_reviewer)
    response = release(api_client_for(qa_approver), batch)
    assert unmet(response) == [
        ("production_not_completed", batch.batch_id),
        ("material_not_consumed_or_returned", f"{batch.batch_id} material API-001 (line 1)"),
    ]
    assert f"is '{state}'" in response.json()["unmet_conditions"][1]["message"]
    assert_not_released(batch)


def test_equipment_still_in_use_blocks_release(
    make_started_batch, operator, verifier, qa_reviewer, qa_approver, api_client_for
):
    batch = make_started_batch()
    equipment_in_use(batch, operator, verifier)
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    reconcile_materials(batch, operator, verifier)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    response = release(api_client_for(qa_approver), batch)
    assert unmet(response) == [("equipment_usage_not_ended", f"{batch.batch_id} equipment Blender V-200")]
    assert_not_released(batch)


def test_ended_equipment_use_does_not_block_release(
    make_started_batch, operator, verifier, qa_reviewer, qa_approver, api_client_for
):
    batch = make_started_batch()
    end_usage(equipment_in_use(batch, operator, verifier), actor=operator)
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    reconcile_materials(batch, operator, verifier)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    assert release(api_client_for(qa_approver), batch).status_code == 200


def test_a_step_awaiting_verification_blocks_release(
    make_started_batch, operator, verifier, qa_reviewer, qa_approver, api_client_for
):
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_step(batch.steps.get(step_number=1), actor=verifier, password=PASSWORD)
    reconcile_materials(batch, operator, verifier)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    response = release(api_client_for(qa_approver), batch)
    assert unmet(response) == [("step_not_verified", f"{batch.batch_id} step 3")]
    assert_not_released(batch)


def test_a_record_changed_after_its_signature_blocks_release(under_review, qa_approver, api_client_for):
    # A change that went around the services (e.g. a direct database edit).
    material = under_review.materials.get(line_number=1)
    material.quantity_dispensed = Decimal("49")
    material.save()
    response = release(api_client_for(qa_approver), under_review)
    reference = f"{under_review.batch_id} material API-001 (line 1)"
    assert unmet(response) == [("invalid_signature", reference)]
    assert "changed after its last signature" in response.json()["unmet_conditions"][0]["message"]
    assert_not_released(under_review)


def test_every_unmet_condition_is_listed_together(
    make_started_batch, operator, verifier, qa_reviewer, qa_approver, api_client_for
):
    batch = make_started_batch()
    equipment_in_use(batch, operator, verifier)
    perform_steps(batch, operator)
    step = batch.steps.get(step_number=2)
    step.actual_values = {"appearance_ok": False, "remarks": "edited"}
    step.save()
    deviation = open_batch_deviation(batch, actor=operator, deviation_type="environmental", description="Humidity")
    batch = held_and_sent_to_qa(batch, qa_reviewer)
    response = release(api_client_for(qa_approver), batch)
    prefix = batch.batch_id
    assert unmet(response) == [
        ("production_not_completed", prefix),
        ("deviation_not_resolved", deviation.deviation_id),
        ("step_not_verified", f"{prefix} step 1"),
        ("step_not_verified", f"{prefix} step 3"),
        ("material_not_consumed_or_returned", f"{prefix} material API-001 (line 1)"),
        ("material_not_consumed_or_returned", f"{prefix} material EXC-002 (line 2)"),
        ("equipment_usage_not_ended", f"{prefix} equipment Blender V-200"),
        ("invalid_signature", f"{prefix} step 2"),
    ]
    assert "8 release condition(s) not met" in response.json()["detail"]
    assert_not_released(batch)


# --- independence of the releaser (21 CFR 211.22) --------------------------------------


def test_a_qa_approver_who_verified_a_step_cannot_release(
    make_started_batch, site, operator, verifier, qa_reviewer, api_client_for
):
    approver = dual_role_user(site, QA_APPROVER, VERIFIER, username="qa_and_verifier")
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_step(batch.steps.get(step_number=1), actor=approver, password=PASSWORD)
    verify_step(batch.steps.get(step_number=3), actor=verifier, password=PASSWORD)
    reconcile_materials(batch, operator, verifier)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    response = release(api_client_for(approver), batch)
    assert response.status_code == 403
    assert "verified step 1" in response.json()["detail"]
    assert response.json()["involvement"] == ["verified step 1", "signed 'verified' on " + f"{batch.batch_id} step 1"]
    assert_not_released(batch)


def test_a_qa_approver_who_dispensed_a_material_cannot_release(
    make_started_batch, site, operator, verifier, qa_reviewer, api_client_for
):
    approver = dual_role_user(site, QA_APPROVER, OPERATOR, username="qa_and_operator")
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    for material in batch.materials.order_by("line_number"):
        consume(material, operator, verifier, dispenser=approver)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    response = release(api_client_for(approver), batch)
    assert response.status_code == 403
    assert "dispensed material API-001" in response.json()["detail"]
    assert_not_released(batch)


def test_a_qa_approver_who_performed_a_step_cannot_release(
    make_started_batch, site, operator, verifier, qa_reviewer, api_client_for
):
    approver = dual_role_user(site, QA_APPROVER, OPERATOR, username="qa_and_operator")
    batch = make_started_batch()
    for step in batch.steps.order_by("step_number"):
        actor = approver if step.step_number == 2 else operator
        start_step(step, actor=actor)
        complete_step(step, actor=actor, actual_values=values_for(step.step_number), password=PASSWORD)
    verify_steps(batch, verifier)
    reconcile_materials(batch, operator, verifier)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    response = release(api_client_for(approver), batch)
    assert response.status_code == 403
    assert "performed step 2" in response.json()["detail"]
    assert_not_released(batch)


def test_a_superuser_who_performed_a_step_cannot_release(
    make_started_batch, site, operator, verifier, qa_reviewer, api_client_for
):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    batch = make_started_batch()
    perform_steps(batch, operator)
    verify_step(batch.steps.get(step_number=1), actor=verifier, password=PASSWORD)
    verify_step(batch.steps.get(step_number=3), actor=admin, password=PASSWORD)
    reconcile_materials(batch, operator, verifier)
    finish_production(batch, operator)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    response = release(api_client_for(admin), batch)
    assert response.status_code == 403
    assert "verified step 3" in response.json()["detail"]
    assert_not_released(batch)


def test_reviewing_the_batch_does_not_bar_the_approver_from_releasing(under_review, site, api_client_for):
    """Reviewing and resolving deviations are QA's work, not execution."""
    approver = dual_role_user(site, QA_APPROVER, username="qa_lead")
    client = api_client_for(approver)
    assert client.post(f"{BATCHES}{under_review.pk}/review/", {"password": PASSWORD}).status_code == 200
    assert release(client, under_review).status_code == 200


# --- refusals --------------------------------------------------------------------------


def test_release_with_a_wrong_password_is_403_and_changes_nothing(under_review, qa_approver, api_client_for):
    response = release(api_client_for(qa_approver), under_review, password="wrong")
    assert response.status_code == 403
    assert_not_released(under_review)
    assert Signature.objects.filter(meaning="released").count() == 0


@pytest.mark.parametrize("role", ["qa_reviewer", "operator", "verifier", "author", "records_admin"])
def test_release_is_refused_without_the_qa_approver_role(role, under_review, request, api_client_for):
    response = release(api_client_for(request.getfixturevalue(role)), under_review)
    assert response.status_code == 403
    assert_not_released(under_review)


def test_the_conditions_are_checked_before_the_signature(under_review, operator, qa_approver, api_client_for):
    open_batch_deviation(under_review, actor=operator, deviation_type="environmental", description="Humidity")
    response = release(api_client_for(qa_approver), under_review, password="wrong")
    assert response.status_code == 409
