"""Status changes in the batch records admin: only through actions that call the services,
a signing action asking for the password and showing the meaning; a wrong password changes
nothing."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from batch_records.models import BatchStep
from batch_records.services.steps import complete_step, start_step
from batch_records.tests.review_helpers import return_unused_materials
from core.models import Signature
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ADMIN = "/admin/batch_records"


def run_action(client, model, action, records, **data):
    """Confirm `action` on `records` (the intermediate page's POST) and follow the redirect."""
    payload = {"action": action, ACTION_CHECKBOX_NAME: [record.pk for record in records], "confirm": "yes", **data}
    return client.post(f"{ADMIN}/{model}/", payload, follow=True)


def messages_of(page):
    return [str(message) for message in page.context["messages"]]


def signatures_of(record):
    return list(record.signatures.values_list("meaning", "signer__username"))


# --- master batch records --------------------------------------------------------------


def test_submit_mbr_action_moves_the_draft_to_review(make_draft_mbr, author, admin_client_for):
    mbr = make_draft_mbr()
    page = run_action(admin_client_for(author), "masterbatchrecord", "action_submit_mbr", [mbr])
    assert "Submit for review: done for 1 record(s)." in messages_of(page)
    mbr.refresh_from_db()
    assert mbr.status == "in_review"


def test_return_to_draft_action_needs_a_reason(make_draft_mbr, author, qa_reviewer, admin_client_for):
    from batch_records.services.mbr import submit_mbr

    mbr = submit_mbr(make_draft_mbr(), actor=author)
    client = admin_client_for(qa_reviewer)
    page = run_action(client, "masterbatchrecord", "action_return_mbr_to_draft", [mbr])
    assert b"A reason is required" in page.content
    mbr.refresh_from_db()
    assert mbr.status == "in_review"
    run_action(client, "masterbatchrecord", "action_return_mbr_to_draft", [mbr], reason="Step 2 unclear")
    mbr.refresh_from_db()
    assert mbr.status == "draft"
    assert mbr.history.latest("history_id").history_change_reason == "Step 2 unclear"


def test_approve_action_page_asks_the_password_and_shows_the_meaning(
    make_draft_mbr, author, qa_approver, admin_client_for
):
    from batch_records.services.mbr import submit_mbr

    mbr = submit_mbr(make_draft_mbr(), actor=author)
    page = admin_client_for(qa_approver).post(
        f"{ADMIN}/masterbatchrecord/", {"action": "action_approve_mbr", ACTION_CHECKBOX_NAME: [mbr.pk]}
    )
    html = page.content.decode()
    assert "Meaning of this signature: <strong>approved</strong>" in html
    assert 'type="password"' in html
    assert mbr.mbr_id in html
    mbr.refresh_from_db()
    assert mbr.status == "in_review"


def test_approve_action_signs_through_the_service(make_draft_mbr, author, qa_approver, admin_client_for):
    from batch_records.services.mbr import submit_mbr

    mbr = submit_mbr(make_draft_mbr(), actor=author)
    page = run_action(
        admin_client_for(qa_approver), "masterbatchrecord", "action_approve_mbr", [mbr], password=PASSWORD
    )
    assert "Approve: done for 1 record(s)." in messages_of(page)
    mbr.refresh_from_db()
    assert mbr.status == "approved"
    assert mbr.approved_by == qa_approver
    assert signatures_of(mbr) == [("approved", "qa_approver")]


def test_approve_action_with_a_wrong_password_changes_nothing(make_draft_mbr, author, qa_approver, admin_client_for):
    from batch_records.services.mbr import submit_mbr

    mbr = submit_mbr(make_draft_mbr(), actor=author)
    page = run_action(admin_client_for(qa_approver), "masterbatchrecord", "action_approve_mbr", [mbr], password="x")
    assert any("password is not correct" in message for message in messages_of(page))
    mbr.refresh_from_db()
    assert mbr.status == "in_review"
    assert mbr.approved_by is None
    assert Signature.objects.count() == 0


def test_approve_action_without_a_password_stays_on_the_page(make_draft_mbr, author, qa_approver, admin_client_for):
    from batch_records.services.mbr import submit_mbr

    mbr = submit_mbr(make_draft_mbr(), actor=author)
    page = run_action(admin_client_for(qa_approver), "masterbatchrecord", "action_approve_mbr", [mbr])
    assert b"Your password is required to sign." in page.content
    mbr.refresh_from_db()
    assert mbr.status == "in_review"


def test_author_cannot_approve_their_own_mbr_in_the_admin(admin_client_for, django_user_model):
    from batch_records.services.mbr import submit_mbr
    from batch_records.tests.factories import MasterBatchRecordFactory

    superuser = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    mbr = submit_mbr(MasterBatchRecordFactory(author=superuser), actor=superuser)
    page = run_action(admin_client_for(superuser), "masterbatchrecord", "action_approve_mbr", [mbr], password=PASSWORD)
    assert any("approver must be someone other than its author" in message for message in messages_of(page))
    mbr.refresh_from_db()
    assert mbr.status == "in_review"


def test_supersede_action(make_approved_mbr, qa_approver, admin_client_for):
    mbr = make_approved_mbr()
    run_action(admin_client_for(qa_approver), "masterbatchrecord", "action_supersede_mbr", [mbr], reason="Moved")
    mbr.refresh_from_db()
    assert mbr.status == "superseded"


def test_obsolete_action_is_signed_with_a_reason(make_approved_mbr, qa_approver, admin_client_for):
    mbr = make_approved_mbr()
    client = admin_client_for(qa_approver)
    run_action(client, "masterbatchrecord", "action_obsolete_mbr", [mbr], password=PASSWORD, reason="Withdrawn")
    mbr.refresh_from_db()
    assert mbr.status == "obsolete"
    assert ("obsoleted", "qa_approver") in signatures_of(mbr)


def test_obsolete_action_with_a_wrong_password_changes_nothing(make_approved_mbr, qa_approver, admin_client_for):
    mbr = make_approved_mbr()
    signed = mbr.signatures.count()
    page = run_action(
        admin_client_for(qa_approver),
        "masterbatchrecord",
        "action_obsolete_mbr",
        [mbr],
        password="wrong",
        reason="Withdrawn",
    )
    assert any("password is not correct" in message for message in messages_of(page))
    mbr.refresh_from_db()
    assert mbr.status == "approved"
    assert mbr.signatures.count() == signed


def test_new_version_action_creates_the_next_draft(make_approved_mbr, author, admin_client_for):
    mbr = make_approved_mbr()
    run_action(admin_client_for(author), "masterbatchrecord", "action_create_new_mbr_version", [mbr])
    draft = mbr.next_versions.get()
    assert (draft.status, draft.version, draft.author) == ("draft", mbr.version + 1, author)


def test_refused_transition_shows_the_message_and_changes_nothing(make_approved_mbr, author, admin_client_for):
    mbr = make_approved_mbr()
    page = run_action(admin_client_for(author), "masterbatchrecord", "action_submit_mbr", [mbr])
    assert any("is not allowed from status 'approved'" in message for message in messages_of(page))
    mbr.refresh_from_db()
    assert mbr.status == "approved"


def test_actions_are_offered_only_to_roles_that_may_run_them(records_admin, qa_approver, admin_client_for):
    records_page = admin_client_for(records_admin).get(f"{ADMIN}/masterbatchrecord/").content.decode()
    approver_page = admin_client_for(qa_approver).get(f"{ADMIN}/masterbatchrecord/").content.decode()
    assert "action_approve_mbr" not in records_page  # records administrators sign nothing
    assert "action_approve_mbr" in approver_page
    assert "delete_selected" not in approver_page


# --- batches ---------------------------------------------------------------------------


def test_start_batch_action(make_batch, operator, admin_client_for):
    batch = make_batch()
    page = run_action(admin_client_for(operator), "batchrecord", "action_start_batch", [batch])
    assert "Start production: done for 1 record(s)." in messages_of(page)
    batch.refresh_from_db()
    assert batch.status == "in_progress"
    assert batch.started_at is not None


def test_complete_batch_action_takes_the_quantities(make_started_batch, operator, verifier, admin_client_for):
    from batch_records.services.steps import skip_step

    batch = make_started_batch()
    for step in batch.steps.order_by("step_number"):
        skip_step(step, actor=verifier, reason="Not needed in this trial", password=PASSWORD)
    return_unused_materials(batch, operator)
    client = admin_client_for(operator)
    page = client.post(
        f"{ADMIN}/batchrecord/", {"action": "action_complete_batch", ACTION_CHECKBOX_NAME: [batch.pk]}
    ).content.decode()
    assert 'name="quantity_produced"' in page
    assert 'name="quantity_rejected"' in page
    run_action(client, "batchrecord", "action_complete_batch", [batch], quantity_produced="98", quantity_rejected="1")
    batch.refresh_from_db()
    assert batch.status == "completed"
    assert batch.yield_percentage == Decimal("98.00")


def test_complete_batch_action_with_open_steps_is_refused(make_started_batch, operator, admin_client_for):
    batch = make_started_batch()
    page = run_action(
        admin_client_for(operator),
        "batchrecord",
        "action_complete_batch",
        [batch],
        quantity_produced="98",
        quantity_rejected="0",
    )
    assert any("step(s) 1, 2, 3 are not completed" in message for message in messages_of(page))
    batch.refresh_from_db()
    assert batch.status == "in_progress"


# --- steps -----------------------------------------------------------------------------


def first_step(batch):
    return BatchStep.objects.get(batch=batch, step_number=1)


def test_start_step_action(make_started_batch, operator, admin_client_for):
    step = first_step(make_started_batch())
    run_action(admin_client_for(operator), "batchstep", "action_start_step", [step])
    step.refresh_from_db()
    assert (step.status, step.operator) == ("in_progress", operator)


def test_complete_step_action_records_the_values_and_signs_performed(make_started_batch, operator, admin_client_for):
    step = start_step(first_step(make_started_batch()), actor=operator)
    page = run_action(
        admin_client_for(operator),
        "batchstep",
        "action_complete_step",
        [step],
        actual_values='{"blend_time": 10}',
        password=PASSWORD,
        comment="Blend OK",
    )
    assert "Complete the step (record values): done for 1 record(s)." in messages_of(page)
    step.refresh_from_db()
    assert step.status == "completed"
    assert step.is_within_spec is True
    assert step.signatures.get().meaning == "performed"


def test_complete_step_action_with_a_wrong_password_records_nothing(make_started_batch, operator, admin_client_for):
    step = start_step(first_step(make_started_batch()), actor=operator)
    page = run_action(
        admin_client_for(operator),
        "batchstep",
        "action_complete_step",
        [step],
        actual_values='{"blend_time": 10}',
        password="wrong",
    )
    assert any("password is not correct" in message for message in messages_of(page))
    step.refresh_from_db()
    assert step.status == "in_progress"
    assert step.actual_values == {}
    assert step.signatures.count() == 0


def test_complete_step_action_with_missing_values_names_the_field(make_started_batch, operator, admin_client_for):
    step = start_step(first_step(make_started_batch()), actor=operator)
    page = run_action(
        admin_client_for(operator),
        "batchstep",
        "action_complete_step",
        [step],
        actual_values='{"hardness": 5}',
        password=PASSWORD,
    )
    assert any("actual_values: blend_time: this field is required" in message for message in messages_of(page))
    step.refresh_from_db()
    assert step.status == "in_progress"


def test_verify_step_action_signs_verified(make_started_batch, operator, verifier, admin_client_for):
    step = start_step(first_step(make_started_batch()), actor=operator)
    step = complete_step(step, actor=operator, actual_values={"blend_time": 10}, password=PASSWORD)
    run_action(admin_client_for(verifier), "batchstep", "action_verify_step", [step], password=PASSWORD)
    step.refresh_from_db()
    assert step.verifier == verifier
    assert ("verified", "verifier") in signatures_of(step)


def test_verify_step_action_with_a_wrong_password_changes_nothing(
    make_started_batch, operator, verifier, admin_client_for
):
    step = start_step(first_step(make_started_batch()), actor=operator)
    step = complete_step(step, actor=operator, actual_values={"blend_time": 10}, password=PASSWORD)
    page = run_action(admin_client_for(verifier), "batchstep", "action_verify_step", [step], password="wrong")
    assert any("password is not correct" in message for message in messages_of(page))
    step.refresh_from_db()
    assert step.verifier is None
    assert signatures_of(step) == [("performed", "operator")]


def test_skip_step_action_needs_a_reason_and_signs_skipped(make_started_batch, verifier, admin_client_for):
    step = first_step(make_started_batch())
    client = admin_client_for(verifier)
    page = run_action(client, "batchstep", "action_skip_step", [step], password=PASSWORD)
    assert b"A reason is required" in page.content
    run_action(client, "batchstep", "action_skip_step", [step], password=PASSWORD, reason="Pre-blended lot")
    step.refresh_from_db()
    assert (step.status, step.skip_reason) == ("skipped", "Pre-blended lot")
    assert signatures_of(step) == [("skipped", "verifier")]


def test_skip_step_action_with_a_wrong_password_changes_nothing(make_started_batch, verifier, admin_client_for):
    step = first_step(make_started_batch())
    run_action(
        admin_client_for(verifier), "batchstep", "action_skip_step", [step], password="wrong", reason="Pre-blended"
    )
    step.refresh_from_db()
    assert step.status == "pending"
    assert step.signatures.count() == 0


def test_correct_step_action_records_new_values_with_a_reason(make_started_batch, operator, admin_client_for):
    step = start_step(first_step(make_started_batch()), actor=operator)
    step = complete_step(step, actor=operator, actual_values={"blend_time": 10}, password=PASSWORD)
    run_action(
        admin_client_for(operator),
        "batchstep",
        "action_correct_step",
        [step],
        actual_values='{"blend_time": 10.5}',
        reason="Transcription error",
        password=PASSWORD,
    )
    step.refresh_from_db()
    assert step.actual_values == {"blend_time": "10.5"}
    assert step.correction_count == 1
    assert ("corrected", "operator") in signatures_of(step)


def test_correct_step_action_with_a_wrong_password_keeps_the_values(make_started_batch, operator, admin_client_for):
    step = start_step(first_step(make_started_batch()), actor=operator)
    step = complete_step(step, actor=operator, actual_values={"blend_time": 10}, password=PASSWORD)
    before = step.actual_values
    run_action(
        admin_client_for(operator),
        "batchstep",
        "action_correct_step",
        [step],
        actual_values='{"blend_time": 10.5}',
        reason="Transcription error",
        password="wrong",
    )
    step.refresh_from_db()
    assert step.actual_values == before
    assert step.correction_count == 0
