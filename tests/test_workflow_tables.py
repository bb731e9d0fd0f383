"""Every transition of every workflow table, run through `Workflow.perform` (issue 17):

- a transition that requires a reason is refused without one (400 naming `reason`);
- performed, it signs with the declared meaning (or signs nothing) and leaves the
  declared target status;
- refused, it changes nothing: the row and its history stay as they were.

Each record is put in the transition's first source state with what its guards need
(set directly: this is test arrangement, not a write path under test).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.utils import timezone

from batch_records.choices import MaterialStatus, StepStatus
from batch_records.models import BatchDeviation, BatchEquipment
from batch_records.tests.factories import MasterBatchRecordFactory
from batch_records.workflows import (
    BATCH_DEVIATION_WORKFLOW,
    BATCH_WORKFLOW,
    EQUIPMENT_USAGE_WORKFLOW,
    MATERIAL_WORKFLOW,
    MBR_WORKFLOW,
    STEP_WORKFLOW,
)
from capa.tests.factories import CAPAFactory
from capa.workflows import CAPA_WORKFLOW
from core.exceptions import DomainError
from core.models import Signature
from deviations.tests.factories import DeviationFactory
from deviations.workflows import DEVIATION_WORKFLOW
from documents.tests.factories import DocumentFactory
from documents.workflows import DOCUMENT_WORKFLOW
from equipment.tests.factories import EquipmentFactory
from equipment.workflows import EQUIPMENT_WORKFLOW
from users.tests.factories import PASSWORD, UserFactory

TABLES = {
    "document": DOCUMENT_WORKFLOW,
    "deviation": DEVIATION_WORKFLOW,
    "capa": CAPA_WORKFLOW,
    "equipment": EQUIPMENT_WORKFLOW,
    "mbr": MBR_WORKFLOW,
    "batch": BATCH_WORKFLOW,
    "step": STEP_WORKFLOW,
    "material": MATERIAL_WORKFLOW,
    "equipment_usage": EQUIPMENT_USAGE_WORKFLOW,
    "batch_deviation": BATCH_DEVIATION_WORKFLOW,
}
CASES = [(table, transition.action) for table, workflow in TABLES.items() for transition in workflow]


def _set(record, **fields):
    for name, value in fields.items():
        setattr(record, name, value)
    record.save(actor=None, reason="test arrangement")
    return type(record).objects.get(pk=record.pk)


def _inputs(table, action, record):
    """Valid input for the action's work."""
    today = timezone.localdate()
    return {
        ("equipment", "record_calibration"): {"result": "pass", "next_due_date": today + timedelta(days=30)},
        ("equipment", "record_cleaning"): {"result": "pass"},
        ("equipment", "set_status"): {"status": "out_of_service"},
        ("batch", "complete"): {"quantity_produced": Decimal("100"), "quantity_rejected": Decimal("0")},
        ("step", "complete"): {"actual_values": {"blend_time": 10}},
        ("step", "record"): {"actual_values": {"blend_time": 10}},
        ("step", "correct"): {"actual_values": {"blend_time": 11}},
        ("material", "dispense"): {"quantity": getattr(record, "quantity_required", None), "lot_number": "LOT-1"},
        ("material", "consume"): {"quantity_used": getattr(record, "quantity_dispensed", None)},
        ("batch_deviation", "resolve"): {"root_cause": "Probe drift."},
    }.get((table, action), {})


@pytest.fixture
def arrange(site, operator, make_started_batch, make_batch):
    other = UserFactory(username="someone_else")

    def make(table, transition):
        source = transition.sources[0]
        if table == "document":
            return _set(DocumentFactory(), status=source)
        if table == "deviation":
            return _set(DeviationFactory(site=site), status=source, root_cause="Drift", conclusion="Recalibrated")
        if table == "capa":
            capa = CAPAFactory(site=site, owner=operator)
            return _set(capa, status=source, effectiveness_result="No recurrence in 3 months")
        if table == "equipment":
            return _set(EquipmentFactory(site=site), status=source)
        if table == "mbr":
            return _set(MasterBatchRecordFactory(author=other), status=source)
        if table == "batch":
            batch = make_batch()
            if transition.action == "complete":
                for step in batch.steps.all():
                    _set(step, status=StepStatus.SKIPPED)
                for material in batch.materials.all():
                    _set(material, status=MaterialStatus.RETURNED)
            return _set(batch, status=source)
        batch = make_started_batch()
        if table == "step":
            step = batch.steps.get(step_number=1)
            fields = {"status": source}
            if source != StepStatus.PENDING:
                fields.update(actual_values={"blend_time": 10}, operator=other, requires_verification=True)
            return _set(step, **fields)
        if table == "material":
            material = batch.materials.order_by("line_number").first()
            return _set(
                material,
                status=source,
                lot_number="LOT-1",
                quantity_dispensed=material.quantity_required,
                dispensed_by=other,
            )
        if table == "equipment_usage":
            usage = BatchEquipment(batch=batch, equipment_name="Hand scale")
            usage.save(actor=operator, reason="test arrangement")
            return _set(usage, status=source, calibration_verified=True, cleaning_verified=True)
        deviation = BatchDeviation(batch=batch, deviation_type="process_deviation", description="Spill")
        deviation.save(actor=operator, reason="test arrangement")
        return _set(deviation, status=source)

    return make


def _snapshot(record):
    fresh = type(record).objects.get(pk=record.pk)
    return model_to_dict(fresh), fresh.history.count(), Signature.objects.filter(object_id=record.pk).count()


@pytest.mark.parametrize(("table", "action"), CASES, ids=[f"{table}-{action}" for table, action in CASES])
def test_transition_runs_as_declared(table, action, arrange, db):
    workflow = TABLES[table]
    transition = workflow[action]
    actor = UserFactory(username="qa_super", is_superuser=True)
    record = arrange(table, transition)
    data = _inputs(table, action, record)
    before = _snapshot(record)

    refused = workflow.refusal(record, action, actor)
    if refused is not None:
        # A guard refuses in this arrangement (e.g. the release conditions): the refusal is
        # what perform raises, and it changes nothing.
        with pytest.raises(DomainError) as error:
            workflow.perform(record, action, actor=actor, password=PASSWORD, reason="Because", **data)
        assert error.value.message == refused.message
        assert _snapshot(record) == before
        return

    if transition.reason_required:
        with pytest.raises(ValidationError) as error:
            workflow.perform(record, action, actor=actor, password=PASSWORD, **data)
        assert "reason" in error.value.message_dict
        assert _snapshot(record) == before

    if transition.signature:
        with pytest.raises(DomainError):
            workflow.perform(record, action, actor=actor, password="wrong password", reason="Because", **data)
        assert _snapshot(record) == before

    workflow.perform(record, action, actor=actor, password=PASSWORD, reason="Because", **data)
    after = type(record).objects.get(pk=record.pk)
    if transition.targets:
        assert workflow.status_of(after) in transition.targets
    else:
        assert workflow.status_of(after) == workflow.status_of(record)
    signatures = Signature.objects.filter(object_id=record.pk, content_type__model=record._meta.model_name)
    if transition.signature:
        assert signatures.latest("pk").meaning == transition.signature
        assert signatures.latest("pk").signer == actor
    else:
        assert signatures.filter(signer=actor).count() == 0


def test_every_table_is_covered():
    """A new workflow table joins the parametrized test above."""
    import importlib

    from django.apps import apps

    from core.workflow import Workflow

    declared = set()
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.workflows")
        except ModuleNotFoundError:
            continue
        declared |= {id(value) for value in vars(module).values() if isinstance(value, Workflow) and value.transitions}
    covered = {id(workflow) for workflow in TABLES.values()}
    from equipment.workflows import EQUIPMENT_USAGE_WORKFLOW as MOVES_OF_EQUIPMENT
    from inventory.workflows import LOT_WORKFLOW
    from orders.workflows import ORDER_WORKFLOW
    from serials.workflows import SERIAL_WORKFLOW

    # Not yet executed through perform (their services still check and sign by hand), and
    # equipment moves made only as a consequence of a batch action (Workflow.apply); the
    # production order's table is run by its own tests (orders/tests) and not yet here.
    not_yet = {id(LOT_WORKFLOW), id(SERIAL_WORKFLOW), id(MOVES_OF_EQUIPMENT), id(ORDER_WORKFLOW)}
    assert declared - covered - not_yet == set()
