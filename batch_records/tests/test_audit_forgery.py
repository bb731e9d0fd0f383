"""The forgery of a released batch record (SPEC §5), on PostgreSQL.

An attacker holding the owner role's credentials switches the append-only trigger off,
rewrites a step's recorded value in the record and in its history, recomputes the
signature's SHA-256 (the algorithm is in the source) and switches the trigger back on.
verify_audit, the review, the release gate, the export and the verify route all tell. The
same attempt with the server's runtime role is refused by the database. Concurrent writers
on one batch leave an unbroken chain.
"""

import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from batch_records.models import BatchRecord, BatchStep
from batch_records.services.review import release_batch
from batch_records.services.review_rules import AUDIT_TRAIL_BROKEN
from batch_records.tests.review_helpers import BATCHES, STEPS, releasable_batch
from core.audit import TRIGGER_PREFIX
from core.chain import aggregate_key
from core.exceptions import Conflict
from core.models import Signature
from core.testing import acting_as_runtime_role, open_owner_connection, run_concurrently
from core.verification import verify_aggregate
from users.tests.factories import PASSWORD

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

STEP_TABLE = BatchStep._meta.db_table
STEP_HISTORY = BatchStep.history.model._meta.db_table
SIGNATURES = Signature._meta.db_table
FORGED = {"blend_time": 99}


def forge_step_value(step, forged):
    """The attack, through the owner's own connection, committed."""
    step = BatchStep.objects.get(pk=step.pk)
    original = step.actual_values
    step.actual_values = forged
    digest = step.content_hash()  # plain SHA-256 of the forged content, as the source computes it
    content_type = ContentType.objects.get_for_model(BatchStep)
    owner = open_owner_connection()
    try:
        with owner.cursor() as cursor:
            cursor.execute("BEGIN")
            for table in (STEP_HISTORY, SIGNATURES):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGER_PREFIX}_row")
            cursor.execute(f"UPDATE {STEP_TABLE} SET actual_values = %s WHERE id = %s", [json.dumps(forged), step.pk])
            cursor.execute(
                f"UPDATE {STEP_HISTORY} SET actual_values = %s WHERE id = %s AND actual_values = %s::jsonb",
                [json.dumps(forged), step.pk, json.dumps(original)],
            )
            cursor.execute(
                f"UPDATE {SIGNATURES} SET content_hash = %s, hash_key_id = '' "
                "WHERE content_type_id = %s AND object_id = %s",
                [digest, content_type.pk, step.pk],
            )
            for table in (STEP_HISTORY, SIGNATURES):
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {TRIGGER_PREFIX}_row")
            cursor.execute("COMMIT")
    finally:
        owner.close()


@pytest.fixture
def released_batch(make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    batch = releasable_batch(make_started_batch, operator, verifier, qa_reviewer)
    return release_batch(batch, actor=qa_approver, password=PASSWORD)


def _first_step(batch):
    return BatchStep.objects.get(batch_id=batch.pk, step_number=1)


def test_an_untouched_released_batch_verifies(released_batch, qa_reviewer, api_client_for):
    assert verify_aggregate(aggregate_key(BatchRecord, released_batch.pk)).intact
    call_command("verify_audit")
    body = api_client_for(qa_reviewer).get(f"{BATCHES}{released_batch.pk}/verify/").json()
    assert body["intact"] is True
    assert body["head"]["seq"] == body["links"] > 10


def test_forgery_by_the_owner_is_detected_everywhere(released_batch, qa_reviewer, api_client_for, capsys):
    step = _first_step(released_batch)
    forge_step_value(step, FORGED)
    aggregate = aggregate_key(BatchRecord, released_batch.pk)

    with pytest.raises(CommandError) as error:
        call_command("verify_audit")
    assert error.value.returncode == 1
    out = capsys.readouterr().out
    assert f"BROKEN {aggregate}: link" in out
    assert f"({STEP_HISTORY.replace('batch_records_', 'batch_records.')} row" in out

    client = api_client_for(qa_reviewer)
    # The recomputed unkeyed SHA-256 is not accepted: the signature shows invalid.
    signatures = client.get(f"{STEPS}{step.pk}/").json()["signatures"]
    assert [signature["valid"] for signature in signatures if signature["meaning"] == "performed"] == [False]
    # The review lists the broken chain.
    review = client.get(f"{BATCHES}{released_batch.pk}/review/").json()
    assert review["exceptions"][0]["kind"] == AUDIT_TRAIL_BROKEN
    assert review["review_by_exception"] is False
    # The verify route names the first broken link.
    verified = client.get(f"{BATCHES}{released_batch.pk}/verify/").json()
    assert verified["intact"] is False
    assert verified["first_break"]["table"] == "batch_records.historicalbatchstep"
    # The export states it.
    exported = client.get(f"{BATCHES}{released_batch.pk}/export/", {"format": "json"}).json()
    assert exported["audit_verification"]["intact"] is False
    assert exported["audit_verification"]["aggregate"] == aggregate


def test_forgery_blocks_release(make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    batch = releasable_batch(make_started_batch, operator, verifier, qa_reviewer)
    forge_step_value(_first_step(batch), FORGED)
    with pytest.raises(Conflict) as refused:
        release_batch(BatchRecord.objects.get(pk=batch.pk), actor=qa_approver, password=PASSWORD)
    assert AUDIT_TRAIL_BROKEN in [item["kind"] for item in refused.value.extra["unmet_conditions"]]
    assert BatchRecord.objects.get(pk=batch.pk).status == "under_review"


def test_the_same_attempt_as_the_runtime_role_is_refused(released_batch):
    step = _first_step(released_batch)
    history_id = step.history.earliest("history_id").history_id
    attempts = [
        f"ALTER TABLE {STEP_HISTORY} DISABLE TRIGGER {TRIGGER_PREFIX}_row",
        f"ALTER TABLE {SIGNATURES} DISABLE TRIGGER {TRIGGER_PREFIX}_row",
        f"UPDATE {STEP_HISTORY} SET actual_values = '{json.dumps(FORGED)}' WHERE history_id = {history_id}",
        f"UPDATE {SIGNATURES} SET content_hash = 'forged' WHERE object_id = {step.pk}",
        f"DROP TABLE {STEP_HISTORY}",
    ]
    with transaction.atomic(), acting_as_runtime_role():
        for sql in attempts:
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
    assert verify_aggregate(aggregate_key(BatchRecord, released_batch.pk)).intact


def test_concurrent_writers_on_one_batch_leave_an_unbroken_chain(make_started_batch, operator):
    batch = make_started_batch()
    aggregate = aggregate_key(BatchRecord, batch.pk)
    before = verify_aggregate(aggregate).links
    steps = list(batch.steps.order_by("step_number").values_list("pk", flat=True))
    writes_each = 5

    def write(index):
        for number in range(writes_each):
            with transaction.atomic():
                step = BatchStep.objects.get(pk=steps[index % len(steps)])
                step.save(actor=operator, reason=f"Tablet {index}, note {number}")

    outcomes = run_concurrently(write, 8)
    assert [error for _, error in outcomes] == [None] * 8
    report = verify_aggregate(aggregate)
    assert report.intact, report.breaks
    assert report.links == before + 8 * writes_each
