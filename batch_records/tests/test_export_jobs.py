"""Background exports (jobs app): `POST batch-records/{id}/export/` answers 202 with the
job's URL; the job shows status and progress; the finished file is kept, hashed and
downloadable; a job given again after its worker died is run again, a finished one is not."""

import hashlib
import io
import json

import pytest
from pypdf import PdfReader

from config.celery import app as celery_app
from jobs import services
from jobs.models import ExportJob, JobStatus
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"
JOBS = "/api/jobs/exports/"


def start(client, batch, body=None, capture=None):
    with capture(execute=True):
        return client.post(f"{BATCHES}{batch.pk}/export/", body or {}, format="json")


def test_a_pdf_export_job_runs_to_the_end_and_its_file_is_kept_and_hashed(
    make_started_batch, qa_reviewer, api_client_for, django_capture_on_commit_callbacks
):
    batch = make_started_batch()
    client = api_client_for(qa_reviewer)
    response = start(client, batch, {"format": "pdf"}, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == JobStatus.QUEUED
    assert body["progress"] == 0
    assert body["batch_id"] == batch.batch_id
    assert body["requested_by"] == "qa_reviewer"
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"{JOBS}{body['id']}/")

    job = client.get(body["url"]).json()
    assert job["status"] == JobStatus.SUCCEEDED
    assert job["progress"] == 100
    assert job["attempts"] == 1
    assert job["filename"] == f"{batch.batch_id}-executed-batch-record.pdf"
    assert len(job["sha256"]) == 64

    download = client.get(job["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert f'filename="{job["filename"]}"' in download["Content-Disposition"]
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == job["sha256"]
    assert job["size_bytes"] == len(content)
    assert batch.batch_id in PdfReader(io.BytesIO(content)).pages[0].extract_text()
    # Downloaded again: the same kept file, not a new export.
    again = b"".join(client.get(job["download_url"]).streaming_content)
    assert again == content


def test_a_json_export_job_holds_the_export_document(
    make_started_batch, qa_reviewer, api_client_for, django_capture_on_commit_callbacks
):
    batch = make_started_batch()
    client = api_client_for(qa_reviewer)
    body = start(client, batch, None, django_capture_on_commit_callbacks).json()
    assert body["format"] == "json"
    job = client.get(body["url"]).json()
    content = b"".join(client.get(job["download_url"]).streaming_content)
    document = json.loads(content)
    assert document["header"]["batch_id"] == batch.batch_id
    assert hashlib.sha256(content).hexdigest() == job["sha256"]


def test_the_job_records_its_progress_in_its_audit_trail(
    make_started_batch, qa_reviewer, api_client_for, django_capture_on_commit_callbacks
):
    batch = make_started_batch()
    body = start(api_client_for(qa_reviewer), batch, {"format": "json"}, django_capture_on_commit_callbacks).json()
    history = ExportJob.objects.get(pk=body["id"]).history.order_by("history_id")
    assert [row.progress for row in history] == [0, 5, 10, 50, 90, 100]
    assert {row.history_user for row in history} == {qa_reviewer}


def test_the_get_export_still_answers_at_once(make_started_batch, qa_reviewer, api_client_for):
    batch = make_started_batch()
    response = api_client_for(qa_reviewer).get(f"{BATCHES}{batch.pk}/export/")
    assert response.status_code == 200
    assert response.json()["header"]["batch_id"] == batch.batch_id
    assert not ExportJob.objects.exists()


def test_an_unknown_format_or_field_is_a_400_and_makes_no_job(
    make_started_batch, qa_reviewer, api_client_for, django_capture_on_commit_callbacks
):
    batch = make_started_batch()
    client = api_client_for(qa_reviewer)
    response = start(client, batch, {"format": "docx"}, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "format" in response.json()["errors"]
    response = start(client, batch, {"format": "pdf", "priority": "high"}, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert not ExportJob.objects.exists()


def test_another_sites_batch_and_jobs_are_not_found(
    make_started_batch, qa_reviewer, other_site, api_client_for, django_capture_on_commit_callbacks
):
    batch = make_started_batch()
    body = start(api_client_for(qa_reviewer), batch, {"format": "json"}, django_capture_on_commit_callbacks).json()
    stranger = UserFactory(username="stranger")
    stranger.groups.set(qa_reviewer.groups.all())
    stranger.sites.set([other_site])
    client = api_client_for(stranger)
    assert client.post(f"{BATCHES}{batch.pk}/export/", {}, format="json").status_code == 404
    assert client.get(body["url"]).status_code == 404
    assert client.get(f"{body['url']}download/").status_code == 404
    assert client.get(JOBS).json()["results"] == []


def test_without_the_right_to_read_batches_no_job_is_made(make_started_batch, api_client_for, site):
    batch = make_started_batch()
    nobody = UserFactory(username="nobody")
    nobody.sites.set([site])
    client = api_client_for(nobody)
    assert client.post(f"{BATCHES}{batch.pk}/export/", {}, format="json").status_code in (403, 404)
    assert client.get(JOBS).status_code == 403
    assert not ExportJob.objects.exists()


def test_a_job_not_finished_cannot_be_downloaded(make_started_batch, qa_reviewer, api_client_for):
    batch = make_started_batch()
    job = services.request_export(batch, actor=qa_reviewer, format="pdf")  # its commit never comes here
    response = api_client_for(qa_reviewer).get(f"{JOBS}{job.pk}/download/")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


def test_a_job_whose_worker_died_runs_again_and_a_finished_one_does_not(make_started_batch, qa_reviewer):
    batch = make_started_batch()
    job = services.request_export(batch, actor=qa_reviewer, format="json")
    # The first worker took it and died mid-way: the broker gives it to another worker.
    job.status, job.attempts, job.progress = JobStatus.RUNNING, 1, 50
    job.save(actor=qa_reviewer, reason="Worker died (test)")
    services.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    finished = (job.sha256, job.file.name, job.finished_at)
    # The same message delivered once more (acknowledged late): nothing is done again.
    services.run_export(job.pk)
    job.refresh_from_db()
    assert (job.sha256, job.file.name, job.finished_at, job.attempts) == (*finished, 2)


def test_a_failing_export_marks_the_job_failed(make_started_batch, qa_reviewer, monkeypatch):
    batch = make_started_batch()
    job = services.request_export(batch, actor=qa_reviewer, format="json")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.export, "build_batch_export", broken)
    with pytest.raises(RuntimeError):
        services.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error
    assert "disk full" not in job.error  # details stay in the server log


def test_the_queue_gives_a_job_back_when_its_worker_dies():
    # Acknowledged only when done, and rejected back to the broker if the worker is lost.
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.worker_prefetch_multiplier == 1
