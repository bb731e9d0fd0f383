"""Two tablets acting on the same unit at the same moment (PostgreSQL row locks)."""

import pytest

from core.exceptions import Conflict
from core.testing import run_concurrently
from serials.models import SerialNumber
from serials.services import advance_serial, force_complete_serial, scrap_serial
from users.tests.factories import PASSWORD

from .conftest import STEP_VALUES

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_two_tablets_performing_the_same_step_one_wins(serial, operator, operator2):
    tablets = [operator, operator2]

    def perform(index):
        fresh = SerialNumber.objects.get(pk=serial.pk)
        return advance_serial(
            fresh, actor=tablets[index], actual_values=STEP_VALUES[1], step_number=1, password=PASSWORD
        )

    outcomes = run_concurrently(perform, 2)

    errors = [error for _, error in outcomes if error is not None]
    assert len(errors) == 1
    assert isinstance(errors[0], Conflict), errors[0]
    serial.refresh_from_db()
    assert serial.current_step_index == 1
    assert serial.step_statuses.get(step_index=0).signatures.count() == 1
    assert serial.step_statuses.get(step_index=1).status == "in_progress"


def test_scrap_and_force_complete_at_once_leave_one_terminal_state(serial, verifier, qa_approver):
    def act(index):
        fresh = SerialNumber.objects.get(pk=serial.pk)
        if index == 0:
            return scrap_serial(fresh, actor=verifier, reason="Cracked")
        return force_complete_serial(fresh, actor=qa_approver, password=PASSWORD)

    outcomes = run_concurrently(act, 2)

    assert len([error for _, error in outcomes if error is not None]) == 1
    serial.refresh_from_db()
    assert (serial.status, serial.force_completed) in {("scrapped", False), ("completed", True)}
