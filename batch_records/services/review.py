"""QA review of an executed batch, by exception, and its disposition: submit for review,
document the review, release, reject, quarantine, return to review (21 CFR 211.22,
211.192; EU GMP Annex 11 §8.2, §15).

What a reviewer must look at and what forbids release are read from one rule table
(`review_rules`); `release_batch` refuses with every unmet condition at once.

Every action locks the batch row first; the release gate reads the children under that
lock (and locks them too), so nothing recorded meanwhile can slip past it.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batch_records.choices import (
    BatchStatus,
)
from batch_records.workflows import BATCH_WORKFLOW
from core.exceptions import Conflict, NotPermitted
from core.models import SignatureMeaning
from core.services import lock, sign
from inventory import reservations
from inventory.services import receive_finished_goods

from .flags import refresh_batch_flags
from .guards import ensure_batch_open
from .review_rules import execution_roles_of, load_batch_contents, unmet_release_conditions

# Who may document the QA review: the permission only QA reviewers and approvers hold.
REVIEW_PERMISSION = "batch_records.return_to_review_batchrecord"


# --- actions ---------------------------------------------------------------------------


def _required_reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["This action needs the reason why."]})
    return reason


@transaction.atomic
def submit_batch_for_review(batch, *, actor):
    """completed → under_review: production hands the batch record to QA."""
    batch = lock(batch)
    ensure_batch_open(batch, "submit_for_review")
    BATCH_WORKFLOW.apply(batch, "submit_for_review", actor)
    batch.save(actor=actor, reason="Submitted for QA review")
    # From now on, work left undone counts as an exception (see review_exceptions).
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated at submission for review")


@transaction.atomic
def record_batch_review(batch, *, actor, password, comment="", username=None):
    """QA documents its review of a batch under review: signed "reviewed" (21 CFR 211.192).
    The batch keeps its status; the release is a separate decision."""
    batch = lock(batch)
    ensure_batch_open(batch, "review")
    if not actor.has_perm(REVIEW_PERMISSION):
        raise NotPermitted("You do not have permission to review this record.")
    if batch.status != BatchStatus.UNDER_REVIEW:
        raise Conflict(
            f"Cannot review {batch.batch_id}: action 'review' is not allowed from status '{batch.status}' "
            "(only a batch under review is reviewed).",
            current_status=batch.status,
            action="review",
        )
    batch.reviewed_by = actor
    batch.reviewed_at = timezone.now()
    batch.save(actor=actor, reason=comment or "QA review documented")
    sign(batch, signer=actor, password=password, meaning=SignatureMeaning.REVIEWED, comment=comment, username=username)
    return batch


@transaction.atomic
def release_batch(batch, *, actor, password, comment="", username=None):
    """under_review → released, signed "released" by a QA approver independent of the
    batch's execution (21 CFR 211.22), once every release condition is met."""
    batch = lock(batch)
    ensure_batch_open(batch, "release")
    transition = BATCH_WORKFLOW.check(batch, "release", actor)
    load_batch_contents(batch, for_update=True)
    involvement = execution_roles_of(batch, actor)
    if involvement:
        raise NotPermitted(
            f"You cannot release {batch.batch_id}: you took part in its execution ({'; '.join(involvement)}). "
            "A batch is released by a QA approver independent of its manufacture (21 CFR 211.22).",
            involvement=involvement,
        )
    unmet = unmet_release_conditions(batch)
    if unmet:
        raise Conflict(
            f"Cannot release {batch.batch_id}: {len(unmet)} release condition(s) not met: "
            + " ".join(condition["message"] for condition in unmet),
            current_status=batch.status,
            action="release",
            unmet_conditions=unmet,
        )
    batch.status = transition.target
    batch.released_by = actor
    batch.release_date = timezone.now()
    batch.save(actor=actor, reason=comment or "Released by QA")
    sign(batch, signer=actor, password=password, meaning=SignatureMeaning.RELEASED, comment=comment, username=username)
    # The quantity produced enters stock as a released finished-goods lot, in this transaction.
    receive_finished_goods(batch, actor=actor)
    return batch


@transaction.atomic
def reject_batch(batch, *, actor, reason, password, comment="", username=None):
    """under_review|quarantined → rejected, with the reason and a signature "rejected"."""
    batch = lock(batch)
    ensure_batch_open(batch, "reject")
    BATCH_WORKFLOW.apply(batch, "reject", actor)
    reason = _required_reason(reason)
    batch.disposition_reason = reason
    batch.save(actor=actor, reason=f"Rejected: {reason}")
    # Stock still promised to a batch held in production is given back.
    reservations.release_batch_reservations(batch, actor=actor, reason=f"{batch.batch_id} rejected")
    sign(
        batch,
        signer=actor,
        password=password,
        meaning=SignatureMeaning.REJECTED,
        comment=comment or reason,
        username=username,
    )
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated at rejection")


@transaction.atomic
def quarantine_batch(batch, *, actor, reason):
    """in_progress|completed|under_review → quarantined: the batch is held, with the reason."""
    batch = lock(batch)
    ensure_batch_open(batch, "quarantine")
    BATCH_WORKFLOW.apply(batch, "quarantine", actor)
    reason = _required_reason(reason)
    batch.disposition_reason = reason
    batch.save(actor=actor, reason=f"Quarantined: {reason}")
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated at quarantine")


@transaction.atomic
def return_batch_to_review(batch, *, actor, reason):
    """quarantined → under_review: the hold is lifted, with the reason (the quarantine
    reason stays in the history)."""
    batch = lock(batch)
    ensure_batch_open(batch, "return_to_review")
    BATCH_WORKFLOW.apply(batch, "return_to_review", actor)
    reason = _required_reason(reason)
    batch.disposition_reason = ""
    batch.save(actor=actor, reason=f"Returned to review: {reason}")
    return refresh_batch_flags(batch, actor=actor, reason="Flags updated on return to review")
