"""Two tablets acting on the same step at the same moment (PostgreSQL row locks)."""

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from batch_records.models import BatchDeviation, BatchRecord, BatchStep
from batch_records.services.batches import complete_batch
from batch_records.services.steps import complete_step, correct_step, skip_step, start_step
from batch_records.tests.review_helpers import return_unused_materials
from core.exceptions import Conflict
from core.models import Signature
from core.testing import run_concurrently
from users.tests.factories import PASSWORD

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def signatures_of(step, meaning):
    content_type = ContentType.objects.get_for_model(BatchStep)
    return Signature.objects.filter(content_type=content_type, object_id=step.pk, meaning=meaning)


def test_two_concurrent_completions_of_one_step_exactly_one_wins(make_started_batch, operator, operator2):
    batch = make_started_batch()
    step = start_step(batch.steps.get(step_number=1), actor=operator)
    tablets = [(operator, "10"), (operator2, "10.5")]

    def complete_from_tablet(index):
        user, value = tablets[index]
        fresh = BatchStep.objects.get(pk=step.pk)
        return complete_step(fresh, actor=user, actual_values={"blend_time": value}, password=PASSWORD)

    outcomes = run_concurrently(complete_from_tablet, 2)
    winners = [result for result, error in outcomes if error is None]
    losers = [error for _, error in outcomes if error is not None]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], Conflict), losers[0]
    step.refresh_from_db()
    assert step.status == "completed"
    assert step.operator_id == winners[0].operator_id
    assert signatures_of(step, "performed").count() == 1
    assert step.history.filter(history_change_reason="Step performed").count() == 1


def test_concurrent_excursions_in_one_batch_open_one_deviation_each(make_started_batch, operator, operator2, verifier):
    """Two tablets record out-of-spec values in the same batch at once: the batch row lock
    serialises them, each gets its deviation, the flag is set once, and nobody deadlocks."""
    batch = make_started_batch()
    step_1 = start_step(batch.steps.get(step_number=1), actor=operator)
    complete_step(step_1, actor=operator, actual_values={"blend_time": "10"}, password=PASSWORD)
    skip_step(batch.steps.get(step_number=2), actor=verifier, reason="n/a", password=PASSWORD)
    step_3 = start_step(batch.steps.get(step_number=3), actor=operator)
    calls = [
        lambda: correct_step(
            BatchStep.objects.get(pk=step_1.pk),
            actor=operator,
            actual_values={"blend_time": "20"},
            reason="Re-read timer",
            password=PASSWORD,
        ),
        lambda: complete_step(
            BatchStep.objects.get(pk=step_3.pk), actor=operator2, actual_values={"hardness": "2"}, password=PASSWORD
        ),
    ]
    outcomes = run_concurrently(lambda index: calls[index](), 2)
    assert [error for _, error in outcomes] == [None, None]
    assert BatchDeviation.objects.filter(batch=batch, deviation_type="parameter_excursion").count() == 2
    batch.refresh_from_db()
    assert batch.has_deviations is True
    assert batch.history.filter(has_deviations=True).count() >= 1
    return_unused_materials(batch, operator)
    complete_batch(
        BatchRecord.objects.get(pk=batch.pk),
        actor=operator,
        quantity_produced=Decimal("99"),
        quantity_rejected=Decimal("1"),
    )
