"""Lists: page numbers with a capped count, and keyset (cursor) pagination (issue 20)."""

import base64
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.api.pagination import StandardPagination
from documents.models import Document
from documents.tests.factories import DocumentFactory

pytestmark = pytest.mark.django_db
URL = "/api/documents/"


@pytest.fixture
def documents():
    return [DocumentFactory() for _ in range(7)]


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(StandardPagination, "count_cap", 5)


def _ids(response):
    return [row["id"] for row in response.json()["results"]]


def test_page_numbers_still_work_with_an_exact_count(author, api_client_for, documents):
    client = api_client_for(author)
    first = client.get(URL, {"page_size": 3}).json()
    assert first["count"] == 7
    assert first["count_exact"] is True
    assert first["previous"] is None
    assert parse_qs(urlparse(first["next"]).query)["page"] == ["2"]
    third = client.get(URL, {"page_size": 3, "page": 3}).json()
    assert len(third["results"]) == 1
    assert third["next"] is None
    assert parse_qs(urlparse(third["previous"]).query)["page"] == ["2"]


def test_a_page_past_the_end_or_not_a_number_is_404(author, api_client_for, documents):
    client = api_client_for(author)
    assert client.get(URL, {"page_size": 3, "page": 4}).status_code == 404
    assert client.get(URL, {"page": "x"}).status_code == 404
    assert client.get(URL, {"page": "0"}).status_code == 404


def test_the_count_stops_at_the_cap_and_says_so(author, api_client_for, documents, small_cap):
    client = api_client_for(author)
    body = client.get(URL, {"page_size": 2}).json()
    assert body["count"] == 5
    assert body["count_exact"] is False
    # Pages past the cap are still served, and `next` is still right.
    last = client.get(URL, {"page_size": 2, "page": 4}).json()
    assert len(last["results"]) == 1
    assert last["next"] is None


def test_the_count_query_reads_no_further_than_the_cap(author, api_client_for, documents, small_cap):
    client = api_client_for(author)
    with CaptureQueriesContext(connection) as queries:
        client.get(URL, {"page_size": 2})
    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    assert len(counts) == 1
    assert "LIMIT 6" in counts[0]


def test_a_cursor_walks_the_whole_list_in_order_without_counting(author, api_client_for, documents):
    client = api_client_for(author)
    expected = _ids(client.get(URL))
    seen = []
    url, params = URL, {"cursor": "", "page_size": 3}
    with CaptureQueriesContext(connection) as queries:
        while url:
            body = client.get(url, params).json()
            assert set(body) == {"next", "previous", "results"}
            seen.extend(row["id"] for row in body["results"])
            url, params = body["next"], None
    assert seen == expected
    assert not [query for query in queries if "COUNT(" in query["sql"].upper()]


def test_a_cursor_goes_back_with_previous(author, api_client_for, documents):
    client = api_client_for(author)
    first = client.get(URL, {"cursor": "", "page_size": 3}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]


def test_a_cursor_follows_the_requested_ordering(author, api_client_for, documents):
    client = api_client_for(author)
    body = client.get(URL, {"cursor": "", "ordering": "id", "page_size": 4}).json()
    following = client.get(body["next"]).json()
    assert _ids(client.get(URL, {"ordering": "id"})) == [*_ids_of(body), *_ids_of(following)]


def _ids_of(body):
    return [row["id"] for row in body["results"]]


def test_a_cursor_orders_by_a_non_unique_column_without_skipping_rows(author, api_client_for, documents):
    client = api_client_for(author)
    for document in documents[:4]:
        document.title = "Same title"
        document.save(actor=author, reason="test")
    # The cursor breaks ties by id; the list's `ordering` takes no `id`, so the expected order
    # is read from the database (PostgreSQL returns ties in any order).
    expected = list(Document.objects.order_by("title", "id").values_list("id", flat=True))
    seen, url, params = [], URL, {"cursor": "", "ordering": "title", "page_size": 2}
    while url:
        body = client.get(url, params).json()
        seen.extend(_ids_of(body))
        url, params = body["next"], None
    assert seen == expected


def test_a_cursor_made_for_another_ordering_is_404(author, api_client_for, documents):
    client = api_client_for(author)
    following = client.get(URL, {"cursor": "", "page_size": 2}).json()["next"]
    assert client.get(following + "&ordering=title").status_code == 404


def test_a_forged_cursor_is_404_not_500(author, api_client_for, documents):
    forged = base64.urlsafe_b64encode(b'{"o": ["-created_at", "-id"], "v": ["not-a-date", 1], "d": "n"}').decode()
    client = api_client_for(author)
    assert client.get(URL, {"cursor": forged}).status_code == 404
    assert client.get(URL, {"cursor": "a"}).status_code == 404
