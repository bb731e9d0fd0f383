"""Issue 8: ETag on detail GET, If-None-Match → 304, stale If-Match → 412."""

import pytest

from documents.tests.factories import DocumentFactory

pytestmark = pytest.mark.django_db
URL = "/api/documents/"


def test_detail_has_an_etag_and_if_none_match_gives_304(author, api_client_for):
    document = DocumentFactory()
    client = api_client_for(author)
    first = client.get(f"{URL}{document.pk}/")
    etag = first["ETag"]
    assert etag.startswith('"')
    cached = client.get(f"{URL}{document.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert cached.status_code == 304
    assert cached["ETag"] == etag


def test_etag_changes_when_the_record_changes(author, api_client_for):
    document = DocumentFactory()
    client = api_client_for(author)
    before = client.get(f"{URL}{document.pk}/")["ETag"]
    client.patch(f"{URL}{document.pk}/", {"title": "changed"})
    assert client.get(f"{URL}{document.pk}/", HTTP_IF_NONE_MATCH=before).status_code == 200


def test_patch_with_current_if_match_succeeds_and_stale_is_412(author, api_client_for):
    document = DocumentFactory(title="original")
    client = api_client_for(author)
    etag = client.get(f"{URL}{document.pk}/")["ETag"]

    ok = client.patch(f"{URL}{document.pk}/", {"title": "first edit"}, HTTP_IF_MATCH=etag)
    assert ok.status_code == 200
    assert ok["ETag"] != etag

    stale = client.patch(f"{URL}{document.pk}/", {"title": "lost update"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    document.refresh_from_db()
    assert document.title == "first edit"


def test_delete_with_stale_if_match_is_412(author, api_client_for):
    document = DocumentFactory()
    client = api_client_for(author)
    assert client.delete(f"{URL}{document.pk}/", HTTP_IF_MATCH='"stale"').status_code == 412
