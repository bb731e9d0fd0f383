"""One read path for ETags: the ETag a GET returns, the one a write answers with and the one
If-Match is checked against are the same representation (core.api.viewsets
`detail_representation`), whether the route reads through a values plan or instances; and a
values plan never turns an error into a 404."""

import pytest

from core.api.values import ValuesRows

BATCHES = "/api/batch_records/batch-records/"
DOCUMENTS = "/api/documents/"


@pytest.fixture
def without_plans(monkeypatch):
    monkeypatch.setattr(ValuesRows, "for_serializer", classmethod(lambda cls, serializer_class: None))


@pytest.mark.parametrize("plans", ["values plan", "instances"])
def test_if_match_takes_the_etag_a_get_returned(request, plans, make_batch, verifier, api_client_for):
    if plans == "instances":
        request.getfixturevalue("without_plans")
    batch = make_batch()
    client = api_client_for(verifier)
    etag = client.get(f"{BATCHES}{batch.pk}/")["ETag"]
    changed = client.patch(f"{BATCHES}{batch.pk}/", {"lot_number": "L-ETAG-1"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200, changed.json()
    # The write answers with the validator a GET now shows.
    assert changed["ETag"] == client.get(f"{BATCHES}{batch.pk}/")["ETag"] != etag
    stale = client.patch(f"{BATCHES}{batch.pk}/", {"lot_number": "L-ETAG-2"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    batch.refresh_from_db()
    assert batch.lot_number == "L-ETAG-1"


def test_an_error_while_reading_through_a_plan_is_not_a_404(make_batch, verifier, api_client_for, monkeypatch):
    batch = make_batch()
    client = api_client_for(verifier)

    def broken(self, values, context=None):
        raise ValueError("a column the plan cannot format")

    monkeypatch.setattr(ValuesRows, "rows", broken)
    client.raise_request_exception = False  # answered as the server answers it
    response = client.get(f"{BATCHES}{batch.pk}/")
    assert response.status_code == 500


def test_a_malformed_or_unknown_id_is_still_a_404(make_batch, verifier, api_client_for):
    make_batch()
    client = api_client_for(verifier)
    assert client.get(f"{BATCHES}abc/").status_code == 404
    assert client.get(f"{BATCHES}999999/").status_code == 404
    assert client.patch(f"{BATCHES}abc/", {"lot_number": "X"}, format="json").status_code == 404
