"""Eight QA sessions releasing the same batch at the same moment (PostgreSQL row locks):
exactly one release, one signature "released"; the others are refused with a 409."""

import pytest

from batch_records.models import BatchRecord
from batch_records.services.review import release_batch
from batch_records.tests.review_helpers import releasable_batch
from core.exceptions import Conflict
from core.models import Signature
from core.testing import run_concurrently
from users.tests.factories import PASSWORD

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_eight_concurrent_releases_release_once(make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    batch = releasable_batch(make_started_batch, operator, verifier, qa_reviewer)

    def release_from_session(index):
        return release_batch(BatchRecord.objects.get(pk=batch.pk), actor=qa_approver, password=PASSWORD)

    outcomes = run_concurrently(release_from_session, 8)
    winners = [result for result, error in outcomes if error is None]
    losers = [error for _, error in outcomes if error is not None]
    assert len(winners) == 1
    assert len(losers) == 7
    assert all(isinstance(error, Conflict) for error in losers), losers
    assert {error.extra["current_status"] for error in losers} == {"released"}
    batch.refresh_from_db()
    assert (batch.status, batch.released_by) == ("released", qa_approver)
    assert Signature.objects.filter(meaning="released").count() == 1
    assert batch.history.filter(status="released").count() == 1


def test_a_deviation_opened_while_releasing_is_either_before_or_after_the_release(
    make_started_batch, operator, verifier, qa_reviewer, qa_approver
):
    """The gate reads the batch's children under the batch row lock: a deviation reported at
    the same moment either blocks the release or is refused by the released batch."""
    from batch_records.services.deviations import open_batch_deviation

    batch = releasable_batch(make_started_batch, operator, verifier, qa_reviewer)
    calls = [
        lambda: release_batch(BatchRecord.objects.get(pk=batch.pk), actor=qa_approver, password=PASSWORD),
        lambda: open_batch_deviation(
            BatchRecord.objects.get(pk=batch.pk), actor=operator, deviation_type="environmental", description="Late"
        ),
    ]
    outcomes = run_concurrently(lambda index: calls[index](), 2)
    errors = [error for _, error in outcomes]
    batch.refresh_from_db()
    if batch.status == "released":
        assert errors[0] is None
        assert isinstance(errors[1], Conflict)
        assert not batch.deviations.exists()
    else:
        assert isinstance(errors[0], Conflict)
        assert [item["kind"] for item in errors[0].extra["unmet_conditions"]] == ["deviation_not_resolved"]
        assert errors[1] is None
