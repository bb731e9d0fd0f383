"""Service-level checks of the MBR approval rules the API tests build upon."""

import pytest

from batch_records.choices import MBRStatus
from core.models import SignatureMeaning

pytestmark = pytest.mark.django_db


def test_make_approved_mbr_signs_approved_and_sets_approval(make_approved_mbr, qa_approver):
    mbr = make_approved_mbr()

    assert mbr.status == MBRStatus.APPROVED
    assert mbr.approved_by == qa_approver
    assert mbr.approval_date is not None
    assert mbr.effective_date is not None
    [signature] = mbr.signatures.all()
    assert signature.meaning == SignatureMeaning.APPROVED
    assert signature.content_hash == mbr.content_hash()
