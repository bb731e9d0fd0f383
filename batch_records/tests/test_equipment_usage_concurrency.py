"""Two batches reaching for the same equipment at the same moment (PostgreSQL row locks)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from batch_records.models import BatchEquipment
from batch_records.services.equipment_usage import add_batch_equipment, start_usage, verify_calibration, verify_cleaning
from core.exceptions import Conflict
from core.testing import run_concurrently
from equipment import services as equipment_services
from equipment.models import Equipment
from equipment.tests.factories import EquipmentFactory

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_two_batches_starting_the_same_equipment_at_once_exactly_one_wins(
    make_started_batch, site, operator, operator2, verifier
):
    equipment = EquipmentFactory(site=site)
    equipment_services.record_calibration(
        equipment, actor=verifier, result="pass", next_due_date=timezone.localdate() + timedelta(days=30)
    )
    equipment = equipment_services.record_cleaning(equipment, actor=verifier, result="pass")
    usages = []
    for _ in range(2):
        usage = add_batch_equipment(make_started_batch(), actor=operator, equipment=equipment)
        usages.append(verify_cleaning(verify_calibration(usage, actor=verifier), actor=verifier))
    tablets = [operator, operator2]

    def start_from_tablet(index):
        return start_usage(BatchEquipment.objects.get(pk=usages[index].pk), actor=tablets[index])

    outcomes = run_concurrently(start_from_tablet, 2)
    winners = [result for result, error in outcomes if error is None]
    losers = [error for _, error in outcomes if error is not None]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], Conflict), losers[0]
    assert losers[0].extra["problems"] == [f"{equipment.equipment_id} is 'in_use', not available."]
    statuses = sorted(BatchEquipment.objects.filter(pk__in=[u.pk for u in usages]).values_list("status", flat=True))
    assert statuses == ["in_use", "not_started"]
    assert BatchEquipment.objects.get(status="in_use").pk == winners[0].pk
    equipment = Equipment.objects.get(pk=equipment.pk)
    assert equipment.status == "in_use"
    assert equipment.history.filter(status="in_use").count() == 1
