"""QA review of an executed batch, by exception, and its disposition: submit for review,
document the review, release, reject, quarantine, return to review (21 CFR 211.22,
211.192; EU GMP Annex 11 §8.2, §15).

What a reviewer must look at and what forbids release are read from one rule table
(`review_rules`); the release refuses with every unmet condition at once.

The transitions are declared in `workflows.BATCH_WORKFLOW` (the release's guards: an
independent approver, every condition met) and run by its `perform`, which locks the batch
row first; the release gate reads the children under that lock (and locks them too), so
nothing recorded meanwhile can slip past it. The functions here are their work and the
entry points other code calls.
"""

from django.utils import timezone

from batch_records.workflows import BATCH_WORKFLOW
from inventory import reservations
from inventory.services import receive_finished_goods

from .flags import refresh_batch_flags

# --- the work of each transition ---------------------------------------------------------


def record_submission(batch, act):
    """Production hands the batch record to QA; from now on, work left undone counts as an
    exception (see review_exceptions)."""
    act.history_reason = "Submitted for QA review"
    act.then(_refresh_flags(batch, act, "Flags updated at submission for review"))


def record_review(batch, act):
    """QA documents its review (21 CFR 211.192); the release is a separate decision."""
    batch.reviewed_by = act.actor
    batch.reviewed_at = timezone.now()
    act.history_reason = act.comment or "QA review documented"


def record_release(batch, act):
    """The quantity produced enters stock as a released finished-goods lot, in this
    transaction (after the signature)."""
    batch.released_by = act.actor
    batch.release_date = timezone.now()
    act.history_reason = act.comment or "Released by QA"
    act.then(lambda: receive_finished_goods(batch, actor=act.actor))


def record_rejection(batch, act):
    batch.disposition_reason = act.reason
    act.history_reason = f"Rejected: {act.reason}"
    # Stock still promised to a batch held in production is given back.
    act.then(
        lambda: reservations.release_batch_reservations(batch, actor=act.actor, reason=f"{batch.batch_id} rejected")
    )
    act.then(_refresh_flags(batch, act, "Flags updated at rejection"))


def record_quarantine(batch, act):
    batch.disposition_reason = act.reason
    act.history_reason = f"Quarantined: {act.reason}"
    act.then(_refresh_flags(batch, act, "Flags updated at quarantine"))


def record_return_to_review(batch, act):
    """The hold is lifted (the quarantine reason stays in the history)."""
    batch.disposition_reason = ""
    act.history_reason = f"Returned to review: {act.reason}"
    act.then(_refresh_flags(batch, act, "Flags updated on return to review"))


def _refresh_flags(batch, act, reason):
    def followup():
        act.result = refresh_batch_flags(batch, actor=act.actor, reason=reason)

    return followup


# --- entry points ------------------------------------------------------------------------------


def submit_batch_for_review(batch, *, actor):
    """completed → under_review: production hands the batch record to QA."""
    return BATCH_WORKFLOW.perform(batch, "submit_for_review", actor=actor)


def record_batch_review(batch, *, actor, password, comment="", username=None):
    """QA documents its review of a batch under review: signed "reviewed"."""
    return BATCH_WORKFLOW.perform(batch, "review", actor=actor, password=password, comment=comment, username=username)


def release_batch(batch, *, actor, password, comment="", username=None):
    """under_review → released, signed "released" by an independent QA approver, once
    every release condition is met."""
    return BATCH_WORKFLOW.perform(batch, "release", actor=actor, password=password, comment=comment, username=username)


def reject_batch(batch, *, actor, reason, password, comment="", username=None):
    """under_review|quarantined → rejected, with the reason and a signature "rejected"."""
    return BATCH_WORKFLOW.perform(
        batch, "reject", actor=actor, reason=reason, password=password, comment=comment, username=username
    )


def quarantine_batch(batch, *, actor, reason):
    """in_progress|completed|under_review → quarantined: the batch is held, with the reason."""
    return BATCH_WORKFLOW.perform(batch, "quarantine", actor=actor, reason=reason)


def return_batch_to_review(batch, *, actor, reason):
    """quarantined → under_review, with the reason."""
    return BATCH_WORKFLOW.perform(batch, "return_to_review", actor=actor, reason=reason)
