"""Background exports: requested in a request's transaction, run by a worker.

`request_export` creates the job and hands it to the queue only once the transaction that
created it has committed (a rolled-back request leaves no job behind, and a worker never
looks for a job that is not there yet). `run_export` is what the worker runs: it may be
given the same job twice (the worker died while running it, and the broker gave the job
to another worker) — a finished job is left as it is, an interrupted one starts again.
"""

import hashlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from batch_records import export

from .models import ExportFormat, ExportJob, JobStatus

logger = logging.getLogger(__name__)

CONTENT_TYPES = {ExportFormat.JSON: "application/json", ExportFormat.PDF: "application/pdf"}


def request_export(batch, *, actor, format):
    """A queued export job for `batch`; the worker is told once this transaction commits."""
    job = ExportJob(batch=batch, format=format)
    job.save(actor=actor, reason=f"Export of {batch.batch_id} ({format}) requested")
    transaction.on_commit(lambda: enqueue(job.pk))
    return job


def enqueue(job_pk):
    # Celery is loaded by the processes that queue a job, not by every web process.
    from config.celery import app  # noqa: F401 — configures the app the task is sent with

    from .tasks import run_export_job

    run_export_job.delay(job_pk)


def _advance(job, progress, stage, **changes):
    """Record the job's progress in its own short transaction (readers see it at once)."""
    with transaction.atomic():
        ExportJob.objects.select_for_update().filter(pk=job.pk).first()
        job.progress, job.stage = progress, stage
        for name, value in changes.items():
            setattr(job, name, value)
        job.save(actor=job.created_by, reason=f"Export job: {stage}")
    return job


def run_export(job_pk):
    """Run the export job `job_pk` to the end (the worker's task)."""
    with transaction.atomic():
        # Only the job's row is locked (its requester and batch are read with it).
        job = ExportJob.objects.select_for_update(of=("self",)).select_related("batch", "created_by").get(pk=job_pk)
        if job.finished:
            logger.info("Export job %s already %s; nothing to do.", job.job_id, job.status)
            return job
        again = job.status == JobStatus.RUNNING  # its worker died mid-way: start again
        job.status, job.attempts, job.started_at = JobStatus.RUNNING, job.attempts + 1, timezone.now()
        job.progress, job.stage = 5, "Started again after an interrupted run" if again else "Started"
        job.save(actor=job.created_by, reason=f"Export job: {job.stage}")
    try:
        _advance(job, 10, "Reading the batch record")
        document = export.build_batch_export(job.batch, exported_by=job.created_by)
        if job.format == ExportFormat.PDF:
            _advance(job, 50, "Printing the PDF")
            content = export.render_batch_export_pdf(document)
        else:
            _advance(job, 50, "Writing the JSON document")
            content = JSONRenderer().render(document)
        _advance(job, 90, "Storing the file")
        filename = export.export_filename(job.batch.batch_id, job.format)
        stored = default_storage.save(f"exports/{job.job_id}/{filename}", ContentFile(content))
        return _advance(
            job,
            100,
            "Done",
            status=JobStatus.SUCCEEDED,
            finished_at=timezone.now(),
            file=stored,
            filename=filename,
            content_type=CONTENT_TYPES[job.format],
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
    except Exception:
        logger.exception("Export job %s failed.", job.job_id)
        _advance(
            job,
            job.progress,
            "Failed",
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error="The export could not be made; the error is in the server log. Request a new export.",
        )
        raise


def requeue_stalled(*, older_than):
    """Hand again to the queue the jobs still queued `older_than` after they were requested
    (their message was lost: the broker was down when the request committed). Jobs whose
    worker died are given back by the broker itself (late acknowledgement)."""
    cutoff = timezone.now() - older_than
    stalled = list(
        ExportJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=cutoff).values_list("pk", flat=True)
    )
    for pk in stalled:
        enqueue(pk)
    return len(stalled)
