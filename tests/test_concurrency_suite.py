"""Issue 8: 32 clients at once through the API on PostgreSQL (real threads, real row locks):
no double effect, no lost write, no 5xx."""

from collections import Counter

import pytest
from django.contrib.auth.models import Group

from batch_records.models import BatchRecord
from batch_records.services.steps import complete_step, start_step
from batch_records.tests.review_helpers import releasable_batch
from conftest import client_for
from core.models import Signature
from core.testing import run_concurrently
from users.tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
THREADS = 32
API = "/api/batch_records"


def _clients(role, site, prefix):
    clients = []
    for index in range(THREADS):
        user = UserFactory(username=f"{prefix}{index}")
        user.groups.add(Group.objects.get(name=role))
        user.sites.add(site)
        clients.append(client_for(user))
    return clients


def _statuses(outcomes):
    errors = [error for _, error in outcomes if error is not None]
    assert errors == []
    codes = Counter(code for code, _ in outcomes)
    assert not [code for code in codes if code >= 500]
    return codes


def test_32_verifiers_on_one_step_verify_it_once(site, make_started_batch, operator):
    batch = make_started_batch()
    step = batch.steps.get(step_number=1)
    start_step(step, actor=operator)
    complete_step(step, actor=operator, actual_values={"blend_time": 10}, password=PASSWORD)
    clients = _clients("verifier", site, "v")

    def verify(index):
        return clients[index].post(f"{API}/batch-steps/{step.pk}/verify/", {"password": PASSWORD}).status_code

    codes = _statuses(run_concurrently(verify, THREADS))
    assert codes[200] == 1
    assert codes[409] == THREADS - 1
    assert Signature.objects.filter(object_id=step.pk, content_type__model="batchstep", meaning="verified").count() == 1


def test_32_approvers_releasing_one_batch_release_it_once(site, make_started_batch, operator, verifier, qa_reviewer):
    batch = releasable_batch(make_started_batch, operator, verifier, qa_reviewer)
    clients = _clients("qa_approver", site, "qa")

    def release(index):
        return clients[index].post(f"{API}/batch-records/{batch.pk}/release/", {"password": PASSWORD}).status_code

    codes = _statuses(run_concurrently(release, THREADS))
    assert codes[200] == 1
    assert codes[409] == THREADS - 1
    batch.refresh_from_db()
    assert batch.status == "released"
    released = Signature.objects.filter(object_id=batch.pk, content_type__model="batchrecord", meaning="released")
    assert released.count() == 1


def test_32_supervisors_creating_batches_get_distinct_gapless_ids(site, make_approved_mbr):
    mbr = make_approved_mbr()
    clients = _clients("verifier", site, "s")

    def create(index, number=None):
        body = {
            "mbr": mbr.pk,
            "batch_number": number or f"C-{index:03d}",
            "lot_number": f"L-{index:03d}",
            "quantity_planned": "10",
            "site": site.pk,
        }
        return clients[index].post(f"{API}/batch-records/", body).status_code

    codes = _statuses(run_concurrently(create, THREADS))
    assert codes[201] == THREADS
    ids = sorted(BatchRecord.objects.values_list("batch_id", flat=True))
    assert ids == [f"BR-{n:04d}" for n in range(1, THREADS + 1)]

    # The same batch number from 32 clients: one batch, 31 clear refusals, no 500.
    codes = _statuses(run_concurrently(lambda index: create(index, number="SAME-1"), THREADS))
    assert codes[201] == 1
    assert codes[400] == THREADS - 1
    assert BatchRecord.objects.filter(batch_number="SAME-1").count() == 1


def test_32_retries_with_one_idempotency_key_complete_a_step_once(make_started_batch, operator):
    batch = make_started_batch()
    step = batch.steps.get(step_number=1)
    start_step(step, actor=operator)
    clients = [client_for(operator) for _ in range(THREADS)]
    body = {"actual_values": {"blend_time": 10}, "password": PASSWORD}

    def retry(index):
        response = clients[index].post(
            f"{API}/batch-steps/{step.pk}/complete/", body, format="json", HTTP_IDEMPOTENCY_KEY="tablet-7-step-1"
        )
        return response.status_code

    codes = _statuses(run_concurrently(retry, THREADS))
    # The first completes; the others replay its response, or (still running) are told to retry.
    assert set(codes) <= {200, 409}
    assert codes[200] >= 1
    performed = Signature.objects.filter(object_id=step.pk, content_type__model="batchstep", meaning="performed")
    assert performed.count() == 1
    step.refresh_from_db()
    assert step.status == "completed"
