"""`manage.py seed_demo`: demo users and batches made through the services."""

import io

import pytest
from django.core.management import call_command
from django.db.models import F

from batch_records.choices import BatchStatus, MBRStatus
from batch_records.models import BatchRecord, BatchStep, MasterBatchRecord
from batch_records.services.review_rules import execution_roles_of
from core.models import Signature, SignatureMeaning
from demo.catalogue import manufacturing_instructions, mbr_sizes, status_plan
from demo.people import demo_password
from users.models import User

pytestmark = pytest.mark.django_db


# Small processes keep the test quick; the demo itself uses 20 to 200 steps.
SMALL = {"steps_min": 4, "steps_max": 12, "quiet": True}


@pytest.fixture
def seeded():
    call_command("seed_demo", batches=3, **SMALL)
    return list(BatchRecord.objects.order_by("pk"))


def test_seed_demo_makes_batches_in_several_statuses(seeded):
    assert [batch.status for batch in seeded] == [
        BatchStatus.RELEASED,
        BatchStatus.IN_PROGRESS,
        BatchStatus.UNDER_REVIEW,
    ]
    approved = MasterBatchRecord.objects.filter(status=MBRStatus.APPROVED)
    assert approved.count() == 4
    assert sorted(len(mbr.manufacturing_instructions) for mbr in approved) == [4, 6, 8, 12]


def test_seed_demo_batches_carry_signatures_given_by_the_right_people(seeded):
    released, in_progress, _ = seeded
    meanings = set(Signature.objects.values_list("meaning", flat=True))
    assert {SignatureMeaning.APPROVED, SignatureMeaning.PERFORMED, SignatureMeaning.VERIFIED} <= meanings
    assert {SignatureMeaning.DISPENSED, SignatureMeaning.RELEASED, SignatureMeaning.REVIEWED} <= meanings
    assert released.signatures.get(meaning=SignatureMeaning.RELEASED).signer.username == "qa_approver"
    # Separation of duties: the releaser had no hand in the execution, no one verified
    # their own step.
    assert execution_roles_of(released, User.objects.get(username="qa_approver")) == []
    verified = BatchStep.objects.filter(verifier__isnull=False)
    assert verified.exists()
    assert not verified.filter(verifier=F("operator")).exists()
    assert in_progress.steps.filter(status="completed").exists()
    assert in_progress.steps.filter(status="pending").exists()


def test_seed_demo_leaves_an_audit_trail(seeded):
    released = seeded[0]
    assert released.history.count() >= 4
    reasons = set(released.history.values_list("history_change_reason", flat=True))
    assert "Production started" in reasons
    step = released.steps.order_by("step_number").first()
    assert step.history.filter(history_user__username="operator").exists()


def test_seed_demo_runs_twice_with_new_batch_numbers(seeded):
    call_command("seed_demo", batches=2, **SMALL)
    numbers = list(BatchRecord.objects.values_list("batch_number", flat=True))
    assert len(numbers) == 5
    assert len(set(numbers)) == 5


def test_seed_demo_users_keep_their_printed_passwords(seeded):
    for username in ("operator", "qa_approver"):
        assert User.objects.get(username=username).check_password(demo_password(username))


def test_status_plan_covers_every_status_from_nine_batches():
    assert set(status_plan(9)) == set(BatchStatus.values)
    assert status_plan(2) == [BatchStatus.RELEASED, BatchStatus.IN_PROGRESS]
    assert len(status_plan(100)) == 100


def test_demo_processes_have_the_requested_number_of_steps():
    assert mbr_sizes(4, 20, 200) == [20, 43, 93, 200]
    for steps in (1, 5, 18, 20, 200):
        instructions = manufacturing_instructions(steps)
        assert [step["step_number"] for step in instructions] == list(range(1, steps + 1))


def test_seed_demo_once_adds_no_batches_when_the_demo_site_has_some(seeded):
    out = io.StringIO()
    call_command("seed_demo", batches=2, once=True, steps_min=4, steps_max=12, stdout=out)
    assert BatchRecord.objects.count() == 3
    printed = out.getvalue()
    assert "already has 3 batches: none added" in printed
    # The users and their passwords are printed again.
    assert f"operator       {demo_password('operator')}" in printed


def test_seed_demo_once_seeds_an_empty_demo_site():
    out = io.StringIO()
    call_command("seed_demo", batches=2, once=True, steps_min=4, steps_max=12, stdout=out)
    assert BatchRecord.objects.count() == 2
    assert "2 demo batches created" in out.getvalue()
