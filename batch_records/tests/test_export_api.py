"""The export route: formats and their content types, the download name, any batch
status, site scoping, permissions, and a query count that does not grow with the batch."""

import io
import json

import pytest
from pypdf import PdfReader

from batch_records.export import reading
from batch_records.services.steps import complete_step, start_step, verify_step
from batch_records.tests.factories import manufacturing_instructions
from core.testing import run_concurrently
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"


def export_url(batch):
    return f"{BATCHES}{batch.pk}/export/"


def values_for(step):
    return {
        1: {"blend_time": "10"},
        2: {"appearance_ok": True, "remarks": "Uniform"},
        3: {"hardness": "6"},
    }.get(step.step_number, {"temperature": "20"})


@pytest.fixture
def make_executed_batch(make_approved_mbr, make_started_batch, operator, verifier):
    """A started batch whose `steps` steps are all performed and signed (and verified
    where the step asks for it)."""

    def make(steps):
        batch = make_started_batch(make_approved_mbr(manufacturing_instructions=manufacturing_instructions(steps)))
        for step in batch.steps.order_by("step_number"):
            step = complete_step(
                start_step(step, actor=operator), actor=operator, actual_values=values_for(step), password=PASSWORD
            )
            if step.requires_verification:
                verify_step(step, actor=verifier, password=PASSWORD)
        return batch

    return make


# --- formats ----------------------------------------------------------------------------


def test_json_format_answers_application_json(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    response = api_client_for(operator).get(export_url(batch), {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["header"]["batch_id"] == batch.batch_id


def test_json_is_the_default_format(make_started_batch, operator, api_client_for):
    response = api_client_for(operator).get(export_url(make_started_batch()))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_pdf_format_answers_a_pdf_download_named_after_the_batch(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    response = api_client_for(operator).get(export_url(batch), {"format": "pdf"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{batch.batch_id}-executed-batch-record.pdf"'
    assert response.content.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(response.content)).pages) >= 1


def test_pdf_can_be_asked_for_with_the_accept_header(make_started_batch, operator, api_client_for):
    response = api_client_for(operator).get(export_url(make_started_batch()), HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"


def test_unknown_format_is_a_400_naming_the_parameter(make_started_batch, operator, api_client_for):
    response = api_client_for(operator).get(export_url(make_started_batch()), {"format": "xml"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "format" in response.json()["errors"]


def test_a_pending_batch_exports_marked_not_released(make_batch, operator, api_client_for):
    batch = make_batch()
    client = api_client_for(operator)
    header = client.get(export_url(batch), {"format": "json"}).json()["header"]
    assert header["status"] == "pending"
    assert header["release_state"] == "NOT RELEASED — status pending"
    assert header["released"] is False
    pdf = client.get(export_url(batch), {"format": "pdf"})
    text = " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
    assert "NOT RELEASED — status pending" in text


def test_an_in_progress_batch_exports_marked_not_released(make_started_batch, operator, api_client_for):
    header = api_client_for(operator).get(export_url(make_started_batch())).json()["header"]
    assert header["release_state"] == "NOT RELEASED — status in_progress"


def test_export_writes_nothing(make_started_batch, operator, api_client_for):
    batch = make_started_batch()
    before = batch.history.count()
    api_client_for(operator).get(export_url(batch), {"format": "pdf"})
    assert batch.history.count() == before


# --- access -----------------------------------------------------------------------------


def test_export_of_another_sites_batch_is_404_in_both_formats(make_started_batch, other_site, api_client_for):
    batch = make_started_batch()
    outsider = UserFactory(username="operator_s2")
    outsider.groups.add(*batch.created_by.groups.all())
    outsider.sites.add(other_site)
    client = api_client_for(outsider)
    for format in ("json", "pdf"):
        response = client.get(export_url(batch), {"format": format})
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"


def test_export_needs_the_view_permission(make_started_batch, site, api_client_for):
    batch = make_started_batch()
    nobody = UserFactory(username="no_role")
    nobody.sites.add(site)
    for format in ("json", "pdf"):
        response = api_client_for(nobody).get(export_url(batch), {"format": format})
        assert response.status_code == 403
        assert response["Content-Type"] == "application/json"


def test_export_needs_authentication(make_started_batch, anonymous_client):
    response = anonymous_client.get(export_url(make_started_batch()), {"format": "pdf"})
    assert response.status_code == 401


def test_every_role_that_reads_batches_can_export(make_started_batch, records_admin, qa_approver, api_client_for):
    batch = make_started_batch()
    for user in (records_admin, qa_approver):
        assert api_client_for(user).get(export_url(batch), {"format": "json"}).status_code == 200


# --- query budget -----------------------------------------------------------------------


@pytest.mark.parametrize("format", ["json", "pdf"])
def test_export_query_count_does_not_grow_with_the_steps(
    format, make_executed_batch, qa_reviewer, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(qa_reviewer)
    small = make_executed_batch(3)
    with django_assert_max_num_queries(30) as few:
        assert client.get(export_url(small), {"format": format}).status_code == 200
    large = make_executed_batch(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(export_url(large), {"format": format})
    assert response.status_code == 200
    if format == "json":
        body = response.json()
        assert len(body["steps"]) == 30
        assert body["summary"]["signatures"] == 32  # 30 performed, steps 1 and 3 verified


# --- consistency ------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_export_reads_one_snapshot_while_a_step_is_completed(
    make_started_batch, operator, qa_reviewer, api_client_for, monkeypatch
):
    """A step completed (and signed) by another tablet while the export is being read
    does not appear half: the export shows the batch as it was when it started reading."""
    batch = make_started_batch()
    step = batch.steps.get(step_number=1)
    read_signatures = reading.signatures

    def complete_meanwhile(*args, **kwargs):
        [(_, error)] = run_concurrently(
            lambda index: complete_step(
                start_step(step, actor=operator), actor=operator, actual_values={"blend_time": "10"}, password=PASSWORD
            ),
            1,
        )
        assert error is None
        return read_signatures(*args, **kwargs)

    monkeypatch.setattr(reading, "signatures", complete_meanwhile)
    body = api_client_for(qa_reviewer).get(export_url(batch)).json()
    assert body["steps"][0]["status"] == "pending"
    assert body["signatures"] == []
    assert batch.steps.get(step_number=1).status == "completed"
