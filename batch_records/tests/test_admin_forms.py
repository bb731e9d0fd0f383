"""Content changes in the batch records admin go through the services: an MBR is edited
only while draft and its JSON is validated (a form error, never a server error); batches
and deviations are created by their services; only drafts are deleted."""

import json

import pytest

from batch_records.models import BatchDeviation, BatchRecord, BatchStep, MasterBatchRecord
from batch_records.tests.factories import bill_of_materials, manufacturing_instructions, quality_specifications

pytestmark = pytest.mark.django_db
ADMIN = "/admin/batch_records"


def post_change(client, url, data):
    """POST a change form as the browser does: with the management forms of its inlines."""
    page = client.get(url)
    management = {}
    for inline in page.context["inline_admin_formsets"]:
        form = inline.formset.management_form
        management.update({form[name].html_name: form[name].value() for name in form.fields})
    return client.post(url, {**management, **data})


def mbr_form(mbr=None, **changes):
    """The POST body of the MBR change form, with the record's current values."""
    values = {
        "title": "Ibuprofen 200 mg tablets",
        "product_name": "Ibuprofen 200 mg tablets",
        "product_code": "IBU-200",
        "bill_of_materials": bill_of_materials(),
        "manufacturing_instructions": manufacturing_instructions(),
        "quality_specifications": quality_specifications(),
        "yield_limit_min": "95.00",
        "yield_limit_max": "102.00",
        "product_line": "",
        "linked_document": "",
        "effective_date": "",
    }
    if mbr is not None:
        values.update(
            {name: getattr(mbr, name) for name in ("title", "product_name", "product_code", "bill_of_materials")}
        )
        values.update(
            manufacturing_instructions=mbr.manufacturing_instructions,
            quality_specifications=mbr.quality_specifications,
        )
    values.update(changes)
    for name in ("bill_of_materials", "manufacturing_instructions", "quality_specifications"):
        if not isinstance(values[name], str):
            values[name] = json.dumps(values[name])
    return values


def test_author_creates_a_draft_mbr_through_the_service(author, admin_client_for):
    response = admin_client_for(author).post(f"{ADMIN}/masterbatchrecord/add/", mbr_form())
    assert response.status_code == 302
    mbr = MasterBatchRecord.objects.get(product_code="IBU-200")
    assert (mbr.status, mbr.version, mbr.author) == ("draft", 1, author)
    assert mbr.mbr_id.startswith("MBR-")
    assert mbr.history.get().history_change_reason == "Created in the admin"


def test_draft_mbr_content_is_edited_as_pretty_json(make_draft_mbr, author, admin_client_for):
    mbr = make_draft_mbr()
    client = admin_client_for(author)
    page = client.get(f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/").content.decode()
    assert 'name="bill_of_materials"' in page
    assert "[\n  {\n    &quot;material_code&quot;: &quot;API-001&quot;" in page  # indented
    lines = bill_of_materials()
    lines[0]["quantity_per_unit"] = "0.6"
    response = post_change(
        client, f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/", mbr_form(mbr, bill_of_materials=lines)
    )
    assert response.status_code == 302
    mbr.refresh_from_db()
    assert mbr.bill_of_materials[0]["quantity_per_unit"] == "0.6"
    assert mbr.history.latest("history_id").history_change_reason == "Edited in the admin"


def test_invalid_mbr_content_is_a_form_error_naming_the_element(make_draft_mbr, author, admin_client_for):
    mbr = make_draft_mbr()
    lines = bill_of_materials()
    lines[1]["quantity_per_unit"] = "-1"
    page = post_change(
        admin_client_for(author), f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/", mbr_form(mbr, bill_of_materials=lines)
    )
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert any(message.startswith("bill_of_materials[1].quantity_per_unit") for message in errors["bill_of_materials"])
    mbr.refresh_from_db()
    assert mbr.bill_of_materials[1]["quantity_per_unit"] == "0.25"


def test_malformed_json_is_a_form_error(make_draft_mbr, author, admin_client_for):
    mbr = make_draft_mbr()
    page = post_change(
        admin_client_for(author),
        f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/",
        mbr_form(mbr, manufacturing_instructions="[{"),
    )
    assert page.status_code == 200
    assert page.context["adminform"].form.errors["manufacturing_instructions"] == ["Enter a valid JSON."]


def test_duplicate_step_numbers_are_refused_on_create(author, admin_client_for):
    steps = manufacturing_instructions()
    steps[1]["step_number"] = 1
    page = admin_client_for(author).post(f"{ADMIN}/masterbatchrecord/add/", mbr_form(manufacturing_instructions=steps))
    assert page.status_code == 200
    assert "manufacturing_instructions" in page.context["adminform"].form.errors
    assert not MasterBatchRecord.objects.exists()


def test_mbr_is_read_only_once_submitted(make_draft_mbr, author, admin_client_for):
    from batch_records.services.mbr import submit_mbr

    mbr = submit_mbr(make_draft_mbr(), actor=author)
    client = admin_client_for(author)
    page = client.get(f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/").content.decode()
    assert 'name="bill_of_materials"' not in page
    assert 'class="json-table"' in page
    assert 'name="_save"' not in page
    response = client.post(f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/", mbr_form(mbr, title="Changed"))
    assert response.status_code == 403
    mbr.refresh_from_db()
    assert mbr.title != "Changed"


def test_only_a_draft_mbr_can_be_deleted(make_draft_mbr, make_approved_mbr, author, admin_client_for):
    client = admin_client_for(author)
    draft, approved = make_draft_mbr(), make_approved_mbr()
    assert client.get(f"{ADMIN}/masterbatchrecord/{approved.pk}/delete/").status_code == 403
    assert client.post(f"{ADMIN}/masterbatchrecord/{draft.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not MasterBatchRecord.objects.filter(pk=draft.pk).exists()
    deleted = MasterBatchRecord.history.filter(id=draft.pk).latest("history_id")
    assert (deleted.history_type, deleted.history_user) == ("-", author)


# --- batches ---------------------------------------------------------------------------


def batch_form(mbr, site, **changes):
    return {
        "mbr": mbr.pk,
        "batch_number": "B-ADMIN-1",
        "lot_number": "L-ADMIN-1",
        "quantity_planned": "200",
        "site": site.pk,
        "production_line": "Line 2",
        **changes,
    }


def test_batch_is_created_from_its_mbr_by_the_service(make_approved_mbr, site, verifier, admin_client_for):
    mbr = make_approved_mbr()
    response = admin_client_for(verifier).post(f"{ADMIN}/batchrecord/add/", batch_form(mbr, site))
    assert response.status_code == 302
    batch = BatchRecord.objects.get(batch_number="B-ADMIN-1")
    assert (batch.status, batch.mbr, batch.created_by) == ("pending", mbr, verifier)
    assert batch.steps.count() == 3  # the MBR's snapshot
    assert sorted(batch.materials.values_list("quantity_required", flat=True)) == [50, 100]


def test_batch_from_an_unapproved_mbr_is_a_form_error(make_draft_mbr, site, verifier, admin_client_for):
    mbr = make_draft_mbr()
    page = admin_client_for(verifier).post(f"{ADMIN}/batchrecord/add/", batch_form(mbr, site))
    assert page.status_code == 200
    assert "can only be made from an approved master batch record" in str(page.context["adminform"].form.errors)
    assert not BatchRecord.objects.exists()


def test_batch_with_a_bad_quantity_is_a_form_error(make_approved_mbr, site, verifier, admin_client_for):
    mbr = make_approved_mbr()
    page = admin_client_for(verifier).post(f"{ADMIN}/batchrecord/add/", batch_form(mbr, site, quantity_planned="0"))
    assert page.status_code == 200
    assert "quantity_planned" in page.context["adminform"].form.errors
    assert not BatchRecord.objects.exists()


def test_batch_for_another_site_cannot_be_chosen(make_approved_mbr, other_site, verifier, admin_client_for):
    mbr = make_approved_mbr()
    page = admin_client_for(verifier).post(f"{ADMIN}/batchrecord/add/", batch_form(mbr, other_site))
    assert page.status_code == 200
    assert "site" in page.context["adminform"].form.errors
    assert not BatchRecord.objects.exists()


def test_pending_batch_lot_number_can_be_edited_then_not_after_start(make_batch, verifier, operator, admin_client_for):
    from batch_records.services.batches import start_batch

    batch = make_batch()
    client = admin_client_for(verifier)
    page = client.get(f"{ADMIN}/batchrecord/{batch.pk}/change/").content.decode()
    assert 'name="lot_number"' in page
    assert 'name="quantity_planned"' not in page  # fixed by the snapshot
    response = post_change(
        client, f"{ADMIN}/batchrecord/{batch.pk}/change/", {"lot_number": "L-NEW", "production_line": "Line 3"}
    )
    assert response.status_code == 302
    batch.refresh_from_db()
    assert (batch.lot_number, batch.production_line) == ("L-NEW", "Line 3")
    start_batch(batch, actor=operator)
    assert client.post(f"{ADMIN}/batchrecord/{batch.pk}/change/", {"lot_number": "L-X"}).status_code == 403


def test_pending_batch_is_deleted_with_its_snapshot(make_batch, verifier, admin_client_for):
    batch = make_batch()
    client = admin_client_for(verifier)
    confirm = client.get(f"{ADMIN}/batchrecord/{batch.pk}/delete/")
    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"]
    assert client.post(f"{ADMIN}/batchrecord/{batch.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not BatchRecord.objects.filter(pk=batch.pk).exists()
    assert not BatchStep.objects.filter(batch_id=batch.pk).exists()


def test_executed_batch_or_one_with_deviations_is_never_deleted(
    make_batch, make_started_batch, verifier, admin_client_for
):
    from batch_records.services.deviations import open_batch_deviation

    started, with_deviation = make_started_batch(), make_batch()
    open_batch_deviation(with_deviation, actor=verifier, deviation_type="material_issue", description="Wet lot")
    client = admin_client_for(verifier)
    assert client.get(f"{ADMIN}/batchrecord/{started.pk}/delete/").status_code == 403
    assert client.get(f"{ADMIN}/batchrecord/{with_deviation.pk}/delete/").status_code == 403
    step = started.steps.first()
    assert client.get(f"{ADMIN}/batchstep/{step.pk}/delete/").status_code == 403


def test_signatures_and_history_are_never_deleted(make_approved_mbr, django_user_model, admin_client_for):
    from core.models import Signature

    superuser = django_user_model.objects.create_superuser("root", "root@example.com", "x-Pass-2026!")
    mbr = make_approved_mbr()
    signature = Signature.objects.get()
    client = admin_client_for(superuser)
    assert client.get(f"/admin/core/signature/{signature.pk}/delete/").status_code == 403
    assert client.get(f"{ADMIN}/masterbatchrecord/{mbr.pk}/delete/").status_code == 403
    page = client.get(f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/").content.decode()
    assert "electronic signatures" in page.lower()
    assert "signatures-0-DELETE" not in page


# --- batch deviations ------------------------------------------------------------------


def test_deviation_is_reported_through_the_service(make_started_batch, operator, admin_client_for):
    batch = make_started_batch()
    step = batch.steps.get(step_number=2)
    response = admin_client_for(operator).post(
        f"{ADMIN}/batchdeviation/add/",
        {
            "batch": batch.pk,
            "batch_step": step.pk,
            "batch_material": "",
            "deviation_type": "equipment_failure",
            "description": "Granulator stopped",
            "impact_assessment": "",
            "immediate_action": "Restarted",
        },
    )
    assert response.status_code == 302
    deviation = BatchDeviation.objects.get()
    assert (deviation.batch, deviation.batch_step, deviation.status) == (batch, step, "open")
    assert deviation.deviation_id.startswith("BD-")
    batch.refresh_from_db()
    assert batch.has_deviations is True


def test_deviation_on_a_step_of_another_batch_is_a_form_error(make_started_batch, operator, admin_client_for):
    batch, other = make_started_batch(), make_started_batch()
    page = admin_client_for(operator).post(
        f"{ADMIN}/batchdeviation/add/",
        {
            "batch": batch.pk,
            "batch_step": other.steps.first().pk,
            "deviation_type": "equipment_failure",
            "description": "Granulator stopped",
        },
    )
    assert page.status_code == 200
    assert "batch_step" in page.context["adminform"].form.errors
    assert not BatchDeviation.objects.exists()


def test_executed_records_cannot_be_added_or_changed_by_hand(make_started_batch, operator, admin_client_for):
    batch = make_started_batch()
    client = admin_client_for(operator)
    for model in ("batchstep", "batchmaterial"):  # made by the batch's snapshot
        assert client.get(f"{ADMIN}/{model}/add/").status_code == 403
    step = batch.steps.first()
    assert client.post(f"{ADMIN}/batchstep/{step.pk}/change/", {"deviation_notes": "edited"}).status_code == 403


def test_nothing_is_kept_when_the_page_comes_back_with_errors(make_draft_mbr, author, admin_client_for):
    mbr = make_draft_mbr()
    # Valid content, but the inline management data is missing: the page is shown again.
    page = admin_client_for(author).post(
        f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/", mbr_form(mbr, title="Renamed in a failed save")
    )
    assert page.status_code == 200
    mbr.refresh_from_db()
    assert mbr.title != "Renamed in a failed save"
    assert mbr.history.count() == 1


def test_mbr_picker_of_a_new_batch_offers_approved_mbrs_only(
    make_draft_mbr, make_approved_mbr, verifier, admin_client_for
):
    draft, approved = make_draft_mbr(), make_approved_mbr()
    response = admin_client_for(verifier).get(
        "/admin/autocomplete/",
        {"app_label": "batch_records", "model_name": "batchrecord", "field_name": "mbr", "term": ""},
    )
    assert response.status_code == 200
    offered = {int(result["id"]) for result in response.json()["results"]}
    assert approved.pk in offered
    assert draft.pk not in offered
