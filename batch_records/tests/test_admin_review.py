"""QA review in the admin: a batch's disposition and its deviations' investigation move on
only through actions calling the review and deviation services; signing actions ask the
password (a wrong one changes nothing); the batch page lists what QA must look at."""

import pytest

from batch_records.models import BatchDeviation
from batch_records.services.deviations import investigate_batch_deviation, open_batch_deviation
from batch_records.services.review import quarantine_batch
from batch_records.tests.review_helpers import finish_production, perform_steps, releasable_batch, settle
from batch_records.tests.test_admin_actions import messages_of, run_action, signatures_of
from batch_records.tests.test_admin_forms import post_change
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ADMIN = "/admin/batch_records"


@pytest.fixture
def under_review(make_started_batch, operator, verifier, qa_reviewer):
    return releasable_batch(make_started_batch, operator, verifier, qa_reviewer)


def test_submit_for_review_action(make_started_batch, operator, qa_reviewer, admin_client_for):
    batch = make_started_batch()
    perform_steps(batch, operator)
    batch = finish_production(batch, operator)
    run_action(admin_client_for(qa_reviewer), "batchrecord", "action_submit_batch_for_review", [batch])
    batch.refresh_from_db()
    assert batch.status == "under_review"


def test_batch_page_lists_what_qa_must_look_at(make_started_batch, operator, qa_reviewer, admin_client_for):
    from batch_records.services.review import quarantine_batch, return_batch_to_review

    batch = make_started_batch()
    perform_steps(batch, operator)
    # Held in production and sent to QA without completing: its materials are still open.
    batch = quarantine_batch(batch, actor=qa_reviewer, reason="Line stoppage")
    batch = return_batch_to_review(batch, actor=qa_reviewer, reason="For disposition")
    html = admin_client_for(qa_reviewer).get(f"{ADMIN}/batchrecord/{batch.pk}/change/").content.decode()
    assert "Release conditions not met" in html
    assert "requires second-person verification and has not been verified" in html
    assert "Material API-001 (line 1) is &#x27;pending&#x27;" in html


def test_review_action_is_signed_reviewed(under_review, qa_reviewer, admin_client_for):
    page = run_action(
        admin_client_for(qa_reviewer), "batchrecord", "action_record_batch_review", [under_review], password=PASSWORD
    )
    assert "Document the QA review: done for 1 record(s)." in messages_of(page)
    under_review.refresh_from_db()
    assert under_review.reviewed_by == qa_reviewer
    assert ("reviewed", "qa_reviewer") in signatures_of(under_review)


def test_review_action_with_a_wrong_password_changes_nothing(under_review, qa_reviewer, admin_client_for):
    run_action(
        admin_client_for(qa_reviewer), "batchrecord", "action_record_batch_review", [under_review], password="bad"
    )
    under_review.refresh_from_db()
    assert under_review.reviewed_by is None


def test_release_action_page_shows_the_meaning(under_review, qa_approver, admin_client_for):
    page = admin_client_for(qa_approver).post(
        f"{ADMIN}/batchrecord/", {"action": "action_release_batch", "_selected_action": [under_review.pk]}
    )
    assert "Meaning of this signature: <strong>released</strong>" in page.content.decode()


def test_release_action_signs_released(under_review, qa_approver, admin_client_for):
    page = run_action(
        admin_client_for(qa_approver), "batchrecord", "action_release_batch", [under_review], password=PASSWORD
    )
    assert "Release: done for 1 record(s)." in messages_of(page)
    under_review.refresh_from_db()
    assert (under_review.status, under_review.released_by) == ("released", qa_approver)
    assert ("released", "qa_approver") in signatures_of(under_review)


def test_release_action_with_a_wrong_password_changes_nothing(under_review, qa_approver, admin_client_for):
    page = run_action(
        admin_client_for(qa_approver), "batchrecord", "action_release_batch", [under_review], password="wrong"
    )
    assert any("password is not correct" in message for message in messages_of(page))
    under_review.refresh_from_db()
    assert (under_review.status, under_review.released_by) == ("under_review", None)


def test_release_with_an_open_deviation_lists_the_unmet_condition(
    under_review, operator, qa_approver, admin_client_for
):
    deviation = open_batch_deviation(under_review, actor=operator, deviation_type="environmental", description="Dust")
    page = run_action(
        admin_client_for(qa_approver), "batchrecord", "action_release_batch", [under_review], password=PASSWORD
    )
    assert any(f"Deviation {deviation.deviation_id} is 'open'" in message for message in messages_of(page))
    under_review.refresh_from_db()
    assert under_review.status == "under_review"


def test_reject_action_is_signed_with_a_reason(under_review, qa_approver, admin_client_for):
    client = admin_client_for(qa_approver)
    page = run_action(client, "batchrecord", "action_reject_batch", [under_review], password=PASSWORD)
    assert b"A reason is required" in page.content
    run_action(client, "batchrecord", "action_reject_batch", [under_review], password=PASSWORD, reason="Mould")
    under_review.refresh_from_db()
    assert (under_review.status, under_review.disposition_reason) == ("rejected", "Mould")
    assert ("rejected", "qa_approver") in signatures_of(under_review)


def test_reject_action_with_a_wrong_password_changes_nothing(under_review, qa_approver, admin_client_for):
    run_action(
        admin_client_for(qa_approver), "batchrecord", "action_reject_batch", [under_review], password="x", reason="M"
    )
    under_review.refresh_from_db()
    assert under_review.status == "under_review"


def test_quarantine_and_return_to_review_actions(under_review, qa_reviewer, admin_client_for):
    client = admin_client_for(qa_reviewer)
    run_action(client, "batchrecord", "action_quarantine_batch", [under_review], reason="Label mix-up suspected")
    under_review.refresh_from_db()
    assert (under_review.status, under_review.disposition_reason) == ("quarantined", "Label mix-up suspected")
    run_action(client, "batchrecord", "action_return_batch_to_review", [under_review], reason="Labels checked")
    under_review.refresh_from_db()
    assert under_review.status == "under_review"


def test_released_batch_is_read_only_and_kept(under_review, qa_approver, verifier, admin_client_for):
    from batch_records.services.review import release_batch

    batch = release_batch(under_review, actor=qa_approver, password=PASSWORD)
    client = admin_client_for(verifier)
    assert client.get(f"{ADMIN}/batchrecord/{batch.pk}/delete/").status_code == 403
    assert client.post(f"{ADMIN}/batchrecord/{batch.pk}/change/", {"lot_number": "X"}).status_code == 403


# --- batch deviations ------------------------------------------------------------------


@pytest.fixture
def deviation(make_started_batch, operator):
    return open_batch_deviation(
        make_started_batch(), actor=operator, deviation_type="process_deviation", description="Late start"
    )


def test_investigate_deviation_action(deviation, qa_reviewer, admin_client_for):
    run_action(admin_client_for(qa_reviewer), "batchdeviation", "action_investigate_batch_deviation", [deviation])
    deviation.refresh_from_db()
    assert deviation.status == "investigating"


def test_resolve_action_records_root_cause_and_links_and_signs(
    deviation, site, operator, qa_reviewer, qa_approver, admin_client_for
):
    from deviations.tests.factories import DeviationFactory

    qms = DeviationFactory.build(site=site)
    qms.save(actor=operator)
    deviation = investigate_batch_deviation(deviation, actor=qa_reviewer)
    client = admin_client_for(qa_approver)
    page = client.post(
        f"{ADMIN}/batchdeviation/",
        {"action": "action_resolve_batch_deviation_from_admin", "_selected_action": [deviation.pk]},
    ).content.decode()
    assert "Meaning of this signature: <strong>resolved</strong>" in page
    assert 'name="root_cause"' in page
    run_action(
        client,
        "batchdeviation",
        "action_resolve_batch_deviation_from_admin",
        [deviation],
        root_cause="Shift handover",
        linked_deviation=qms.deviation_id,
        password=PASSWORD,
    )
    deviation.refresh_from_db()
    assert (deviation.status, deviation.root_cause, deviation.linked_deviation) == ("resolved", "Shift handover", qms)
    assert signatures_of(deviation) == [("resolved", "qa_approver")]


def test_resolve_action_with_a_wrong_password_changes_nothing(deviation, qa_reviewer, qa_approver, admin_client_for):
    deviation = investigate_batch_deviation(deviation, actor=qa_reviewer)
    page = run_action(
        admin_client_for(qa_approver),
        "batchdeviation",
        "action_resolve_batch_deviation_from_admin",
        [deviation],
        root_cause="Shift handover",
        password="wrong",
    )
    assert any("password is not correct" in message for message in messages_of(page))
    deviation.refresh_from_db()
    assert (deviation.status, deviation.root_cause) == ("investigating", "")


def test_close_deviation_action_signs_closed(deviation, qa_reviewer, qa_approver, admin_client_for):
    deviation = settle(deviation, qa_reviewer, qa_approver)
    run_action(
        admin_client_for(qa_approver), "batchdeviation", "action_close_batch_deviation", [deviation], password=PASSWORD
    )
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_by) == ("closed", qa_approver)


def test_close_deviation_action_with_a_wrong_password_changes_nothing(
    deviation, qa_reviewer, qa_approver, admin_client_for
):
    deviation = settle(deviation, qa_reviewer, qa_approver)
    run_action(
        admin_client_for(qa_approver), "batchdeviation", "action_close_batch_deviation", [deviation], password="x"
    )
    deviation.refresh_from_db()
    assert (deviation.status, deviation.closed_by) == ("resolved", None)


def test_investigation_is_written_in_the_change_form_through_the_service(deviation, qa_reviewer, admin_client_for):
    client = admin_client_for(qa_reviewer)
    url = f"{ADMIN}/batchdeviation/{deviation.pk}/change/"
    response = post_change(
        client,
        url,
        {
            "impact_assessment": "No product impact",
            "immediate_action": "Line stopped",
            "root_cause": "",
            "linked_deviation": "",
            "linked_capa": "",
        },
    )
    assert response.status_code == 302
    deviation.refresh_from_db()
    assert (deviation.impact_assessment, deviation.immediate_action) == ("No product impact", "Line stopped")
    assert deviation.history.latest("history_id").history_change_reason == "Investigation updated in the admin"


def test_linking_a_qms_deviation_of_another_site_is_a_form_error(
    deviation, other_site, operator, qa_reviewer, admin_client_for
):
    from deviations.tests.factories import DeviationFactory

    foreign = DeviationFactory.build(site=other_site)
    foreign.save(actor=operator)
    page = post_change(
        admin_client_for(qa_reviewer),
        f"{ADMIN}/batchdeviation/{deviation.pk}/change/",
        {"impact_assessment": "", "immediate_action": "", "root_cause": "", "linked_deviation": foreign.pk},
    )
    assert page.status_code == 200
    assert "linked_deviation" in page.context["adminform"].form.errors
    deviation.refresh_from_db()
    assert deviation.linked_deviation is None


def test_resolved_deviation_is_read_only(deviation, qa_reviewer, qa_approver, admin_client_for):
    deviation = settle(deviation, qa_reviewer, qa_approver)
    client = admin_client_for(qa_reviewer)
    page = client.get(f"{ADMIN}/batchdeviation/{deviation.pk}/change/").content.decode()
    assert 'name="root_cause"' not in page
    assert client.post(f"{ADMIN}/batchdeviation/{deviation.pk}/change/", {"root_cause": "X"}).status_code == 403
    assert BatchDeviation.objects.get(pk=deviation.pk).root_cause == "Operator read the wrong timer"


def test_quarantined_batch_page_lists_release_conditions(under_review, qa_reviewer, admin_client_for):
    batch = quarantine_batch(under_review, actor=qa_reviewer, reason="Hold")
    html = admin_client_for(qa_reviewer).get(f"{ADMIN}/batchrecord/{batch.pk}/change/").content.decode()
    assert "All release conditions are met." in html


def test_batch_page_under_review_does_not_grow_with_the_batch(
    make_approved_mbr, make_started_batch, operator, verifier, qa_reviewer, admin_client_for
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from batch_records.tests.factories import manufacturing_instructions

    small = releasable_batch(make_started_batch, operator, verifier, qa_reviewer)
    mbr = make_approved_mbr(manufacturing_instructions=manufacturing_instructions(12))
    large = releasable_batch(make_started_batch, operator, verifier, qa_reviewer, mbr=mbr)
    client = admin_client_for(qa_reviewer)
    client.get(f"{ADMIN}/batchrecord/{small.pk}/change/")  # caches warmed
    with CaptureQueriesContext(connection) as small_page:
        assert client.get(f"{ADMIN}/batchrecord/{small.pk}/change/").status_code == 200
    with CaptureQueriesContext(connection) as large_page:
        assert client.get(f"{ADMIN}/batchrecord/{large.pk}/change/").status_code == 200
    assert len(large_page) == len(small_page)
