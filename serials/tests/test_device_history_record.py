"""The device history record of a unit, as JSON and as PDF: every step with who, when and
what values, the waivers, signatures with printed name and meaning, force-completion."""

import io
import re

import pytest
from pypdf import PdfReader

from serials.models import SerialNumber
from serials.services import force_complete_serial, waive_serial_step
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
SERIALS = "/api/batch_records/serials/"


@pytest.fixture
def worked_serial(make_serialized_batch, operator, verifier, qa_approver, advance):
    """Step 1 performed, step 3 waived, then force-completed with step 2 not done."""
    batch = make_serialized_batch(units=1, steps=4, optional_steps=(4,))
    serial = advance(SerialNumber.objects.get(batch=batch), operator)
    waive_serial_step(serial, actor=verifier, step_number=3, reason="Tested on the batch sample", password=PASSWORD)
    return force_complete_serial(serial, actor=qa_approver, password=PASSWORD, reason="Customer accepted the unit")


def pdf_text(content):
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return re.sub(r"\s+", " ", text)


def test_json_record_has_each_step_with_who_when_values_waivers_and_signatures(worked_serial, operator, api_client_for):
    response = api_client_for(operator).get(f"{SERIALS}{worked_serial.serial_id}/device-history-record/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    record = response.json()
    assert record["serial_id"] == worked_serial.serial_id
    assert record["status"] == "completed"
    assert record["force_completed"] is True
    assert record["batch"]["batch_id"] == worked_serial.batch.batch_id
    assert record["product"]["mbr_id"] == worked_serial.batch.mbr.mbr_id
    steps = {step["step_number"]: step for step in record["steps"]}
    assert list(steps) == [1, 2, 3, 4]

    performed = steps[1]
    assert performed["status"] == "completed"
    assert performed["actual_values"] == {"blend_time": "10"}
    assert performed["is_within_spec"] is True
    assert performed["performed_by"] == {"username": "operator", "name": "Operator Tester"}
    assert performed["performed_at"] is not None
    [signature] = performed["signatures"]
    assert signature["signer_name"] == "Operator Tester"
    assert signature["meaning"] == "performed"
    assert signature["meaning_label"] == "Performed"
    assert signature["valid"] is True

    assert steps[2]["status"] == "in_progress"
    assert steps[2]["performed_by"] is None
    [waiver] = steps[3]["waivers"]
    assert steps[3]["status"] == "waived"
    assert waiver["reason"] == "Tested on the batch sample"
    assert waiver["waived_by"] == {"username": "verifier", "name": "Verifier Tester"}
    assert [(s["meaning"], s["signer_name"]) for s in waiver["signatures"]] == [("waived", "Verifier Tester")]
    assert steps[4]["optional"] is True

    force = record["force_completion"]
    assert force["force_completed_by"] == {"username": "qa_approver", "name": "Qa Approver Tester"}
    assert force["reason"] == "Customer accepted the unit"
    assert force["incomplete_step_numbers"] == [2]
    assert force["incomplete_step_ids"] == worked_serial.incomplete_step_ids
    assert [(s["meaning"], s["signer_name"]) for s in record["signatures"]] == [
        ("force_completed", "Qa Approver Tester")
    ]
    assert record["scrap"] is None


def test_pdf_record_names_the_unit_each_step_and_the_signers(worked_serial, operator, api_client_for):
    response = api_client_for(operator).get(
        f"{SERIALS}{worked_serial.serial_id}/device-history-record/", {"format": "pdf"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f"DHR-{worked_serial.serial_id}.pdf" in response["Content-Disposition"]
    text = pdf_text(response.content)
    assert f"Device History Record {worked_serial.serial_id}" in text
    for step in worked_serial.batch.steps.all():
        assert f"Step {step.step_number}" in text
        assert step.instruction_text in text
    for name in ("Operator Tester", "Verifier Tester", "Qa Approver Tester"):
        assert name in text
    for meaning in ("Performed", "Waived", "Force-completed"):
        assert meaning in text
    assert "Customer accepted the unit" in text
    assert "Tested on the batch sample" in text
    assert "blend_time = 10" in text


def test_pdf_of_an_unknown_serial_is_a_json_404(operator, api_client_for, db):
    response = api_client_for(operator).get(f"{SERIALS}SN-00404/device-history-record/", {"format": "pdf"})

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"] == "Serial not found: SN-00404"


def test_record_query_count_does_not_grow_with_steps(
    make_serialized_batch, operator, verifier, advance, api_client_for, django_assert_max_num_queries
):
    small = SerialNumber.objects.get(batch=make_serialized_batch(units=1, steps=2))
    waive_serial_step(small, actor=verifier, step_number=2, reason="n/a", password=PASSWORD)
    client = api_client_for(operator)
    with django_assert_max_num_queries(30) as few:
        client.get(f"{SERIALS}{small.serial_id}/device-history-record/")
    baseline = len(few.captured_queries)
    large = advance(SerialNumber.objects.get(batch=make_serialized_batch(units=1, steps=5)), operator, times=2)
    for number in (4, 5):
        waive_serial_step(large, actor=verifier, step_number=number, reason="n/a", password=PASSWORD)

    with django_assert_max_num_queries(baseline):
        response = client.get(f"{SERIALS}{large.serial_id}/device-history-record/")

    assert len(response.json()["steps"]) == 5
