"""Fixtures that reach serialized batches and units through the services."""

from decimal import Decimal

import pytest

from batch_records.services.batches import start_batch
from batch_records.tests.conftest import make_approved_mbr, make_batch, make_draft_mbr, make_started_batch
from batch_records.tests.factories import manufacturing_instructions
from serials.models import SerialNumber
from users.tests.factories import PASSWORD

# The batch fixtures, shared with this app's tests.
__all__ = ["make_approved_mbr", "make_batch", "make_draft_mbr", "make_started_batch"]

# Values within spec for each step of the factory's instructions (see manufacturing_instructions).
STEP_VALUES = {
    1: {"blend_time": "10"},
    2: {"appearance_ok": True, "remarks": "Uniform granules"},
    3: {"hardness": "6"},
    4: {"temperature": "20"},
    5: {"temperature": "21"},
}


@pytest.fixture
def make_serialized_mbr(make_approved_mbr, qa_approver):
    """An approved serialized MBR; `optional_steps` are marked `"optional": true`.

    MBR content validation does not accept the `optional` key yet, so it is set on the
    approved record here, the way it will be stored once authors can write it.
    """

    def make(*, steps=3, optional_steps=()):
        mbr = make_approved_mbr(is_serialized=True, manufacturing_instructions=manufacturing_instructions(steps))
        if optional_steps:
            instructions = [
                {**instruction, "optional": instruction["step_number"] in optional_steps}
                for instruction in mbr.manufacturing_instructions
            ]
            mbr.manufacturing_instructions = instructions
            mbr.save(actor=qa_approver, reason="Test set-up: optional steps")
        return mbr

    return make


@pytest.fixture
def make_serialized_batch(make_serialized_mbr, make_batch, operator):
    """A started serialized batch with `units` serials (generated at start)."""

    def make(*, units=3, steps=3, optional_steps=(), **fields):
        mbr = make_serialized_mbr(steps=steps, optional_steps=optional_steps)
        batch = make_batch(mbr, quantity_planned=Decimal(units), **fields)
        return start_batch(batch, actor=operator)

    return make


@pytest.fixture
def serialized_batch(make_serialized_batch):
    return make_serialized_batch()


@pytest.fixture
def serial(serialized_batch):
    return SerialNumber.objects.filter(batch=serialized_batch).order_by("id").first()


def values_for(serial):
    """In-spec values for the unit's current step."""
    status = serial.step_statuses.select_related("step").get(step_index=serial.current_step_index)
    return STEP_VALUES[status.step.step_number]


@pytest.fixture
def advance():
    """Perform the unit's current step (or `times` steps) as `actor`, in spec."""
    from serials.services import advance_serial

    def run(serial, actor, times=1):
        for _ in range(times):
            serial = advance_serial(serial, actor=actor, actual_values=values_for(serial), password=PASSWORD)
        return serial

    return run
