"""A batch's derived flags: `has_deviations`, and `review_by_exception` from the review
list (review_rules, the one definition)."""

from batch_records.models import BatchDeviation, BatchRecord
from core.services import lock

from .review_rules import review_exceptions


def batch_flags(batch):
    """The derived flags of `batch` as the database says now.

    `review_by_exception`: QA may review the batch by exception only when its review list
    (review_rules.review_exceptions, the one definition) is empty: no deviation whatever
    its status, no step skipped, out of spec or corrected, no invalid signature, a yield
    within limits; and, once the batch has gone to QA, nothing left undone.
    """
    has_deviations = BatchDeviation.objects.filter(batch_id=batch.pk).exists()
    return {"has_deviations": has_deviations, "review_by_exception": not review_exceptions(batch)}


def refresh_batch_flags(batch, *, actor=None, reason="Batch flags updated"):
    """Store `has_deviations` and `review_by_exception` if they changed, through the model
    (so the history shows when and why a flag changed); nothing is saved otherwise."""
    stored = BatchRecord.objects.filter(pk=batch.pk).first()
    if stored is None:  # the batch itself is being deleted
        return batch
    current = {"has_deviations": stored.has_deviations, "review_by_exception": stored.review_by_exception}
    if batch_flags(stored) == current:
        batch.has_deviations, batch.review_by_exception = current["has_deviations"], current["review_by_exception"]
        return batch
    # Callers in batch execution already hold this lock; a deviation saved elsewhere takes it here.
    fresh = lock(batch)
    flags = batch_flags(fresh)
    changed = [name for name, value in flags.items() if getattr(fresh, name) != value]
    for name, value in flags.items():
        setattr(fresh, name, value)
        setattr(batch, name, value)
    if changed:
        fresh.save(update_fields=changed, actor=actor, reason=reason)
    return batch
