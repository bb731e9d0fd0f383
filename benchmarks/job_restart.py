"""A background export survives a worker restart: proved with a real worker and RabbitMQ.

    DATABASE_URL=postgres://…/ebr_bench .venv/bin/python benchmarks/job_restart.py

On the benchmark database (made by `benchmarks/run.py --seed-only`): requests the PDF export
of BENCH-200-10K (10,000 audit-trail rows: several seconds to print), starts a Celery worker
on a queue of its own, kills the worker (SIGKILL, the whole process group) while the job is
printing, starts a new worker, and waits for the job: it must succeed on its second
attempt, with a stored file whose SHA-256 is the one in the job. Prints what happened.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUEUE = f"exports-restart-{uuid.uuid4().hex[:8]}"
os.environ["EBR_JOB_QUEUE"] = QUEUE
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CACHE_URL", "locmem://")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"


def start_worker():
    return subprocess.Popen(  # noqa: S603 — fixed arguments
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "worker",
            "--queues",
            QUEUE,
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        start_new_session=True,  # its own process group: killed as a whole, like a machine going down
    )


def wait_for(job, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if condition(job):
            return True
        time.sleep(0.2)
    return False


def main():
    import django

    django.setup()
    from django.db import transaction

    from batch_records.models import BatchRecord
    from benchmarks import dataset
    from jobs import services
    from jobs.models import JobStatus
    from users.models import User

    batch = BatchRecord.objects.get(batch_number=dataset.BIG)
    requester = User.objects.get(username="qa_reviewer")
    with transaction.atomic():
        job = services.request_export(batch, actor=requester, format="pdf")
    print(f"{job.job_id}: PDF export of {batch.batch_id} queued on {QUEUE}")
    worker = start_worker()
    try:
        if not wait_for(job, lambda j: j.status == JobStatus.RUNNING and j.progress >= 50, 300):
            raise SystemExit(f"The first worker did not reach the printing stage: {job.status} {job.progress}")
        print(f"first worker: {job.status}, {job.progress} % ({job.stage}), attempt {job.attempts}; killing it")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
        job.refresh_from_db()
        print(f"after the kill: {job.status}, {job.progress} %, file: {job.file.name or 'none'}")
        worker = start_worker()
        print("second worker started")
        if not wait_for(job, lambda j: j.finished, 600):
            raise SystemExit(f"The job did not finish after the restart: {job.status} {job.progress}")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(60)
    with job.file.open("rb") as stored:
        digest = hashlib.sha256(stored.read()).hexdigest()
    print(
        f"{job.job_id}: {job.status} after {job.attempts} attempts, {job.size_bytes:,} bytes, "
        f"SHA-256 {'matches' if digest == job.sha256 else 'DOES NOT MATCH'} the stored file"
    )
    if job.status != JobStatus.SUCCEEDED or job.attempts != 2 or digest != job.sha256:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
