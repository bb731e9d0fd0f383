"""The batch records admin: every list and change page loads, links related records, and
keeps a bounded number of queries however many rows there are."""

import pytest

from batch_records.models import BatchDeviation, BatchEquipment, BatchMaterial, BatchStep
from batch_records.services.deviations import open_batch_deviation
from batch_records.services.equipment_usage import add_batch_equipment
from batch_records.services.steps import complete_step, start_step
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ADMIN = "/admin/batch_records"
ROWS = 32


@pytest.fixture
def batches(make_approved_mbr, make_started_batch, operator):
    """ROWS started batches of one MBR, each with a completed first step, a deviation and
    an equipment usage logged."""
    mbr = make_approved_mbr()
    made = []
    for _ in range(ROWS):
        batch = make_started_batch(mbr)
        step = batch.steps.get(step_number=1)
        start_step(step, actor=operator)
        complete_step(step, actor=operator, actual_values={"blend_time": 10}, password=PASSWORD)
        open_batch_deviation(
            batch, actor=operator, deviation_type="process_deviation", description="Late start", batch_step=step
        )
        add_batch_equipment(batch, actor=operator, equipment_name="Blender V-200")
        made.append(batch)
    return made


@pytest.mark.parametrize(
    ("model", "budget"),
    [
        ("masterbatchrecord", 9),
        ("batchrecord", 9),
        ("batchstep", 9),
        ("batchdeviation", 9),
        ("batchmaterial", 9),
        ("batchequipment", 9),
    ],
)
def test_changelist_has_a_constant_number_of_queries(
    model, budget, batches, make_approved_mbr, records_admin, admin_client_for, django_assert_max_num_queries
):
    for _ in range(ROWS):
        make_approved_mbr()
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(budget):
        page = client.get(f"{ADMIN}/{model}/")
    assert page.status_code == 200
    assert page.context["cl"].result_count >= ROWS
    assert b"status-badge" in page.content


def test_batch_list_links_each_batch_to_its_mbr(batches, records_admin, admin_client_for):
    batch = batches[0]
    page = admin_client_for(records_admin).get(f"{ADMIN}/batchrecord/").content.decode()
    assert f'href="{ADMIN}/masterbatchrecord/{batch.mbr_id}/change/"' in page
    assert f"{batch.mbr.mbr_id} v{batch.mbr.version}" in page


def test_batch_page_shows_its_steps_materials_equipment_and_deviations(
    batches, records_admin, admin_client_for, django_assert_max_num_queries
):
    batch = batches[0]
    client = admin_client_for(records_admin)
    with django_assert_max_num_queries(13):
        page = client.get(f"{ADMIN}/batchrecord/{batch.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert batch.batch_id in html
    assert "Dispense and blend for 10 minutes." in html  # a step row
    assert "API-001" in html  # a material row
    assert "Blender V-200" in html  # an equipment row
    assert "Late start" in html  # a deviation row
    assert f'href="{ADMIN}/masterbatchrecord/{batch.mbr_id}/change/"' in html
    assert f"{ADMIN}/batchstep/?batch__id__exact={batch.pk}" in html
    assert f"/api/batch_records/batch-records/{batch.pk}/export/?format=pdf" in html
    # Executed records are read-only: no save button, no delete link.
    assert 'name="_save"' not in html
    assert "deletelink" not in html


def test_batch_page_query_count_does_not_grow_with_its_rows(
    make_approved_mbr, make_batch, records_admin, admin_client_for, django_assert_max_num_queries
):
    from batch_records.tests.factories import manufacturing_instructions

    small = make_batch(make_approved_mbr(manufacturing_instructions=manufacturing_instructions(3)))
    large = make_batch(make_approved_mbr(manufacturing_instructions=manufacturing_instructions(30)))
    client = admin_client_for(records_admin)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small_queries:
        assert client.get(f"{ADMIN}/batchrecord/{small.pk}/change/").status_code == 200
    with django_assert_max_num_queries(len(small_queries)):
        assert client.get(f"{ADMIN}/batchrecord/{large.pk}/change/").status_code == 200


def test_step_page_links_its_batch_and_shows_values_and_signature(batches, records_admin, admin_client_for):
    step = BatchStep.objects.get(batch=batches[0], step_number=1)
    page = admin_client_for(records_admin).get(f"{ADMIN}/batchstep/{step.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{ADMIN}/batchrecord/{step.batch_id}/change/"' in html
    assert "&quot;blend_time&quot;: &quot;10&quot;" in html  # recorded values, pretty-printed
    assert "<td>blend_time</td><td>number</td><td>min</td>" in html  # its data fields as a table
    assert "performed" in html  # the operator's signature, read-only
    assert f"{ADMIN}/batchdeviation/?batch_step__id__exact={step.pk}" in html


def test_deviation_page_links_step_and_batch(batches, records_admin, admin_client_for):
    deviation = BatchDeviation.objects.filter(batch=batches[0]).get()
    page = admin_client_for(records_admin).get(f"{ADMIN}/batchdeviation/{deviation.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{ADMIN}/batchrecord/{deviation.batch_id}/change/"' in html
    assert f'href="{ADMIN}/batchstep/{deviation.batch_step_id}/change/"' in html


def test_deviation_page_links_the_qms_deviation_and_capa(make_started_batch, operator, records_admin, admin_client_for):
    from capa.tests.factories import CAPAFactory
    from deviations.tests.factories import DeviationFactory

    batch = make_started_batch()
    qms = DeviationFactory.build(site=batch.site)
    qms.save(actor=operator)
    capa = CAPAFactory.build(site=batch.site, owner=operator, deviation=qms)
    capa.save(actor=operator)
    deviation = open_batch_deviation(batch, actor=operator, deviation_type="environmental", description="Humidity")
    # Linking is a QA decision made by its own action; set here on the record as a fixture.
    deviation.linked_deviation, deviation.linked_capa = qms, capa
    deviation.save(actor=operator, reason="Linked for the test")
    html = admin_client_for(records_admin).get(f"{ADMIN}/batchdeviation/{deviation.pk}/change/").content.decode()
    assert f'href="/admin/deviations/deviation/{qms.pk}/change/"' in html
    assert f'href="/admin/capa/capa/{capa.pk}/change/"' in html
    batch_page = admin_client_for(records_admin).get(f"{ADMIN}/batchrecord/{batch.pk}/change/").content.decode()
    assert f'href="/admin/capa/capa/{capa.pk}/change/"' in batch_page


def test_material_and_equipment_pages_load(batches, records_admin, admin_client_for, django_assert_max_num_queries):
    client = admin_client_for(records_admin)
    material = BatchMaterial.objects.filter(batch=batches[0]).first()
    usage = BatchEquipment.objects.filter(batch=batches[0]).get()
    with django_assert_max_num_queries(10):
        assert client.get(f"{ADMIN}/batchmaterial/{material.pk}/change/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(f"{ADMIN}/batchequipment/{usage.pk}/change/").status_code == 200


def test_mbr_page_shows_its_content_as_tables_once_approved(make_approved_mbr, records_admin, admin_client_for):
    mbr = make_approved_mbr()
    page = admin_client_for(records_admin).get(f"{ADMIN}/masterbatchrecord/{mbr.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="json-table"' in html
    assert "<td>Paracetamol</td>" in html  # bill of materials
    assert "blend_time (number) [min]" in html  # instruction's data fields
    assert "<td>assay</td>" in html  # quality specifications
    assert "collapse" in html
    assert 'name="bill_of_materials"' not in html  # not editable once approved
    assert f"{ADMIN}/batchrecord/?mbr__id__exact={mbr.pk}" in html


def test_every_record_has_its_history_page_and_no_revert(batches, records_admin, admin_client_for):
    client = admin_client_for(records_admin)
    batch = batches[0]
    step = batch.steps.first()
    for model, record in [("batchrecord", batch), ("batchstep", step), ("masterbatchrecord", batch.mbr)]:
        page = client.get(f"{ADMIN}/{model}/{record.pk}/history/")
        assert page.status_code == 200
        version = record.history.earliest("history_date")
        form_url = f"{ADMIN}/{model}/{record.pk}/history/{version.history_id}/"
        assert client.post(form_url, {}).status_code == 403


def test_records_of_another_site_are_not_listed(
    make_approved_mbr, make_batch, other_site, verifier, records_admin, admin_client_for
):
    verifier.sites.add(other_site)
    mbr = make_approved_mbr()
    ours, theirs = make_batch(mbr), make_batch(mbr, site=other_site)
    client = admin_client_for(records_admin)
    page = client.get(f"{ADMIN}/batchrecord/").content.decode()
    assert ours.batch_id in page
    assert theirs.batch_id not in page
    assert client.get(f"{ADMIN}/batchrecord/{theirs.pk}/change/").status_code == 302  # not found
    step = theirs.steps.first()
    assert client.get(f"{ADMIN}/batchstep/{step.pk}/change/").status_code == 302
