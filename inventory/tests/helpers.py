"""Bring a batch through production with its materials drawn from inventory lots, through
the services, as the shop floor and QA would."""

from decimal import Decimal

from batch_records.services.materials import consume_material, dispense_material, verify_material
from batch_records.services.review import release_batch, submit_batch_for_review
from batch_records.tests.review_helpers import finish_production, perform_steps, verify_steps
from users.tests.factories import PASSWORD

BATCHES = "/api/batch_records/batch-records/"
LOTS = "/api/inventory/lots/"


def draw_and_consume(batch, operator, verifier, used=None):
    """Dispense every material with FEFO at its required quantity, verify it, and consume
    `used[code]` (default: the quantity required)."""
    for material in batch.materials.order_by("line_number"):
        material = dispense_material(
            material, actor=operator, quantity=material.quantity_required, auto=True, password=PASSWORD
        )
        material = verify_material(material, actor=verifier, password=PASSWORD)
        quantity = Decimal((used or {}).get(material.material_code, material.quantity_required))
        consume_material(material, actor=operator, quantity_used=quantity)


def completed_batch(make_started_batch, operator, verifier, produced="100", used=None, **fields):
    batch = make_started_batch(**fields)
    perform_steps(batch, operator)
    verify_steps(batch, verifier)
    draw_and_consume(batch, operator, verifier, used)
    return finish_production(batch, operator, produced=produced)


def released_batch(make_started_batch, operator, verifier, qa_reviewer, qa_approver, produced="100", **fields):
    batch = completed_batch(make_started_batch, operator, verifier, produced=produced, **fields)
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    return release_batch(batch, actor=qa_approver, password=PASSWORD)
