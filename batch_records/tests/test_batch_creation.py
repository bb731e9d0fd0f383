"""Creating a batch from an approved master batch record: the snapshot and its guards."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from batch_records.models import BatchRecord
from batch_records.services.mbr import (
    approve_mbr,
    create_new_mbr_version,
    obsolete_mbr,
    submit_mbr,
    update_mbr,
)
from batch_records.tests.factories import manufacturing_instructions
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/batch-records/"


def payload(mbr, site, **overrides):
    return {
        "mbr": mbr.pk,
        "batch_number": "B-2026-001",
        "lot_number": "L-2026-001",
        "quantity_planned": "1200.5",
        "site": site.pk,
        **overrides,
    }


def test_supervisor_creates_a_pending_batch_with_a_snapshot_of_the_mbr(
    make_approved_mbr, verifier, site, api_client_for
):
    mbr = make_approved_mbr(is_serialized=True)
    response = api_client_for(verifier).post(URL, payload(mbr, site, production_line="Line 3"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["batch_id"].startswith("BR-")
    assert body["status"] == "pending"
    assert body["mbr"] == mbr.pk
    assert body["mbr_id"] == mbr.mbr_id
    assert body["product_code"] == mbr.product_code
    assert body["site_code"] == "S1"
    assert body["production_line"] == "Line 3"
    assert body["quantity_planned"] == "1200.500"
    assert (body["yield_limit_min"], body["yield_limit_max"], body["is_serialized"]) == ("95.00", "102.00", True)
    assert body["created_by"] == "verifier"

    steps = body["steps"]
    assert [step["step_number"] for step in steps] == [1, 2, 3]
    instruction = mbr.manufacturing_instructions[0]
    assert steps[0]["instruction_text"] == instruction["instruction_text"]
    assert steps[0]["required_data_fields"] == instruction["required_data_fields"]
    assert steps[0]["specifications"] == instruction["specifications"]
    assert [step["requires_verification"] for step in steps] == [True, False, True]
    assert {step["status"] for step in steps} == {"pending"}

    materials = body["materials"]
    assert [(m["line_number"], m["material_code"], m["material_name"], m["unit_of_measure"]) for m in materials] == [
        (1, "API-001", "Paracetamol", "kg"),
        (2, "EXC-002", "Lactose", "kg"),
    ]
    # 0.5 × 1200.5 and 0.25 × 1200.5, in Decimal (0.25 × 1200.5 = 300.125 exactly).
    assert [m["quantity_required"] for m in materials] == ["600.2500", "300.1250"]
    assert {m["status"] for m in materials} == {"pending"}


def test_quantity_required_is_decimal_arithmetic_rounded_half_up_to_four_places(make_approved_mbr, make_batch):
    bom = [
        {"material_code": "A", "material_name": "A", "quantity_per_unit": "0.1", "unit_of_measure": "kg"},
        {"material_code": "B", "material_name": "B", "quantity_per_unit": "0.333333", "unit_of_measure": "kg"},
        {"material_code": "C", "material_name": "C", "quantity_per_unit": "0.00005", "unit_of_measure": "g"},
    ]
    batch = make_batch(make_approved_mbr(bill_of_materials=bom), quantity_planned=Decimal("5"))
    required = {m.material_code: m.quantity_required for m in batch.materials.all()}
    # 0.00025 rounds half-up to 0.0003 (banker's rounding would give 0.0002).
    assert required == {"A": Decimal("0.5000"), "B": Decimal("1.6667"), "C": Decimal("0.0003")}


def test_material_quantity_rounding_to_zero_is_refused(make_approved_mbr, verifier, site, api_client_for):
    bom = [{"material_code": "T", "material_name": "Trace", "quantity_per_unit": "0.000001", "unit_of_measure": "g"}]
    mbr = make_approved_mbr(bill_of_materials=bom)
    response = api_client_for(verifier).post(URL, payload(mbr, site, quantity_planned="10"))
    assert response.status_code == 400
    assert "rounds to 0" in response.json()["errors"]["quantity_planned"][0]
    assert not BatchRecord.objects.exists()


def test_snapshot_rows_are_saved_one_by_one_with_history(make_batch):
    batch = make_batch()
    assert batch.history.count() == 1
    for step in batch.steps.all():
        assert step.history.get().history_change_reason.startswith("Snapshot of MBR-")
    for material in batch.materials.all():
        assert material.history.count() == 1


def test_later_mbr_versions_and_obsolescence_never_alter_the_batch(make_approved_mbr, make_batch, author, qa_approver):
    mbr = make_approved_mbr()
    batch = make_batch(mbr)
    before_steps = list(batch.steps.values("step_number", "instruction_text", "required_data_fields", "specifications"))
    before_materials = list(batch.materials.values("material_code", "quantity_required"))

    draft = create_new_mbr_version(mbr, actor=author)
    new_bom = [{"material_code": "NEW", "material_name": "New", "quantity_per_unit": "9", "unit_of_measure": "kg"}]
    update_mbr(draft, actor=author, manufacturing_instructions=manufacturing_instructions(5), bill_of_materials=new_bom)
    approve_mbr(submit_mbr(draft, actor=author), actor=qa_approver, password=PASSWORD)
    mbr.refresh_from_db()
    assert mbr.status == "superseded"
    obsolete_mbr(mbr, actor=qa_approver, reason="Process retired", password=PASSWORD)

    batch.refresh_from_db()
    assert batch.mbr_id == mbr.pk
    assert list(batch.steps.values("step_number", "instruction_text", "required_data_fields", "specifications")) == (
        before_steps
    )
    assert list(batch.materials.values("material_code", "quantity_required")) == before_materials
    assert (batch.yield_limit_min, batch.yield_limit_max) == (Decimal("95.00"), Decimal("102.00"))


@pytest.fixture
def mbr_in(make_draft_mbr, make_approved_mbr, author, qa_approver):
    def make(status):
        if status == "draft":
            return make_draft_mbr()
        if status == "in_review":
            return submit_mbr(make_draft_mbr(), actor=author)
        mbr = make_approved_mbr()
        if status == "superseded":
            draft = create_new_mbr_version(mbr, actor=author)
            approve_mbr(submit_mbr(draft, actor=author), actor=qa_approver, password=PASSWORD)
        if status == "obsolete":
            obsolete_mbr(mbr, actor=qa_approver, reason="Retired", password=PASSWORD)
        mbr.refresh_from_db()
        assert mbr.status == status
        return mbr

    return make


@pytest.mark.parametrize("status", ["draft", "in_review", "superseded", "obsolete"])
def test_batch_from_an_mbr_that_is_not_approved_is_409(mbr_in, status, verifier, site, api_client_for):
    mbr = mbr_in(status)
    response = api_client_for(verifier).post(URL, payload(mbr, site))
    assert response.status_code == 409
    body = response.json()
    assert body["current_status"] == status
    assert body["action"] == "create_batch"
    assert f"'{status}'" in body["detail"]
    assert "approved" in body["detail"]
    assert not BatchRecord.objects.exists()


def test_batch_from_an_mbr_not_yet_effective_is_409(make_approved_mbr, verifier, site, api_client_for):
    tomorrow = timezone.localdate() + timedelta(days=1)
    mbr = make_approved_mbr(effective_date=tomorrow)
    response = api_client_for(verifier).post(URL, payload(mbr, site))
    assert response.status_code == 409
    body = response.json()
    assert f"effective from {tomorrow}" in body["detail"]
    assert body["effective_date"] == tomorrow.isoformat()
    assert not BatchRecord.objects.exists()


def test_batch_from_an_mbr_effective_today_is_allowed(make_approved_mbr, verifier, site, api_client_for):
    mbr = make_approved_mbr(effective_date=timezone.localdate())
    assert api_client_for(verifier).post(URL, payload(mbr, site)).status_code == 201


def test_duplicate_batch_number_is_400_not_500(make_approved_mbr, make_batch, verifier, site, api_client_for):
    make_batch(batch_number="B-DUP")
    response = api_client_for(verifier).post(URL, payload(make_approved_mbr(), site, batch_number="B-DUP"))
    assert response.status_code == 400
    assert "B-DUP" in response.json()["errors"]["batch_number"][0]


@pytest.mark.parametrize("quantity", ["0", "-5", "abc", "1.2345"])
def test_quantity_planned_must_be_a_positive_decimal(make_approved_mbr, verifier, site, api_client_for, quantity):
    response = api_client_for(verifier).post(URL, payload(make_approved_mbr(), site, quantity_planned=quantity))
    assert response.status_code == 400
    assert "quantity_planned" in response.json()["errors"]
    assert not BatchRecord.objects.exists()


def test_batch_for_a_site_not_of_the_user_is_400_on_site(make_approved_mbr, verifier, other_site, api_client_for):
    response = api_client_for(verifier).post(URL, payload(make_approved_mbr(), other_site))
    assert response.status_code == 400
    assert "site" in response.json()["errors"]


def test_service_refuses_a_site_not_of_the_user(make_approved_mbr, make_batch, other_site):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        make_batch(make_approved_mbr(), site=other_site)
    assert "S2 is not one of them" in caught.value.message_dict["site"][0]


def test_status_and_computed_fields_cannot_be_posted(make_approved_mbr, verifier, site, api_client_for):
    body = payload(make_approved_mbr(), site, status="released", yield_percentage="100")
    response = api_client_for(verifier).post(URL, body)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "yield_percentage"}


def test_operator_cannot_create_batches(make_approved_mbr, operator, site, api_client_for):
    assert api_client_for(operator).post(URL, payload(make_approved_mbr(), site)).status_code == 403
