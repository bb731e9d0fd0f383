from datetime import timedelta

import pytest
from django.utils import timezone

from equipment import services
from equipment.tests.factories import EquipmentFactory


@pytest.fixture
def make_equipment(site):
    def make(**fields):
        return EquipmentFactory(**{"site": site, **fields})

    return make


@pytest.fixture
def make_usable_equipment(make_equipment, verifier):
    """Equipment calibrated (due in 90 days) and cleaned now, through the services."""

    def make(**fields):
        equipment = make_equipment(**fields)
        services.record_calibration(
            equipment, actor=verifier, result="pass", next_due_date=timezone.localdate() + timedelta(days=90)
        )
        return services.record_cleaning(equipment, actor=verifier, result="pass")

    return make
