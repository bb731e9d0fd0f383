"""Business actions on master batch records: one function per action, each one
transaction that locks the row, checks the workflow and the guards, then signs."""

from django.db import transaction
from django.utils import timezone

from batch_records.choices import MBRStatus
from batch_records.models import MasterBatchRecord
from batch_records.validation import clean_mbr_content
from batch_records.workflows import MBR_WORKFLOW
from core.exceptions import NotPermitted
from core.models import SignatureMeaning
from core.services import lock, sign


def _version_label(mbr):
    return f"{mbr.mbr_id} (version {mbr.version})"


@transaction.atomic
def submit_mbr(mbr, *, actor):
    """draft → in_review: the content must be complete and valid."""
    mbr = lock(mbr)
    MBR_WORKFLOW.apply(mbr, "submit", actor)
    clean_mbr_content(mbr, complete=True)
    mbr.save(actor=actor, reason="Submitted for review")
    return mbr


@transaction.atomic
def approve_mbr(mbr, *, actor, password, comment="", username=None):
    """in_review → approved, signed "approved" by someone other than the author.

    Every other approved version of the same product is superseded in the same
    transaction: only one version of a product is approved at a time.
    """
    mbr = lock(mbr)
    MBR_WORKFLOW.apply(mbr, "approve", actor)
    if actor.pk == mbr.author_id:
        raise NotPermitted(f"{mbr.mbr_id} was written by you: its approver must be someone other than its author.")
    clean_mbr_content(mbr, complete=True)
    mbr.approved_by = actor
    mbr.approval_date = timezone.now()
    if mbr.effective_date is None:
        mbr.effective_date = timezone.localdate()
    _supersede_other_versions(mbr, actor=actor)
    mbr.save(actor=actor, reason=comment or "Approved")
    sign(mbr, signer=actor, password=password, meaning=SignatureMeaning.APPROVED, comment=comment, username=username)
    return mbr


def _supersede_other_versions(mbr, *, actor):
    others = (
        MasterBatchRecord.objects.select_for_update()
        .filter(product_code=mbr.product_code, status=MBRStatus.APPROVED)
        .exclude(pk=mbr.pk)
        .order_by("pk")
    )
    for other in others:
        MBR_WORKFLOW.apply(other, "supersede")
        other.save(actor=actor, reason=f"Superseded by {_version_label(mbr)}")
