"""The functions batch execution calls: usability, taking equipment into use and releasing
it, including two batches racing for the same equipment on PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict, InvalidTransition
from core.testing import run_concurrently
from equipment import services
from equipment.models import Equipment


@pytest.mark.django_db
def test_calibrated_clean_available_equipment_has_no_problem(make_usable_equipment):
    assert services.usability_problems(make_usable_equipment()) == []


@pytest.mark.django_db
def test_equipment_never_calibrated_nor_cleaned_has_both_problems(make_equipment):
    equipment = make_equipment()
    problems = services.usability_problems(equipment)
    assert problems == [
        f"{equipment.equipment_id} has no valid calibration (none recorded, or the last one failed).",
        f"{equipment.equipment_id} is not clean.",
    ]


@pytest.mark.django_db
def test_calibration_due_today_is_still_valid_and_overdue_tomorrow(make_usable_equipment):
    equipment = make_usable_equipment(cleaning_validity_hours=24 * 365)
    due = equipment.calibration_due_date
    assert services.usability_problems(equipment, now=timezone.now() + timedelta(days=90)) == []
    problems = services.usability_problems(equipment, now=timezone.now() + timedelta(days=91))
    assert problems == [f"{equipment.equipment_id}: calibration was due on {due} and is overdue."]


@pytest.mark.django_db
def test_cleaning_expires_after_its_validity(make_usable_equipment):
    equipment = make_usable_equipment(cleaning_validity_hours=24)
    assert services.usability_problems(equipment, now=equipment.cleaned_at + timedelta(hours=24)) == []
    problems = services.usability_problems(equipment, now=equipment.cleaned_at + timedelta(hours=24, seconds=1))
    assert len(problems) == 1
    assert "cleaning expired" in problems[0]


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["maintenance", "out_of_service"])
def test_equipment_not_available_is_not_usable(status, records_admin, make_usable_equipment):
    equipment = services.set_equipment_status(make_usable_equipment(), actor=records_admin, status=status, reason="x")
    assert services.usability_problems(equipment) == [f"{equipment.equipment_id} is '{status}', not available."]


@pytest.mark.django_db
def test_mark_in_use_takes_usable_equipment_into_use(operator, make_usable_equipment):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B00001, step 3")
    equipment.refresh_from_db()
    assert equipment.status == "in_use"
    last = equipment.history.latest("history_id")
    assert (last.history_user, last.history_change_reason) == (operator, "Batch B00001, step 3")


@pytest.mark.django_db
def test_mark_in_use_refuses_listing_every_problem(operator, records_admin, make_equipment):
    equipment = services.set_equipment_status(make_equipment(), actor=records_admin, status="maintenance", reason="x")
    with pytest.raises(Conflict) as refused:
        services.mark_in_use(equipment, actor=operator, reason="Batch B1")
    problems = refused.value.extra["problems"]
    assert len(problems) == 3
    assert refused.value.extra["current_status"] == "maintenance"
    assert all(problem in refused.value.message for problem in problems)
    equipment.refresh_from_db()
    assert equipment.status == "maintenance"


@pytest.mark.django_db
def test_mark_in_use_refuses_equipment_already_in_use(operator, operator2, make_usable_equipment):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    with pytest.raises(Conflict) as refused:
        services.mark_in_use(equipment, actor=operator2, reason="Batch B2")
    assert refused.value.extra["problems"] == [f"{equipment.equipment_id} is 'in_use', not available."]


@pytest.mark.django_db
def test_mark_in_use_rechecks_the_locked_row_not_the_callers_copy(operator, records_admin, make_usable_equipment):
    stale = make_usable_equipment()
    services.set_equipment_status(
        Equipment.objects.get(pk=stale.pk), actor=records_admin, status="maintenance", reason="x"
    )
    assert stale.status == "available"  # the caller's copy is out of date
    with pytest.raises(Conflict):
        services.mark_in_use(stale, actor=operator, reason="Batch B1")


@pytest.mark.django_db
def test_release_from_use_makes_equipment_available_and_dirty(operator, make_usable_equipment):
    equipment = services.mark_in_use(make_usable_equipment(), actor=operator, reason="Batch B1")
    equipment = services.release_from_use(equipment, actor=operator, reason="Batch B1 done")
    equipment.refresh_from_db()
    assert (equipment.status, equipment.cleaning_status) == ("available", "dirty")
    assert services.usability_problems(equipment) == [f"{equipment.equipment_id} is not clean."]


@pytest.mark.django_db
def test_release_of_equipment_not_in_use_is_refused(operator, make_usable_equipment):
    equipment = make_usable_equipment()
    with pytest.raises(InvalidTransition) as refused:
        services.release_from_use(equipment, actor=operator, reason="x")
    assert refused.value.extra == {"current_status": "available", "action": "release_from_use"}
    equipment.refresh_from_db()
    assert equipment.cleaning_status == "clean"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_batches_taking_the_same_equipment_at_once_only_one_wins(operator, operator2, make_usable_equipment):
    equipment = make_usable_equipment()
    actors = [operator, operator2]

    def take(index):
        with transaction.atomic():
            return services.mark_in_use(
                Equipment.objects.get(pk=equipment.pk), actor=actors[index], reason=f"Batch {index}"
            )

    outcomes = run_concurrently(take, 2)
    winners = [result for result, error in outcomes if error is None]
    losers = [error for result, error in outcomes if error is not None]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], Conflict)
    assert losers[0].extra["problems"] == [f"{equipment.equipment_id} is 'in_use', not available."]
    equipment.refresh_from_db()
    assert equipment.status == "in_use"
    assert equipment.history.filter(status="in_use").count() == 1
