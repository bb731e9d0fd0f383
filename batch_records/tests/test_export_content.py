"""What the executed batch record export contains, in JSON and in the printed PDF: every
step with its values, every signature, every deviation, the audit trail, and corrected
values shown with their original (21 CFR 11.10(b), EU GMP Annex 11 §8.2)."""

import io
import re
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from pypdf import PdfReader

from batch_records.choices import DeviationType
from batch_records.models import BatchDeviation, BatchEquipment, BatchMaterial, BatchRecord, BatchStep
from batch_records.services.batches import complete_batch
from batch_records.services.deviations import (
    investigate_batch_deviation,
    open_batch_deviation,
    resolve_batch_deviation,
)
from batch_records.services.equipment_usage import (
    add_batch_equipment,
    end_usage,
    start_usage,
    verify_calibration,
    verify_cleaning,
)
from batch_records.services.materials import consume_material, dispense_material, return_material, verify_material
from batch_records.services.review import release_batch
from batch_records.services.steps import complete_step, correct_step, skip_step, start_step, verify_step
from batch_records.tests.factories import manufacturing_instructions
from batch_records.tests.review_helpers import releasable_batch
from core.models import Signature
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"
CORRECTION_REASON = "Transcription error: the tester showed 6.75 kP"


def perform(step, operator, values):
    return complete_step(start_step(step, actor=operator), actor=operator, actual_values=values, password=PASSWORD)


@pytest.fixture
def executed_batch(make_approved_mbr, make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    """A completed batch with verified, corrected, out-of-spec and skipped steps, a
    dispensed and verified material, a tablet press used, a reported deviation resolved by
    QA and a yield deviation."""
    mbr = make_approved_mbr(manufacturing_instructions=manufacturing_instructions(steps=5))
    batch = make_started_batch(mbr)
    press = add_batch_equipment(batch, actor=operator, equipment_name="Tablet press", equipment_id_manual="TP-3")
    verify_calibration(press, actor=verifier)
    verify_cleaning(press, actor=verifier)
    start_usage(press, actor=operator)
    step = {step.step_number: step for step in batch.steps.all()}
    verify_step(perform(step[1], operator, {"blend_time": "10"}), actor=verifier, password=PASSWORD)
    perform(step[2], operator, {"appearance_ok": True, "remarks": "Uniform white granules"})
    perform(step[3], operator, {"hardness": "5.25"})
    correct_step(
        step[3],
        actor=operator,
        actual_values={"hardness": "6.75"},
        reason=CORRECTION_REASON,
        password=PASSWORD,
    )
    verify_step(step[3], actor=verifier, password=PASSWORD, comment="Checked against the tester printout")
    perform(step[4], operator, {"temperature": "31"})  # out of spec: a parameter excursion
    skip_step(step[5], actor=verifier, reason="Coating not required for this market", password=PASSWORD)
    material = batch.materials.order_by("line_number").first()
    dispense_material(material, actor=operator, lot_number="RM-2026-117", quantity="50", password=PASSWORD)
    consume_material(verify_material(material, actor=verifier, password=PASSWORD), actor=operator, quantity_used="50")
    # Completion needs every material line settled: the second one goes back unused.
    spare = batch.materials.order_by("line_number").last()
    dispense_material(spare, actor=operator, lot_number="RM-2026-118", quantity="25", password=PASSWORD)
    return_material(spare, actor=operator, reason="Not needed after all")
    jam = open_batch_deviation(
        batch,
        actor=operator,
        deviation_type=DeviationType.EQUIPMENT_FAILURE,
        description="Tablet press jammed for 5 minutes during compression.",
    )
    resolve_batch_deviation(
        investigate_batch_deviation(jam, actor=qa_reviewer),
        actor=qa_approver,
        root_cause="Worn feeder paddle; replaced",
        password=PASSWORD,
    )
    end_usage(press, actor=operator)
    return complete_batch(batch, actor=operator, quantity_produced=Decimal("90"), quantity_rejected=Decimal("2"))


def all_signatures_of(batch):
    """Every signature of the batch and of its children, counted without the export."""
    condition = Q(content_type=ContentType.objects.get_for_model(BatchRecord), object_id=batch.pk)
    for model in (BatchStep, BatchMaterial, BatchEquipment, BatchDeviation):
        ids = list(model.objects.filter(batch=batch).values_list("pk", flat=True))
        condition |= Q(content_type=ContentType.objects.get_for_model(model), object_id__in=ids)
    return Signature.objects.filter(condition)


def export_json(client, batch):
    response = client.get(f"{BATCHES}{batch.pk}/export/", {"format": "json"})
    assert response.status_code == 200, response.content
    return response.json()


def pdf_text(content):
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), reader


# --- JSON -----------------------------------------------------------------------------


def test_json_export_has_every_signature_of_the_batch_and_its_children(executed_batch, qa_reviewer, api_client_for):
    body = export_json(api_client_for(qa_reviewer), executed_batch)
    expected = all_signatures_of(executed_batch)
    assert len(body["signatures"]) == expected.count() == body["summary"]["signatures"]
    assert {row["id"] for row in body["signatures"]} == set(expected.values_list("pk", flat=True))
    by_meaning = sorted((row["record"], row["meaning"], row["signer_name"]) for row in body["signatures"])
    assert ("Step 3", "corrected", "Operator Tester") in by_meaning
    assert ("Step 5", "skipped", "Verifier Tester") in by_meaning
    assert ("Material API-001 (line 1)", "dispensed", "Operator Tester") in by_meaning
    assert any(row[1:] == ("resolved", "Qa Approver Tester") for row in by_meaning)
    signature = body["signatures"][0]
    assert {"signer", "signer_name", "meaning", "signed_at", "comment", "valid", "content_hash"} <= set(signature)
    assert signature["signed_at"].endswith("Z")


def test_json_export_marks_signatures_invalidated_by_a_later_correction(executed_batch, qa_reviewer, api_client_for):
    body = export_json(api_client_for(qa_reviewer), executed_batch)
    step3 = {row["meaning"]: row["valid"] for row in body["signatures"] if row["record"] == "Step 3"}
    # The "performed" signature covered 5.25; the values now say 6.75.
    assert step3 == {"performed": False, "corrected": True, "verified": True}
    assert body["summary"]["signatures_no_longer_valid"] == 1


def test_json_export_has_every_step_with_values_limits_and_people(executed_batch, qa_reviewer, api_client_for):
    body = export_json(api_client_for(qa_reviewer), executed_batch)
    steps = {step["step_number"]: step for step in body["steps"]}
    assert sorted(steps) == [1, 2, 3, 4, 5]
    blend = steps[1]
    assert blend["actual_values"] == {"blend_time": "10"}
    assert blend["data_fields"] == [
        {"name": "blend_time", "type": "number", "unit": "min", "value": "10", "min": 9, "max": 11, "within_spec": True}
    ]
    assert blend["performed_by"] == {"username": "operator", "name": "Operator Tester"}
    assert blend["verified_by"] == {"username": "verifier", "name": "Verifier Tester"}
    assert blend["performed_at"]
    assert blend["verified_at"]
    assert steps[2]["actual_values"] == {"appearance_ok": True, "remarks": "Uniform white granules"}
    assert steps[4]["status"] == "deviated"
    assert steps[4]["is_within_spec"] is False
    assert steps[4]["data_fields"][0]["within_spec"] is False
    assert len(steps[4]["deviations"]) == 1
    assert steps[5]["status"] == "skipped"
    assert steps[5]["skip_reason"] == "Coating not required for this market"


def test_json_export_shows_a_corrected_value_with_its_original(executed_batch, qa_reviewer, api_client_for):
    body = export_json(api_client_for(qa_reviewer), executed_batch)
    steps = {step["step_number"]: step for step in body["steps"]}
    corrected = steps[3]
    assert corrected["corrected"] is True
    assert corrected["marker"] == "CORRECTED"
    assert corrected["actual_values"] == {"hardness": "6.75"}
    assert corrected["original_values"] == {"hardness": "5.25"}
    [correction] = corrected["corrections"]
    assert correction["changes"] == [{"field": "hardness", "old": "5.25", "new": "6.75"}]
    assert correction["by"] == {"username": "operator", "name": "Operator Tester"}
    assert CORRECTION_REASON in correction["reason"]
    assert correction["at"].endswith("Z")
    assert [step["step_number"] for step in body["steps"] if step["corrected"]] == [3]


def test_json_export_has_every_deviation(executed_batch, qa_reviewer, api_client_for):
    body = export_json(api_client_for(qa_reviewer), executed_batch)
    expected = set(BatchDeviation.objects.filter(batch=executed_batch).values_list("deviation_id", flat=True))
    assert len(expected) == 3  # step 4 excursion, the press jam, the low yield
    assert {row["deviation_id"] for row in body["deviations"]} == expected
    types = {row["deviation_type"] for row in body["deviations"]}
    assert types == {"parameter_excursion", "equipment_failure", "process_deviation"}
    jam = next(row for row in body["deviations"] if row["deviation_type"] == "equipment_failure")
    assert jam["status"] == "resolved"
    assert jam["description"] == "Tablet press jammed for 5 minutes during compression."
    assert jam["root_cause"] == "Worn feeder paddle; replaced"
    assert jam["resolution"]["resolved_by"] == {"username": "qa_approver", "name": "Qa Approver Tester"}
    assert jam["resolution"]["resolved_at"].endswith("Z")
    excursion = next(row for row in body["deviations"] if row["deviation_type"] == "parameter_excursion")
    assert excursion["step_number"] == 4
    assert excursion["status"] == "open"


def test_json_export_equipment_use_with_times_and_verifications(executed_batch, qa_reviewer, api_client_for):
    [press] = export_json(api_client_for(qa_reviewer), executed_batch)["equipment"]
    assert (press["equipment_name"], press["equipment_id_manual"], press["status"]) == ("Tablet press", "TP-3", "ended")
    assert press["usage_start"] < press["usage_end"]
    assert press["started_by"]["username"] == press["ended_by"]["username"] == "operator"
    assert press["calibration_verified"] is press["cleaning_verified"] is True
    assert press["calibration_verified_by"] == {"username": "verifier", "name": "Verifier Tester"}
    assert press["cleaning_verified_by"]["username"] == "verifier"
    assert press["calibration_verified_at"]
    assert press["cleaning_verified_at"]


def test_json_export_header_materials_and_mbr(executed_batch, qa_reviewer, api_client_for):
    body = export_json(api_client_for(qa_reviewer), executed_batch)
    header = body["header"]
    assert header["batch_id"] == executed_batch.batch_id
    assert header["status"] == "completed"
    assert header["release_state"] == "NOT RELEASED — status completed"
    assert header["released"] is False
    assert (header["quantity_planned"], header["quantity_produced"], header["quantity_rejected"]) == (
        "100.000",
        "90.000",
        "2.000",
    )
    assert (header["yield_percentage"], header["yield_limit_min"], header["yield_limit_max"]) == (
        "90.00",
        "95.00",
        "102.00",
    )
    assert header["site"] == {"code": "S1", "name": "Main plant"}
    assert header["exported_by"] == {"username": "qa_reviewer", "name": "Qa Reviewer Tester"}
    assert header["exported_at"].endswith("Z")
    mbr = body["master_batch_record"]
    assert (mbr["mbr_id"], mbr["version"]) == (executed_batch.mbr.mbr_id, 1)
    [approval] = mbr["signatures"]
    assert (approval["meaning"], approval["signer"], approval["valid"]) == ("approved", "qa_approver", True)
    material = body["materials"][0]
    assert material["lot_number"] == "RM-2026-117"
    assert (material["quantity_required"], material["quantity_dispensed"]) == ("50.0000", "50.0000")
    assert material["dispensed_by"]["username"] == "operator"
    assert material["verified_by"]["username"] == "verifier"
    assert material["dispensed_at"]
    assert material["verified_at"]


def test_json_export_audit_trail_covers_the_batch_and_its_children(executed_batch, qa_reviewer, api_client_for):
    body = export_json(api_client_for(qa_reviewer), executed_batch)
    trail = body["audit_trail"]
    expected = (
        BatchRecord.history.filter(id=executed_batch.pk).count()
        + BatchStep.history.filter(batch_id=executed_batch.pk).count()
        + BatchMaterial.history.filter(batch_id=executed_batch.pk).count()
        + BatchEquipment.history.filter(batch_id=executed_batch.pk).count()
        + BatchDeviation.history.filter(batch_id=executed_batch.pk).count()
    )
    assert len(trail) == expected == body["summary"]["audit_entries"]
    assert [entry["at"] for entry in trail] == sorted(entry["at"] for entry in trail)
    assert {entry["record_type"] for entry in trail} == {"batch", "step", "material", "equipment", "deviation"}
    [correction] = [entry for entry in trail if CORRECTION_REASON in entry["reason"]]
    assert correction["record"] == "Step 3"
    assert correction["user"] == "operator"
    changes = {change["field"]: change for change in correction["changes"]}
    assert changes["actual_values"]["old"] == {"hardness": "5.25"}
    assert changes["actual_values"]["new"] == {"hardness": "6.75"}
    # References to users read as usernames, not database ids.
    verification = next(entry for entry in trail if entry["record"] == "Step 1" and entry["reason"] == "Step verified")
    assert {"field": "verifier", "old": None, "new": "verifier"} in verification["changes"]


# --- PDF ------------------------------------------------------------------------------


def test_pdf_export_prints_the_batch_signers_deviations_and_the_correction(executed_batch, qa_reviewer, api_client_for):
    client = api_client_for(qa_reviewer)
    body = export_json(client, executed_batch)
    response = client.get(f"{BATCHES}{executed_batch.pk}/export/", {"format": "pdf"})
    assert response.status_code == 200
    text, reader = pdf_text(response.content)
    assert executed_batch.batch_id in text
    assert "NOT RELEASED — status completed" in text
    for signature in body["signatures"]:
        assert signature["signer_name"] in text
        assert signature["meaning"] in text
    assert "NO LONGER VALID" in text
    for deviation in body["deviations"]:
        assert deviation["deviation_id"] in text
    assert "CORRECTED" in text
    assert re.search(r"hardness: 5\.25 (→|->) 6\.75", text), text
    assert "Originally recorded: hardness = 5.25" in text
    assert "RM-2026-117" in text
    assert "Tablet press [TP-3]" in text
    assert "Worn feeder paddle; replaced" in text
    assert f"{executed_batch.mbr.mbr_id} version 1" in text


def test_pdf_pages_carry_the_batch_id_export_time_and_page_numbers(executed_batch, qa_reviewer, api_client_for):
    response = api_client_for(qa_reviewer).get(f"{BATCHES}{executed_batch.pk}/export/", {"format": "pdf"})
    reader = PdfReader(io.BytesIO(response.content))
    total = len(reader.pages)
    assert total >= 2
    for number, page in enumerate(reader.pages, start=1):
        text = " ".join(page.extract_text().split())
        assert executed_batch.batch_id in text
        assert f"Page {number} of {total}" in text
        assert re.search(r"Exported \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by Qa Reviewer Tester \(qa_reviewer\)", text)
        assert "NOT RELEASED — status completed" in text


def test_a_released_batch_exports_as_released_with_who_released_it(
    make_started_batch, operator, verifier, qa_reviewer, qa_approver, api_client_for
):
    batch = release_batch(
        releasable_batch(make_started_batch, operator, verifier, qa_reviewer), actor=qa_approver, password=PASSWORD
    )
    client = api_client_for(qa_reviewer)
    body = export_json(client, batch)
    header = body["header"]
    assert (header["status"], header["released"], header["release_state"]) == ("released", True, "RELEASED")
    assert header["released_by"] == {"username": "qa_approver", "name": "Qa Approver Tester"}
    assert header["released_at"].endswith("Z")
    [release] = [row for row in body["signatures"] if row["meaning"] == "released"]
    assert (release["record"], release["signer_name"], release["valid"]) == (batch.batch_id, "Qa Approver Tester", True)
    text, _ = pdf_text(client.get(f"{BATCHES}{batch.pk}/export/", {"format": "pdf"}).content)
    assert "NOT RELEASED" not in text
    assert "RELEASED" in text
    assert "Qa Approver Tester (qa_approver)" in text


def test_a_deviation_longer_than_a_page_prints_across_pages(executed_batch, operator, qa_reviewer, api_client_for):
    """Rows taller than a third of a page may split inside the row at a page end; the rest
    of the record is laid out without that (slower) option."""
    sentences = [f"Observation {number:03d}: granules sampled at the hopper, within limits." for number in range(400)]
    open_batch_deviation(
        executed_batch,
        actor=operator,
        deviation_type=DeviationType.PROCESS_DEVIATION,
        description=" ".join(sentences),
    )
    response = api_client_for(qa_reviewer).get(f"{BATCHES}{executed_batch.pk}/export/", {"format": "pdf"})
    assert response.status_code == 200
    text, _ = pdf_text(response.content)
    assert "Observation 000:" in text
    assert "Observation 399:" in text
