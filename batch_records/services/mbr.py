"""Business actions on master batch records: one function per action, each one
transaction that locks the row, checks the workflow and the guards, then signs."""

import copy

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from batch_records.choices import MBRStatus
from batch_records.models import MasterBatchRecord
from batch_records.validation import clean_mbr_content
from batch_records.workflow_guards import MBR_OPEN_STATUSES, may_approve  # noqa: F401 - part of this module's interface
from batch_records.workflows import MBR_WORKFLOW
from core.exceptions import Conflict
from core.services import lock
from documents.models import DocumentStatus

# Versions still being written or reviewed: a product has at most one at a time.
OPEN_STATUSES = MBR_OPEN_STATUSES


def _label(mbr):
    return f"{mbr.mbr_id} (version {mbr.version})"


def _check_linked_document(mbr):
    # An MBR must not point its users at a withdrawn procedure.
    document = mbr.linked_document
    if document is not None and document.status == DocumentStatus.OBSOLETE:
        raise ValidationError({"linked_document": [f"{document.doc_id} is obsolete and cannot be linked."]})


def _check_product_code_is_new(product_code, *, exclude_pk=None):
    existing = MasterBatchRecord.objects.filter(product_code=product_code).exclude(pk=exclude_pk)
    latest = existing.order_by("-version").first()
    if latest is not None:
        raise ValidationError(
            {
                "product_code": [
                    f"Product {product_code} already has master batch records (latest: {_label(latest)}, "
                    f"status '{latest.status}'). Create the next version with POST new_version/ on its "
                    "approved master batch record."
                ]
            }
        )


def _save_new(mbr, *, actor, reason):
    """Insert `mbr`; a concurrent insert of the same product version is a 400, not a 500."""
    try:
        with transaction.atomic():
            mbr.save(actor=actor, reason=reason)
    except IntegrityError as error:
        if MasterBatchRecord.objects.filter(product_code=mbr.product_code, version=mbr.version).exists():
            raise ValidationError(
                {"product_code": [f"Version {mbr.version} of product {mbr.product_code} was created meanwhile."]}
            ) from error
        raise


def check_mbr_editable(mbr):
    """The content an author writes changes only in draft (SPEC §3)."""
    if mbr.status != MBRStatus.DRAFT:
        raise Conflict(
            f"Cannot edit {mbr.mbr_id}: content can only change in draft, and it is '{mbr.status}'.",
            current_status=mbr.status,
            action="update",
        )


@transaction.atomic
def create_mbr(*, actor, reason=None, **values):
    """A new product's first draft (version 1), written by `actor`."""
    mbr = MasterBatchRecord(**values, author=actor, version=1, status=MBRStatus.DRAFT)
    clean_mbr_content(mbr)
    _check_linked_document(mbr)
    _check_product_code_is_new(mbr.product_code)
    mbr.full_clean(exclude=["mbr_id"], validate_constraints=False)
    _save_new(mbr, actor=actor, reason=reason or "Created")
    return mbr


@transaction.atomic
def update_mbr(mbr, *, actor, reason=None, **values):
    """Change the content of a draft; only `content_fields` may change."""
    mbr = lock(mbr)
    check_mbr_editable(mbr)
    unknown = sorted(set(values) - set(MasterBatchRecord.content_fields))
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    old_product_code = mbr.product_code
    for name, value in values.items():
        setattr(mbr, name, value)
    clean_mbr_content(mbr)
    _check_linked_document(mbr)
    if mbr.product_code != old_product_code:
        if mbr.previous_version_id is not None:
            raise ValidationError(
                {"product_code": [f"{mbr.mbr_id} is a new version of product {old_product_code}; its code is fixed."]}
            )
        _check_product_code_is_new(mbr.product_code, exclude_pk=mbr.pk)
    mbr.full_clean(exclude=["mbr_id"], validate_constraints=False)
    mbr.save(actor=actor, reason=reason or "Content edited")
    return mbr


# --- the work of each transition ---------------------------------------------------------


def check_submitted_content(mbr, act):
    """The content must be complete and valid."""
    clean_mbr_content(mbr, complete=True)
    act.history_reason = "Submitted for review"


def record_approval(mbr, act):
    """Every other approved version of the same product is superseded in the same
    transaction: only one version of a product is approved at a time."""
    clean_mbr_content(mbr, complete=True)
    _check_linked_document(mbr)
    mbr.approved_by = act.actor
    mbr.approval_date = timezone.now()
    if mbr.effective_date is None:
        mbr.effective_date = timezone.localdate()
    _supersede_other_versions(mbr, actor=act.actor)
    act.history_reason = act.comment or "Approved"


def make_new_version(mbr, act):
    """A draft copy with the product's next version number, written by `actor`; the
    approved record keeps its status (and is not saved) until the new version is approved."""
    siblings = list(MasterBatchRecord.objects.select_for_update().filter(product_code=mbr.product_code).order_by("pk"))
    # The new version gets its own effective date, on approval at the latest.
    content = {
        field.attname: copy.deepcopy(getattr(mbr, field.attname))
        for field in (MasterBatchRecord._meta.get_field(name) for name in MasterBatchRecord.content_fields)
        if field.name != "effective_date"
    }
    draft = MasterBatchRecord(
        **content,
        version=max(sibling.version for sibling in siblings) + 1,
        previous_version=mbr,
        author=act.actor,
        status=MBRStatus.DRAFT,
    )
    _save_new(draft, actor=act.actor, reason=f"New version of {_label(mbr)}")
    act.save = False
    act.result = draft


# --- entry points ------------------------------------------------------------------------------


def submit_mbr(mbr, *, actor):
    """draft → in_review: the content must be complete and valid."""
    return MBR_WORKFLOW.perform(mbr, "submit", actor=actor)


def return_mbr_to_draft(mbr, *, actor, reason):
    """in_review → draft, so that the author can rework it; the reviewer says why."""
    return MBR_WORKFLOW.perform(mbr, "return_to_draft", actor=actor, reason=reason)


def approve_mbr(mbr, *, actor, password, comment="", username=None):
    """in_review → approved, signed "approved" by someone other than the author."""
    return MBR_WORKFLOW.perform(mbr, "approve", actor=actor, password=password, comment=comment, username=username)


def _supersede_other_versions(mbr, *, actor):
    others = (
        MasterBatchRecord.objects.select_for_update()
        .filter(product_code=mbr.product_code, status=MBRStatus.APPROVED)
        .exclude(pk=mbr.pk)
        .order_by("pk")
    )
    for other in others:
        MBR_WORKFLOW.apply(other, "supersede")
        other.save(actor=actor, reason=f"Superseded by {_label(mbr)}")


def supersede_mbr(mbr, *, actor, reason=""):
    """approved → superseded by hand (e.g. the process moved to another product code)."""
    return MBR_WORKFLOW.perform(mbr, "supersede", actor=actor, reason=reason)


def obsolete_mbr(mbr, *, actor, reason, password, comment="", username=None):
    """approved|superseded → obsolete, signed "obsoleted": no batch may be made from it."""
    return MBR_WORKFLOW.perform(
        mbr, "obsolete", actor=actor, reason=reason, password=password, comment=comment, username=username
    )


def create_new_mbr_version(mbr, *, actor):
    """A draft copy of an approved MBR with the product's next version number."""
    return MBR_WORKFLOW.perform(mbr, "new_version", actor=actor)
