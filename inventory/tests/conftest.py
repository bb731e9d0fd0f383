"""Inventory fixtures: materials, lots received and released through the services, and a
movable clock for expiry dates. The batch fixtures come from batch_records."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from batch_records.tests.conftest import (  # noqa: F401 - fixtures re-exported
    make_approved_mbr,
    make_batch,
    make_draft_mbr,
    make_started_batch,
)
from inventory import services
from inventory.models import Material
from users.tests.factories import PASSWORD


@pytest.fixture
def materials(db):
    """The materials of the batch_records factories' bill of materials."""
    return {
        "API-001": Material.objects.create(code="API-001", name="Paracetamol", unit_of_measure="kg"),
        "EXC-002": Material.objects.create(code="EXC-002", name="Lactose", unit_of_measure="kg"),
    }


@pytest.fixture
def receive(materials, records_admin, site):
    """receive(code, quantity, days_to_expiry=365, unit_price="1", site=site) -> a quarantined lot."""

    def make(code, quantity, days_to_expiry=365, unit_price="1", lot_site=None, supplier="Acme Pharma", **extra):
        return services.receive_lot(
            actor=records_admin,
            material=materials[code] if code in materials else Material.objects.get(code=code),
            site=lot_site or site,
            supplier=supplier,
            supplier_lot=extra.pop("supplier_lot", f"SUP-{code}-{quantity}"),
            expiry_date=timezone.localdate() + datetime.timedelta(days=days_to_expiry),
            quantity=Decimal(str(quantity)),
            unit_price=Decimal(str(unit_price)),
            **extra,
        )

    return make


@pytest.fixture
def stock(receive, qa_approver):
    """stock(code, quantity, ...) -> a lot received and released by QA (usable)."""

    def make(*args, **kwargs):
        return services.release_lot(receive(*args, **kwargs), actor=qa_approver, password=PASSWORD)

    return make


class Clock:
    """Moves the calendar (`timezone.localdate()`, what expiry is judged by) or the clock
    (`timezone.now()`, what steps are timed by) for the code under test."""

    def __init__(self, monkeypatch):
        self._monkeypatch = monkeypatch

    def days_ahead(self, days):
        day = timezone.localdate() + datetime.timedelta(days=days)
        self._monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: day)
        return day

    def set_now(self, moment):
        self._monkeypatch.setattr(timezone, "now", lambda: moment)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)
