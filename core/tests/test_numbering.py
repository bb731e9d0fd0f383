"""SPEC §3: numbered IDs from a locked counter row, unique, gapless, race-free."""

import pytest
from django.db import transaction

from core.models import next_number
from core.testing import run_concurrently
from documents.models import Document


@pytest.mark.django_db
def test_numbers_are_sequential_per_prefix():
    assert [next_number("TST") for _ in range(3)] == ["TST-0001", "TST-0002", "TST-0003"]
    assert next_number("OTH") == "OTH-0001"


@pytest.mark.django_db
def test_numbered_records_get_their_id_on_creation(author, site):
    first = Document.objects.create(title="A", site=site)
    second = Document.objects.create(title="B", site=site)
    assert (first.doc_id, second.doc_id) == ("DOC-0001", "DOC-0002")


@pytest.mark.django_db
def test_a_rolled_back_creation_gives_its_number_back(site):
    with pytest.raises(RuntimeError), transaction.atomic():
        Document.objects.create(title="lost", site=site)
        raise RuntimeError("rollback")
    assert Document.objects.create(title="kept", site=site).doc_id == "DOC-0001"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_32_concurrent_creators_get_32_distinct_gapless_ids(site):
    outcomes = run_concurrently(
        lambda index: Document.objects.create(title=f"concurrent {index}", site=site).doc_id, 32
    )

    assert [error for _, error in outcomes if error] == []
    ids = sorted(Document.objects.values_list("doc_id", flat=True))
    assert ids == [f"DOC-{n:04d}" for n in range(1, 33)]
    assert sorted(result for result, _ in outcomes) == ids
