"""Time the executed batch record export of a 200-step batch, as JSON and as PDF.

    DJANGO_SETTINGS_MODULE=config.settings .venv/bin/python benchmarks/export_200_steps.py

The batch is built through the services (an approved MBR with 200 instructions; every step
started, completed and signed, every tenth verified, one out of spec, one corrected) in a
throwaway database made by the settings' test database machinery: an in-memory database
on SQLite, `test_<name>` on PostgreSQL when DATABASE_URL is set. It is destroyed at the
end; the configured database itself is never written. Each export goes through the API
(routing, authentication, permissions) and is timed 5 times; the median is printed.
"""

import io
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CACHE_URL", "locmem://")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

STEPS = 200
RUNS = 5
PASSWORD = "Benchmark-Export-2026!"
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def instructions():
    rows = []
    for number in range(1, STEPS + 1):
        rows.append(
            {
                "step_number": number,
                "instruction_text": f"Step {number}: hold the blend at temperature and record it, with remarks.",
                "required_data_fields": [
                    {"name": "temperature", "type": "number", "unit": "°C"},
                    {"name": "remarks", "type": "text"},
                ],
                "specifications": {"temperature": {"min": 15, "max": 25}},
                "requires_verification": number % 10 == 0,
            }
        )
    return rows


def build_batch():
    from batch_records.services.batches import complete_batch, create_batch, start_batch
    from batch_records.services.materials import dispense_material, return_material
    from batch_records.services.mbr import approve_mbr, create_mbr, submit_mbr
    from batch_records.services.steps import complete_step, correct_step, start_step, verify_step
    from users.models import Site, User
    from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, VERIFIER

    site = Site(code="BENCH", name="Benchmark plant")
    site.save()

    def person(username, role):
        user = User.objects.create_user(
            username=username, password=PASSWORD, first_name=username.title(), last_name="Bench"
        )
        user.groups.add(Group.objects.get(name=role))
        user.sites.add(site)
        return user

    author, approver = person("author", AUTHOR), person("approver", QA_APPROVER)
    operator, verifier, reviewer = person("operator", OPERATOR), person("verifier", VERIFIER), person("qa", QA_REVIEWER)
    mbr = create_mbr(
        actor=author,
        title="Benchmark process, 200 steps",
        product_name="Benchmark tablets 100 mg",
        product_code="BENCH-200",
        bill_of_materials=[
            {"material_code": "API-1", "material_name": "Active", "quantity_per_unit": "0.1", "unit_of_measure": "kg"},
            {"material_code": "EXC-1", "material_name": "Filler", "quantity_per_unit": "0.4", "unit_of_measure": "kg"},
        ],
        manufacturing_instructions=instructions(),
        quality_specifications=[{"parameter": "assay", "min": 95, "max": 105, "unit": "%"}],
        effective_date=timezone.localdate(),
        yield_limit_min=Decimal("95"),
        yield_limit_max=Decimal("102"),
    )
    mbr = approve_mbr(submit_mbr(mbr, actor=author), actor=approver, password=PASSWORD)
    batch = create_batch(
        mbr,
        actor=verifier,
        batch_number="BENCH-0001",
        lot_number="LOT-BENCH-1",
        quantity_planned=Decimal("1000"),
        site=site,
    )
    batch = start_batch(batch, actor=operator)
    for step in batch.steps.order_by("step_number"):
        temperature = "30" if step.step_number == 50 else "20.5"
        values = {"temperature": temperature, "remarks": f"Recorded at step {step.step_number}, all as instructed."}
        step = complete_step(start_step(step, actor=operator), actor=operator, actual_values=values, password=PASSWORD)
        if step.step_number == 120:
            step = correct_step(
                step,
                actor=operator,
                actual_values={**values, "temperature": "21.5"},
                reason="Transcription error",
                password=PASSWORD,
            )
        if step.requires_verification:
            verify_step(step, actor=verifier, password=PASSWORD)
    for material in batch.materials.order_by("line_number"):
        material = dispense_material(
            material, actor=operator, lot_number="RM-BENCH", quantity=material.quantity_required, password=PASSWORD
        )
        return_material(material, actor=operator, reason="Benchmark: not used")
    batch = complete_batch(batch, actor=operator, quantity_produced=Decimal("985"), quantity_rejected=Decimal("5"))
    return batch, reviewer


def time_export(client, url, fmt):
    timings, queries, size = [], 0, 0
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, {"format": fmt})
            content = response.content
            timings.append(time.perf_counter() - start)
        assert response.status_code == 200, content[:500]
        queries, size = len(captured.captured_queries), len(content)
    return statistics.median(timings), min(timings), max(timings), queries, size


def main():
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"database: {connection.vendor} (throwaway {connection.settings_dict['NAME']})")
        started = time.perf_counter()
        with override_settings(PASSWORD_HASHERS=FAST_HASHER):
            batch, reviewer = build_batch()
        print(f"built {batch.batch_id}: {batch.steps.count()} steps in {time.perf_counter() - started:.1f} s")
        client = APIClient()
        client.force_authenticate(reviewer)
        url = f"/api/batch_records/batch-records/{batch.pk}/export/"
        document = client.get(url, {"format": "json"}).json()
        summary = document["summary"]
        print(
            f"document: {summary['steps']} steps, {summary['signatures']} signatures, "
            f"{summary['deviations']} deviations, {summary['audit_entries']} audit trail entries"
        )
        for fmt in ("json", "pdf"):
            median, fastest, slowest, queries, size = time_export(client, url, fmt)
            print(
                f"{fmt.upper():4} median {median * 1000:7.0f} ms over {RUNS} runs "
                f"(min {fastest * 1000:.0f}, max {slowest * 1000:.0f}); {queries} queries; {size / 1024:.0f} KiB"
            )
        pdf = client.get(url, {"format": "pdf"}).content
        try:
            from pypdf import PdfReader
        except ImportError:  # a runtime-only install has no pypdf
            return
        print(f"PDF pages: {len(PdfReader(io.BytesIO(pdf)).pages)}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
