"""`allowed_actions` tells the truth for the requesting user (issue 16, point 3).

Batches, steps, materials, equipment uses, batch deviations and MBRs (and documents, QMS
deviations, CAPAs, equipment) are walked through their lifecycles; at every state, every
role reads the record through the API and each action of its workflow is tried as that
user, in a savepoint that is rolled back:

- an action the API advertised, performed with valid input and the right password, is not
  refused for state, role, duty or prerequisite (no 409/403);
- an action not advertised is refused (409/403).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batch_records.services import batches as batch_services
from batch_records.services import deviations as deviation_services
from batch_records.services import equipment_usage, materials, mbr, review, steps
from batch_records.workflows import (
    BATCH_DEVIATION_WORKFLOW,
    BATCH_WORKFLOW,
    EQUIPMENT_USAGE_WORKFLOW,
    MATERIAL_WORKFLOW,
    MBR_WORKFLOW,
    STEP_WORKFLOW,
)
from capa import services as capa_services
from capa.tests.factories import CAPAFactory
from capa.workflows import CAPA_WORKFLOW
from core.exceptions import DomainError
from deviations import services as deviation_qms
from deviations.tests.factories import DeviationFactory
from deviations.workflows import DEVIATION_WORKFLOW
from documents.tests.factories import DocumentFactory
from documents.workflows import DOCUMENT_WORKFLOW
from equipment import services as equipment_services
from equipment.tests.factories import EquipmentFactory
from equipment.workflows import EQUIPMENT_WORKFLOW
from users.tests.factories import PASSWORD

BR = "/api/batch_records"
GOOD = {1: {"blend_time": 10}, 2: {"appearance_ok": True, "remarks": "ok"}, 3: {"hardness": 6}}


class _Undo(Exception):
    pass


def _inputs(workflow, action, record):
    today = timezone.localdate()
    if workflow is STEP_WORKFLOW and action in ("complete", "correct", "record"):
        values = dict(GOOD.get(record.step_number, {"temperature": 20}))
        if action == "correct":
            first = next(iter(values))
            values[first] = {"blend_time": 11, "hardness": 7}.get(first, values[first])
        return {"actual_values": values}
    return {
        (MATERIAL_WORKFLOW, "dispense"): lambda: {"quantity": record.quantity_required, "lot_number": "LOT-1"},
        (MATERIAL_WORKFLOW, "consume"): lambda: {"quantity_used": record.quantity_dispensed},
        (BATCH_WORKFLOW, "complete"): lambda: {"quantity_produced": Decimal("100"), "quantity_rejected": Decimal("0")},
        (BATCH_DEVIATION_WORKFLOW, "resolve"): lambda: {"root_cause": "Probe drift."},
        (EQUIPMENT_WORKFLOW, "record_calibration"): lambda: {
            "result": "pass",
            "next_due_date": today + timedelta(days=30),
        },
        (EQUIPMENT_WORKFLOW, "record_cleaning"): lambda: {"result": "pass"},
        (EQUIPMENT_WORKFLOW, "set_status"): lambda: {
            "status": "maintenance" if record.status != "maintenance" else "available"
        },
    }.get((workflow, action), dict)()


def _attempt(workflow, record, action, user):
    """None if performed, else the error; always rolled back."""
    try:
        with transaction.atomic():
            fresh = type(record).objects.get(pk=record.pk)
            workflow.perform(
                fresh, action, actor=user, password=PASSWORD, reason="Checking", **_inputs(workflow, action, fresh)
            )
            raise _Undo
    except _Undo:
        return None
    except (DomainError, ValidationError) as error:
        return error


@pytest.fixture
def roles(operator, operator2, verifier, author, qa_reviewer, qa_approver, records_admin):
    return [operator, operator2, verifier, author, qa_reviewer, qa_approver, records_admin]


@pytest.fixture
def check(roles, api_client_for):
    clients = {user.pk: api_client_for(user) for user in roles}
    checked = []

    def run(url, workflow, record):
        for user in roles:
            response = clients[user.pk].get(url)
            assert response.status_code == 200, (url, user.username, response.content[:300])
            advertised = response.json()["allowed_actions"]
            for transition in workflow:
                error = _attempt(workflow, record, transition.action, user)
                where = f"{url} {transition.action} as {user.username} (status {workflow.status_of(record)})"
                if transition.action in advertised:
                    # Advertised: never refused for state, role, duty or prerequisite.
                    assert not isinstance(error, DomainError), f"{where} was advertised but refused: {error}"
                else:
                    assert isinstance(error, DomainError), f"{where} was not advertised but {error or 'succeeded'}"
                checked.append((transition.action, transition.action in advertised))
        return checked

    return run


def test_batch_execution_lifecycle(check, make_started_batch, make_batch, operator, verifier, qa_reviewer, qa_approver):
    batch = make_batch()
    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)
    usage = equipment_usage.add_batch_equipment(batch, actor=operator, equipment_name="Hand scale")
    check(f"{BR}/batch-equipment/{usage.pk}/", EQUIPMENT_USAGE_WORKFLOW, usage)
    batch = batch_services.start_batch(batch, actor=operator)
    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)

    # Equipment use: checked, used, ended.
    usage = equipment_usage.verify_calibration(usage, actor=verifier)
    usage = equipment_usage.verify_cleaning(usage, actor=verifier)
    check(f"{BR}/batch-equipment/{usage.pk}/", EQUIPMENT_USAGE_WORKFLOW, usage)
    usage = equipment_usage.start_usage(usage, actor=operator)
    check(f"{BR}/batch-equipment/{usage.pk}/", EQUIPMENT_USAGE_WORKFLOW, usage)

    # Steps in order: the second is not startable before the first is done.
    ordered = list(batch.steps.order_by("step_number"))
    for step in ordered[:2]:
        check(f"{BR}/batch-steps/{step.pk}/", STEP_WORKFLOW, step)
    first = steps.start_step(ordered[0], actor=operator)
    check(f"{BR}/batch-steps/{first.pk}/", STEP_WORKFLOW, first)
    first = steps.complete_step(first, actor=operator, actual_values=GOOD[1], password=PASSWORD)
    check(f"{BR}/batch-steps/{first.pk}/", STEP_WORKFLOW, first)
    for step in ordered[1:]:
        step = steps.start_step(step, actor=operator)
        step = steps.complete_step(
            step, actor=operator, actual_values=GOOD.get(step.step_number, {"temperature": 20}), password=PASSWORD
        )
    for step in batch.steps.filter(requires_verification=True):
        step = steps.verify_step(step, actor=verifier, password=PASSWORD)
        check(f"{BR}/batch-steps/{step.pk}/", STEP_WORKFLOW, step)

    # Materials: dispensed by one person, verified by another.
    material = batch.materials.order_by("line_number").first()
    check(f"{BR}/batch-materials/{material.pk}/", MATERIAL_WORKFLOW, material)
    material = materials.dispense_material(
        material, actor=operator, quantity=material.quantity_required, lot_number="LOT-1", password=PASSWORD
    )
    check(f"{BR}/batch-materials/{material.pk}/", MATERIAL_WORKFLOW, material)
    material = materials.verify_material(material, actor=verifier, password=PASSWORD)
    check(f"{BR}/batch-materials/{material.pk}/", MATERIAL_WORKFLOW, material)
    # Completion needs every line reconciled: the first one is not, so `complete` is not offered.
    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)
    material = materials.consume_material(material, actor=operator, quantity_used=material.quantity_dispensed)
    check(f"{BR}/batch-materials/{material.pk}/", MATERIAL_WORKFLOW, material)
    for line in batch.materials.exclude(pk=material.pk):
        line = materials.dispense_material(
            line, actor=operator, quantity=line.quantity_required, lot_number="LOT-1", password=PASSWORD
        )
        line = materials.verify_material(line, actor=verifier, password=PASSWORD)
        materials.consume_material(line, actor=operator, quantity_used=line.quantity_dispensed)

    # A deviation reported by hand, through its lifecycle.
    deviation = deviation_services.open_batch_deviation(
        batch, actor=operator, deviation_type="process_deviation", description="Spill at the blender."
    )
    check(f"{BR}/batch-deviations/{deviation.pk}/", BATCH_DEVIATION_WORKFLOW, deviation)
    deviation = deviation_services.investigate_batch_deviation(deviation, actor=qa_reviewer)
    check(f"{BR}/batch-deviations/{deviation.pk}/", BATCH_DEVIATION_WORKFLOW, deviation)
    deviation = deviation_services.resolve_batch_deviation(
        deviation, actor=qa_approver, root_cause="Lid left open.", password=PASSWORD
    )
    check(f"{BR}/batch-deviations/{deviation.pk}/", BATCH_DEVIATION_WORKFLOW, deviation)

    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)
    usage = equipment_usage.end_usage(usage, actor=operator)
    batch = batch_services.complete_batch(
        batch, actor=operator, quantity_produced=Decimal("100"), quantity_rejected=Decimal("0")
    )
    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)
    batch = review.submit_batch_for_review(batch, actor=verifier)
    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)
    batch = review.quarantine_batch(batch, actor=qa_approver, reason="Hold for investigation")
    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)
    batch = review.reject_batch(batch, actor=qa_approver, reason="Spill", password=PASSWORD)
    check(f"{BR}/batch-records/{batch.pk}/", BATCH_WORKFLOW, batch)
    check(f"{BR}/batch-steps/{first.pk}/", STEP_WORKFLOW, first)
    check(f"{BR}/batch-materials/{material.pk}/", MATERIAL_WORKFLOW, material)


def test_mbr_lifecycle(check, author, qa_approver, make_draft_mbr):
    record = make_draft_mbr()
    url = f"{BR}/master-batch-records/{record.pk}/"
    check(url, MBR_WORKFLOW, record)
    record = mbr.submit_mbr(record, actor=author)
    check(url, MBR_WORKFLOW, record)
    record = mbr.approve_mbr(record, actor=qa_approver, password=PASSWORD)
    check(url, MBR_WORKFLOW, record)
    draft = mbr.create_new_mbr_version(record, actor=author)
    # A revision is open: no second new version.
    check(url, MBR_WORKFLOW, record)
    check(f"{BR}/master-batch-records/{draft.pk}/", MBR_WORKFLOW, draft)
    record = mbr.obsolete_mbr(record, actor=qa_approver, reason="Withdrawn", password=PASSWORD)
    check(url, MBR_WORKFLOW, record)


def test_qms_lifecycles(check, site, operator, qa_reviewer, records_admin):
    document = DocumentFactory()
    check(f"/api/documents/{document.pk}/", DOCUMENT_WORKFLOW, document)

    deviation = DeviationFactory(site=site)
    check(f"/api/deviations/{deviation.pk}/", DEVIATION_WORKFLOW, deviation)
    deviation = deviation_qms.investigate_deviation(deviation, actor=qa_reviewer)
    check(f"/api/deviations/{deviation.pk}/", DEVIATION_WORKFLOW, deviation)

    capa = CAPAFactory(site=site, owner=operator)
    check(f"/api/capa/{capa.pk}/", CAPA_WORKFLOW, capa)
    capa = capa_services.start_capa(capa, actor=operator)
    check(f"/api/capa/{capa.pk}/", CAPA_WORKFLOW, capa)

    equipment = EquipmentFactory(site=site)
    check(f"/api/equipment/{equipment.pk}/", EQUIPMENT_WORKFLOW, equipment)
    equipment = equipment_services.set_equipment_status(
        equipment, actor=records_admin, status="maintenance", reason="Service"
    )
    check(f"/api/equipment/{equipment.pk}/", EQUIPMENT_WORKFLOW, equipment)
