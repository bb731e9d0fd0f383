"""The benchmark dataset, made once per database and reused by later runs.

What is real (made through the business services, as `seed_demo` does):
- the demo site, users and processes; `EXECUTED` batches in every status, executed step by
  step with signatures, and a production plan of pending batches up to `TOTAL_BATCHES`;
- two released 200-step batches (BENCH-200-A, BENCH-200-10K), executed through the services;
- per run, the batches S3 and S4 act on.

What is benchmark volume, labelled as such in its change reason:
- BENCH-200-10K's children get audited saves through the model (a shift-log note written
  on its steps, each save with its history row) until the batch's audit trail holds
  `BIG_TRAIL_ROWS` rows: S6 measures the export of such a batch.
- the step history table is filled to `HISTORY_ROWS` rows with history rows of the planned
  batches' steps, inserted in bulk through the history model's manager
  (`bulk_history_create`, as a no-change save would record them: history type "~", the
  step's current values). Executing 2,000 batches through the services would take hours
  on two cores; S5 only needs the audit-trail query of one batch to run against a table
  of realistic size. The rows carry the reason "Benchmark volume (no change)".
"""

import time
from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from batch_records.choices import BatchStatus
from batch_records.models import BatchDeviation, BatchEquipment, BatchMaterial, BatchRecord, BatchStep
from batch_records.services import batches as batch_services
from batch_records.services import equipment_usage as usage_services
from demo.catalogue import PRODUCTS, Product
from demo.hashers import fast_signatures
from demo.people import demo_password_for
from demo.plant import BatchRun, DemoPlant
from equipment import services as equipment_services
from equipment.models import Equipment, RecordResult
from users.models import ProductLine, Site, User
from users.roles import OPERATOR, RECORDS_ADMIN, ROLES, VERIFIER

TOTAL_BATCHES = 2000
EXECUTED = 42  # executed in every status (the first seven one each); the rest is planned
BULK_STEPS = (20, 60)  # steps of the demo processes of the bulk
HISTORY_ROWS = 1_000_000  # rows of the step history table
BIG_TRAIL_ROWS = 10_000  # audit-trail rows of BENCH-200-10K and its children
VOLUME_REASON = "Benchmark volume (no change)"
BIG = "BENCH-200-10K"
NORMAL = "BENCH-200-A"

BENCH_200 = Product(
    "BEN-200",
    "Paracetamol 500 mg tablets (200-step process)",
    "Paracetamol 500 mg tablets — 200-step process with compression in-process controls",
    PRODUCTS[0].bill_of_materials,
)
# 32 material lines: S4 dispenses all of them at once on one batch.
BENCH_S4 = Product(
    "BEN-S4",
    "Multivitamin tablets (32 components)",
    "Multivitamin tablets — 32 components dispensed in parallel",
    tuple((f"VIT-{line:03d}", f"Component {line}", "0.000010", "kg") for line in range(1, 33)),
)
CONTENTION_EQUIPMENT = "Benchmark contention press"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def people():
    return {user.username: user for user in User.objects.filter(username__in=ROLES)}


def plant():
    site = Site.objects.get(code="PLANT-1")
    line = ProductLine.objects.get(code="OSD")
    return DemoPlant(
        site=site, product_line=line, personas=people(), password_for=demo_password_for, steps_min=20, steps_max=200
    )


def step_history_count():
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {BatchStep.history.model._meta.db_table}")
        return cursor.fetchone()[0]


def batch_trail_count(batch):
    total = 0
    for model in (BatchStep, BatchMaterial, BatchEquipment, BatchDeviation):
        total += model.history.filter(batch_id=batch.pk).count()
    return total + batch.history.count()


# --- the parts --------------------------------------------------------------------------


def ensure_bulk(total=TOTAL_BATCHES, executed=EXECUTED):
    existing = BatchRecord.objects.count()
    if existing >= total:
        log(f"bulk: {existing} batches already there")
        return
    executed = executed if existing == 0 else 0
    planned = total - existing - executed
    log(f"bulk: seed_demo --batches {executed} --planned {planned} (through the services)")
    call_command(
        "seed_demo",
        batches=executed,
        planned=planned,
        steps_min=BULK_STEPS[0],
        steps_max=BULK_STEPS[1],
        fast_passwords=True,
        quiet=False,
    )


def ensure_released_200(batch_number, *, trail_rows=None):
    batch = BatchRecord.objects.filter(batch_number=batch_number).first()
    if batch is not None and batch.status == BatchStatus.RELEASED:
        return batch
    if batch is not None:
        raise RuntimeError(f"{batch_number} exists but is '{batch.status}': drop the benchmark database and rerun.")
    log(f"{batch_number}: executing 200 steps through the services")
    factory = plant()
    with fast_signatures():
        mbr = factory.approved_mbr(BENCH_200, 200)
        batch = batch_services.create_batch(
            mbr,
            actor=factory.who(VERIFIER),
            batch_number=batch_number,
            lot_number=f"L{batch_number}",
            quantity_planned=Decimal("200000"),
            site=factory.site,
            production_line="OSD line 1",
        )
        # One excursion (a deviation to resolve) and one correction: a typical record.
        trouble = {"excursion": True, "skip": False, "correction": True, "material_issue": False, "yield_low": False}
        run = BatchRun(factory, batch, trouble)
        run.start()
        run.execute()
        if trail_rows:
            add_shift_notes(batch, factory.who(OPERATOR), trail_rows)
        run.finish()
        run.submit_for_review()
        run.work_on_deviations(settle=True)
        return run.release()


def add_shift_notes(batch, operator, trail_rows):
    """Audited saves through the model, each with its history row, until the batch and its
    children have `trail_rows` history rows (benchmark volume for S6)."""
    missing = trail_rows - batch_trail_count(batch)
    steps = list(batch.steps.order_by("step_number"))
    log(f"{batch.batch_number}: {missing} audited saves of shift-log notes on its steps")
    with transaction.atomic():
        for index in range(max(0, missing)):
            step = steps[index % len(steps)]
            step.deviation_notes = f"Shift log {index // len(steps) + 1}: line running normally, no event."
            step.save(actor=operator, reason=f"{VOLUME_REASON}: shift-log note")


def ensure_history_volume(target=HISTORY_ROWS):
    """Fill the step history table to `target` rows with "no change" rows of the planned
    batches' steps: one INSERT … SELECT on the server, each row a copy of the step as it
    stands (what a save without change records), with the reason VOLUME_REASON."""
    have = step_history_count()
    if have >= target:
        log(f"history: {have:,} step history rows already there")
        return
    missing = target - have
    history = BatchStep.history.model
    columns = [field.column for field in history.tracked_fields]
    planned = BatchStep.objects.filter(batch__status=BatchStatus.PENDING).exclude(
        batch__batch_number__startswith="BENCH"
    )
    steps = planned.count()
    if not steps:
        raise RuntimeError("No planned batch to attach the benchmark history volume to.")
    copies = -(-missing // steps)
    user = User.objects.get(username="operator")
    log(f"history: inserting {missing:,} step history rows ({copies} per planned step; benchmark volume)")
    step_ids = planned.values("pk").query
    sql = f"""
        INSERT INTO {history._meta.db_table}
            ({", ".join(columns)}, history_date, history_change_reason, history_type, history_user_id)
        SELECT {", ".join("s." + column for column in columns)},
               now() - make_interval(days => copy.n), %s, '~', %s
        FROM {BatchStep._meta.db_table} s
        CROSS JOIN generate_series(1, %s) AS copy(n)
        WHERE s.id IN ({{step_ids}})
        ORDER BY copy.n, s.id
        LIMIT %s
    """
    inner, inner_params = step_ids.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            sql.replace("{step_ids}", inner),
            [VOLUME_REASON, user.pk, copies, *inner_params, missing],
        )
    log(f"history: {step_history_count():,} step history rows")


def ensure_contention_equipment():
    factory = plant()
    item = Equipment.objects.filter(site=factory.site, name=CONTENTION_EQUIPMENT).first()
    if item is None:
        item = Equipment(name=CONTENTION_EQUIPMENT, equipment_type="Tablet press", site=factory.site)
        item.save(actor=factory.who(RECORDS_ADMIN), reason="Registered for the concurrency benchmark")
    if item.calibration_overdue():
        item = equipment_services.record_calibration(
            item,
            actor=factory.who(VERIFIER),
            result=RecordResult.PASS,
            next_due_date=timezone.localdate() + timedelta(days=365),
        )
    return item


def check_is_benchmark_database():
    """Refuse to add 2,000 batches to a database that holds other data (a DATABASE_URL left
    pointing at a development or production database)."""
    batches = BatchRecord.objects.count()
    seeded_by_us = BatchRecord.objects.filter(batch_number__in=[NORMAL, BIG]).exists()
    if batches and not seeded_by_us and BatchRecord.objects.exclude(batch_number__regex=r"^[A-Z]{3}[0-9]{3}-").exists():
        raise RuntimeError(
            f"This database already holds {batches} batches that the benchmark did not make: "
            "point DATABASE_URL at a database of its own (default ebr_bench)."
        )


def ensure_dataset(batches=TOTAL_BATCHES, executed=EXECUTED, history_rows=HISTORY_ROWS):
    started = time.monotonic()
    check_is_benchmark_database()
    ensure_bulk(batches, executed)
    ensure_released_200(NORMAL)
    ensure_released_200(BIG, trail_rows=BIG_TRAIL_ROWS)
    ensure_history_volume(history_rows)
    ensure_contention_equipment()
    # Fresh planner statistics, as autovacuum keeps them on a server in use: after a bulk
    # load, stale ones send the history queries through a scan of the whole table.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"dataset ready ({time.monotonic() - started:.0f} s)")


# --- per run: what S3 and S4 act on -------------------------------------------------------


def run_tag():
    return timezone.now().strftime("%y%m%d%H%M%S")


def started_batch(product, steps, batch_number):
    factory = plant()
    with fast_signatures():
        mbr = factory.approved_mbr(product, steps)
        batch = batch_services.create_batch(
            mbr,
            actor=factory.who(VERIFIER),
            batch_number=batch_number,
            lot_number=f"L{batch_number}",
            quantity_planned=Decimal("200000"),
            site=factory.site,
        )
        return batch_services.start_batch(batch, actor=factory.who(OPERATOR))


def contention_usages(count, tag):
    """`count` in-progress batches, each with a use of the contention equipment whose
    calibration and cleaning were verified: S4 starts them all at once."""
    factory = plant()
    item = ensure_contention_equipment()
    with fast_signatures():
        for usage in BatchEquipment.objects.filter(equipment=item, status="in_use"):
            usage_services.end_usage(usage, actor=factory.who(OPERATOR))
        item.refresh_from_db()
        if not item.cleaning_valid():
            equipment_services.record_cleaning(item, actor=factory.who(OPERATOR), result=RecordResult.PASS)
        usages = []
        for index in range(count):
            batch = batch_services.create_batch(
                factory.approved_mbr(PRODUCTS[0], BULK_STEPS[0]),
                actor=factory.who(VERIFIER),
                batch_number=f"BENCH-S4E-{tag}-{index:02d}",
                lot_number=f"LS4E{tag}{index:02d}",
                quantity_planned=Decimal("1000"),
                site=factory.site,
            )
            batch = batch_services.start_batch(batch, actor=factory.who(OPERATOR))
            usage = usage_services.add_batch_equipment(batch, actor=factory.who(OPERATOR), equipment=item)
            usage_services.verify_calibration(usage, actor=factory.who(VERIFIER))
            usages.append(usage_services.verify_cleaning(usage, actor=factory.who(VERIFIER)))
        return item, usages


def signer_password(role):
    return demo_password_for(people()[role])


VOLUME_BATCH_PREFIX = "BENCH-VOL-"


def ensure_batch_volume(total):
    """Grow the batch table to `total` rows for the list-size table: **benchmark volume**,
    one INSERT … SELECT copying a planned batch's row (pending, without steps or history
    rows; batch ID `BV-…`, batch number `BENCH-VOL-…`), dated before every other batch so
    that page 1 shows the same batches at every size. Making 100,000 batches through the
    services would take hours on two cores; the list only reads the batch rows."""
    have = BatchRecord.objects.count()
    if have >= total:
        return have
    template = (
        BatchRecord.objects.filter(status=BatchStatus.PENDING)
        .exclude(batch_number__startswith="BENCH")
        .order_by("pk")
        .first()
    )
    if template is None:
        raise RuntimeError("No planned batch to copy for the benchmark batch volume.")
    oldest = BatchRecord.objects.order_by("created_at").values_list("created_at", flat=True).first()
    start = BatchRecord.objects.filter(batch_number__startswith=VOLUME_BATCH_PREFIX).count()
    missing = total - have
    table = BatchRecord._meta.db_table
    replaced = {
        "batch_id": "'BV-' || lpad(n::text, 7, '0')",
        "batch_number": f"'{VOLUME_BATCH_PREFIX}' || n",
        "lot_number": "'LVOL' || n",
        "created_at": "%(oldest)s - make_interval(secs => n)",
        "updated_at": "%(oldest)s - make_interval(secs => n)",
    }
    columns = [field.column for field in BatchRecord._meta.concrete_fields if not field.primary_key]
    select = [replaced.get(column, f"b.{column}") for column in columns]
    sql = f"""
        INSERT INTO {table} ({", ".join(columns)})
        SELECT {", ".join(select)}
        FROM {table} b CROSS JOIN generate_series(%(first)s::int, %(last)s::int) AS volume(n)
        WHERE b.id = %(template)s
    """
    log(f"batches: inserting {missing:,} batch rows (benchmark volume) to reach {total:,}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {"oldest": oldest, "first": start + 1, "last": start + missing, "template": template.pk})
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return BatchRecord.objects.count()


def growth_batch(steps):
    """A started batch of a `steps`-step process (the detail growth table: 20/200/1,000)."""
    number = f"BENCH-G{steps}"
    existing = BatchRecord.objects.filter(batch_number=number).first()
    if existing is not None:
        return existing
    product = Product(
        f"BEN-G{steps}", f"Growth {steps}-step process", f"{steps}-step process", PRODUCTS[0].bill_of_materials
    )
    log(f"detail growth: a started {steps}-step batch")
    return started_batch(product, steps, number)
