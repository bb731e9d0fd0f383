"""Do the `.values()` plans (core.api.values) still earn their keep? In-process timing of the
two reads they serve, with the plans on and with them switched off (the instance path):

- a list page of 50 batches (`GET batch-records/?page_size=50`),
- the detail of the executed batch with the most steps (`GET batch-records/{id}/`).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ebr_plans .venv/bin/python benchmarks/plans_vs_instances.py

Seeds a small dataset through the services if the database has no batch (one executed
batch per process size, 200 steps the largest, and 60 planned batches). Each read is
repeated `--rounds` times after a warm-up; the median and the query count are printed.
Runs in the test client, one process: the numbers are the server's work without HTTP.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from batch_records.models import BatchRecord
    from core.api.values import ValuesRows
    from users.models import User

    call_command("migrate", verbosity=0)
    if not BatchRecord.objects.exists():
        call_command("seed_demo", batches=8, steps_min=20, steps_max=200, planned=60, quiet=True)
    user = User.objects.get(username="qa_approver")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    batch = max(BatchRecord.objects.exclude(status="pending"), key=lambda record: record.steps.count())
    reads = {
        "list page (50 batches)": "/api/batch_records/batch-records/?page_size=50",
        f"detail ({batch.steps.count()} steps)": f"/api/batch_records/batch-records/{batch.pk}/",
    }

    def measure(path):
        queries = []

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        # (An execute wrapper: the test client resets Django's query log at each request.)
        with connection.execute_wrapper(count):
            response = client.get(path)
        assert response.status_code == 200, response.status_code
        timings = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            client.get(path)
            timings.append(time.perf_counter() - start)
        return statistics.median(timings) * 1000, len(queries), response.content

    planned = ValuesRows.for_serializer
    results = {}
    for name, path in reads.items():
        with_plans = measure(path)
        ValuesRows.for_serializer = classmethod(lambda cls, serializer_class: None)
        try:
            without = measure(path)
        finally:
            ValuesRows.for_serializer = planned
        assert with_plans[2] == without[2], f"{name}: the two paths answer differently"
        results[name] = (with_plans, without)
    print(f"{'read':<26} {'values plans':>18} {'instances':>18} {'speed-up':>9}")
    for name, ((ms_plans, q_plans, _), (ms_inst, q_inst, _)) in results.items():
        print(
            f"{name:<26} {ms_plans:9.1f} ms {q_plans:2d} q {ms_inst:9.1f} ms {q_inst:2d} q {ms_inst / ms_plans:8.1f}×"
        )


if __name__ == "__main__":
    main()
