"""Helpers for the QA review, release and deviation tests: bring a batch to a state through
the services, as the shop floor and QA would."""

from decimal import Decimal

from batch_records.services.batches import complete_batch
from batch_records.services.deviations import investigate_batch_deviation, resolve_batch_deviation
from batch_records.services.equipment_usage import add_batch_equipment, start_usage, verify_calibration, verify_cleaning
from batch_records.services.materials import consume_material, dispense_material, return_material, verify_material
from batch_records.services.review import submit_batch_for_review
from batch_records.services.steps import complete_step, start_step, verify_step
from users.tests.factories import PASSWORD

BATCHES = "/api/batch_records/batch-records/"
DEVIATIONS = "/api/batch_records/batch-deviations/"
STEPS = "/api/batch_records/batch-steps/"
MATERIALS = "/api/batch_records/batch-materials/"
GOOD = {1: {"blend_time": 10}, 2: {"appearance_ok": True, "remarks": "ok"}, 3: {"hardness": 6}}


def values_for(number):
    return GOOD.get(number, {"temperature": 20})


def perform_steps(batch, operator, values=None):
    for step in batch.steps.order_by("step_number"):
        start_step(step, actor=operator)
        number = step.step_number
        recorded = (values or {}).get(number, values_for(number))
        complete_step(step, actor=operator, actual_values=recorded, password=PASSWORD)


def verify_steps(batch, verifier):
    for step in batch.steps.filter(requires_verification=True).order_by("step_number"):
        verify_step(step, actor=verifier, password=PASSWORD)


def reconcile_materials(batch, operator, verifier):
    """Dispense, verify and consume every material at exactly the quantity required."""
    for material in batch.materials.order_by("line_number"):
        material = dispense_material(
            material,
            actor=operator,
            lot_number=f"LOT-{material.line_number}",
            quantity=material.quantity_required,
            password=PASSWORD,
        )
        material = verify_material(material, actor=verifier, password=PASSWORD)
        consume_material(material, actor=operator, quantity_used=material.quantity_required)


def return_unused_materials(batch, operator):
    """Every material line not yet dispensed is weighed out and sent back unused, so that
    the batch may complete (completion needs every line consumed or returned)."""
    for material in batch.materials.filter(status="pending").order_by("line_number"):
        material = dispense_material(
            material,
            actor=operator,
            lot_number=f"LOT-{material.line_number}",
            quantity=material.quantity_required,
            password=PASSWORD,
        )
        return_material(material, actor=operator, reason="Not used in this batch")


def equipment_in_use(batch, operator, verifier, equipment_name="Blender V-200", **fields):
    """An equipment use logged for the batch, its calibration and cleaning verified, started."""
    usage = add_batch_equipment(batch, actor=operator, equipment_name=equipment_name, **fields)
    verify_calibration(usage, actor=verifier)
    verify_cleaning(usage, actor=verifier)
    return start_usage(usage, actor=operator)


def finish_production(batch, operator, produced="100"):
    """Settle the material lines still pending (drawn and returned unused), then complete."""
    return_unused_materials(batch, operator)
    return complete_batch(batch, actor=operator, quantity_produced=Decimal(produced), quantity_rejected=Decimal("0"))


def releasable_batch(make_started_batch, operator, verifier, qa_reviewer, **fields):
    """A batch under review that meets every release condition, executed by the operator
    and the verifier only."""
    batch = make_started_batch(**fields)
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    reconcile_materials(batch, operator, verifier)
    finish_production(batch, operator)
    return submit_batch_for_review(batch, actor=qa_reviewer)


def settle(deviation, qa_reviewer, qa_approver, root_cause="Operator read the wrong timer"):
    deviation = investigate_batch_deviation(deviation, actor=qa_reviewer)
    return resolve_batch_deviation(deviation, actor=qa_approver, root_cause=root_cause, password=PASSWORD)


def batch_in_status(status, *, make_batch, make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    """A batch brought to `status` the way production and QA would get it there."""
    from batch_records.services.review import quarantine_batch, reject_batch, release_batch

    if status == "pending":
        return make_batch()
    if status == "in_progress":
        return make_started_batch()
    if status == "completed":
        batch = make_started_batch()
        perform_steps(batch, operator)
        verify_steps(batch, verifier)
        reconcile_materials(batch, operator, verifier)
        return finish_production(batch, operator)
    batch = releasable_batch(make_started_batch, operator, verifier, qa_reviewer)
    if status == "under_review":
        return batch
    if status == "quarantined":
        return quarantine_batch(batch, actor=qa_reviewer, reason="Suspected label mix-up")
    if status == "released":
        return release_batch(batch, actor=qa_approver, password=PASSWORD)
    if status == "rejected":
        return reject_batch(batch, actor=qa_approver, reason="Contaminated", password=PASSWORD)
    raise ValueError(status)
