from celery import shared_task

from . import services


@shared_task(name="jobs.run_export_job")
def run_export_job(job_pk):
    """Make the export of job `job_pk` (see jobs.services.run_export)."""
    services.run_export(job_pk)
