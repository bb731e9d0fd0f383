"""The printed executed batch record of a released batch with exceptions: every value of
the header and of the master batch record is printed as text (not a Python object), every
signer is named, and page 1 is kept as an image for a person to look at."""

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from batch_records.services.equipment_usage import (
    add_batch_equipment,
    end_usage,
    start_usage,
    verify_calibration,
    verify_cleaning,
)
from batch_records.services.review import record_batch_review, release_batch, submit_batch_for_review
from batch_records.services.steps import complete_step, correct_step, skip_step, start_step, verify_step
from batch_records.tests.factories import manufacturing_instructions
from batch_records.tests.review_helpers import finish_production, reconcile_materials, settle
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
BATCHES = "/api/batch_records/batch-records/"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# What a Python object looks like when it is printed instead of its value.
REPRESENTATIONS = (
    re.compile(r"object at 0x[0-9a-fA-F]+"),
    re.compile(r"<[A-Za-z_][\w.]*\.[A-Za-z_]\w*[ >]"),  # <module.Class ...> or <module.Class>
    re.compile(r"<(class|function|bound method|built-in|module|generator) "),
    re.compile(r"\b0x[0-9a-fA-F]{6,}\b"),
)


def perform(step, operator, values):
    return complete_step(start_step(step, actor=operator), actor=operator, actual_values=values, password=PASSWORD)


@pytest.fixture
def released_batch(make_approved_mbr, make_started_batch, operator, verifier, qa_reviewer, qa_approver):
    """Released after QA settled a parameter excursion; one value corrected after entry,
    one step skipped, a tablet press used, every material reconciled."""
    mbr = make_approved_mbr(manufacturing_instructions=manufacturing_instructions(steps=5), title="Tablets 500 mg")
    batch = make_started_batch(mbr, production_line="Compression line 3")
    press = add_batch_equipment(batch, actor=operator, equipment_name="Tablet press", equipment_id_manual="TP-3")
    verify_calibration(press, actor=verifier)
    verify_cleaning(press, actor=verifier)
    start_usage(press, actor=operator)
    step = {step.step_number: step for step in batch.steps.all()}
    verify_step(perform(step[1], operator, {"blend_time": "10"}), actor=verifier, password=PASSWORD)
    perform(step[2], operator, {"appearance_ok": True, "remarks": "Uniform white granules"})
    perform(step[3], operator, {"hardness": "5.25"})
    correct_step(
        step[3], actor=operator, actual_values={"hardness": "6.75"}, reason="Transcription error", password=PASSWORD
    )
    verify_step(step[3], actor=verifier, password=PASSWORD)
    perform(step[4], operator, {"temperature": "31"})  # out of spec: a deviation is opened
    skip_step(step[5], actor=verifier, reason="Coating not required for this market", password=PASSWORD)
    [excursion] = batch.deviations.all()
    settle(excursion, qa_reviewer, qa_approver, root_cause="Probe placed near the heater")
    end_usage(press, actor=operator)
    reconcile_materials(batch, operator, verifier)
    batch = finish_production(batch, operator, produced="98")
    batch = submit_batch_for_review(batch, actor=qa_reviewer)
    batch = record_batch_review(batch, actor=qa_reviewer, password=PASSWORD, comment="Exceptions assessed")
    return release_batch(batch, actor=qa_approver, password=PASSWORD)


@pytest.fixture
def printed(released_batch, records_admin, api_client_for):
    """(export document, PDF bytes) of the released batch, as a records administrator gets them."""
    client = api_client_for(records_admin)
    url = f"{BATCHES}{released_batch.pk}/export/"
    document = client.get(url, {"format": "json"}).json()
    response = client.get(url, {"format": "pdf"})
    assert response.status_code == 200
    return document, response.content


def text_of(page):
    return " ".join(page.extract_text().split())


def when(value):
    return value[:19].replace("T", " ")


def person(who, at=None):
    text = f"{who['name']} ({who['username']})"
    return f"{text} {when(at)}" if at else text


def test_page_one_prints_every_header_and_master_batch_record_value(printed):
    document, content = printed
    header, mbr = document["header"], document["master_batch_record"]
    assert header["status"] == "released"
    assert header["has_deviations"] is True
    page_one = text_of(PdfReader(io.BytesIO(content)).pages[0])
    expected = [
        header["batch_id"],
        header["batch_number"],
        header["lot_number"],
        f"{header['product_code']} {header['product_name']}",
        "Compression line 3",
        f"Quantity planned {header['quantity_planned']}",
        f"Quantity produced {header['quantity_produced']}",
        f"Quantity rejected {header['quantity_rejected']}",
        f"{header['yield_percentage']} %",
        f"{header['yield_limit_min']} – {header['yield_limit_max']} %",
        f"Started (UTC) {when(header['started_at'])}",
        f"Completed (UTC) {when(header['completed_at'])}",
        f"Reviewed by {person(header['reviewed_by'], header['reviewed_at'])}",
        f"Released by {person(header['released_by'], header['released_at'])}",
        f"Released (UTC) {when(header['released_at'])}",
        f"{mbr['mbr_id']} version {mbr['version']}",
        f"Title {mbr['title']}",
        f"Author {person(mbr['author'])}",
        f"Approved by {person(mbr['approved_by'], mbr['approval_date'])}",
        "5 steps (1 corrected)",
        "1 deviation,",
    ]
    missing = [value for value in expected if value not in page_one]
    assert not missing, f"not printed on page 1: {missing}\n{page_one}"
    assert (header["quantity_planned"], header["yield_percentage"]) == ("100.000", "98.00")
    assert header["reviewed_by"]["username"] == "qa_reviewer"
    assert header["released_by"]["username"] == "qa_approver"


def test_every_signer_is_named_and_no_python_object_is_printed(printed):
    document, content = printed
    reader = PdfReader(io.BytesIO(content))
    text = " ".join(text_of(page) for page in reader.pages)
    signatures = document["signatures"] + document["master_batch_record"]["signatures"]
    meanings = {signature["meaning"] for signature in signatures}
    assert {"performed", "verified", "corrected", "skipped", "resolved", "reviewed", "released", "approved"} <= meanings
    for signature in signatures:
        assert signature["signer_name"] in text
        assert signature["signer"] in text
    for pattern in REPRESENTATIONS:
        found = pattern.findall(text)
        assert not found, f"{pattern.pattern} printed: {found[:5]}"
    for deviation in document["deviations"]:
        assert deviation["deviation_id"] in text
    assert "Coating not required for this market" in text
    assert "CORRECTED" in text


def test_page_one_is_kept_as_an_image(printed, tmp_path):
    """`.ci/run` installs poppler-utils so that this runs there; the image is kept in
    test-artifacts/ for a person to look at."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (Debian's poppler-utils) is not installed")
    source = tmp_path / "record.pdf"
    source.write_bytes(printed[1])
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "batch-record-page-1"
    subprocess.run(  # noqa: S603 — a fixed program on a file this test wrote
        [pdftoppm, "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(source), str(target)],
        check=True,
        timeout=60,
    )
    image = target.with_suffix(".png")
    assert image.stat().st_size > 10_000
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
