"""Service-level checks of the MBR approval rules the API tests build upon."""

import pytest

from batch_records.choices import MBRStatus
from batch_records.models import MasterBatchRecord
from core.models import SignatureMeaning
from core.testing import run_concurrently

URL = "/api/batch_records/master-batch-records/"


@pytest.mark.django_db
def test_make_approved_mbr_signs_approved_and_sets_approval(make_approved_mbr, qa_approver):
    mbr = make_approved_mbr()

    assert mbr.status == MBRStatus.APPROVED
    assert mbr.approved_by == qa_approver
    assert mbr.approval_date is not None
    assert mbr.effective_date is not None
    [signature] = mbr.signatures.all()
    assert signature.meaning == SignatureMeaning.APPROVED
    assert signature.is_valid_for(mbr.content_hash())


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_of_one_new_product_give_one_draft_and_400s(author):
    from conftest import client_for

    clients = [client_for(author) for _ in range(6)]
    body = {"title": "Race", "product_name": "Race", "product_code": "RACE-1"}

    outcomes = run_concurrently(lambda index: clients[index].post(URL, body).status_code, 6)

    codes = sorted(code for code, _ in outcomes)
    assert codes == [201, 400, 400, 400, 400, 400]
    assert MasterBatchRecord.objects.filter(product_code="RACE-1").count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_new_version_requests_give_one_draft(make_approved_mbr, author):
    from conftest import client_for

    approved = make_approved_mbr()
    clients = [client_for(author) for _ in range(6)]

    outcomes = run_concurrently(lambda index: clients[index].post(f"{URL}{approved.pk}/new_version/").status_code, 6)

    codes = sorted(code for code, _ in outcomes)
    assert codes == [201, 409, 409, 409, 409, 409]
    versions = MasterBatchRecord.objects.filter(product_code=approved.product_code).values_list("version", flat=True)
    assert sorted(versions) == [1, 2]
