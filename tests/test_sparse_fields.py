"""`?fields=` on GET, and the steps of a large batch paged from their own route (issue 20)."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batch_records.models import BatchRecord, BatchStep
from conftest import client_for
from core.api.values import ValuesRows
from users.models import User

BATCHES = "/api/batch_records/batch-records/"
STEPS = "/api/batch_records/batch-steps/"
HEADER = ["id", "batch_id", "status", "allowed_actions", "signatures"]


@pytest.fixture
def demo(db):
    call_command("seed_demo", batches=2, steps_min=6, steps_max=8, planned=1, quiet=True)
    return BatchRecord.objects.filter(steps__signatures__isnull=False).distinct().order_by("pk").first()


@pytest.fixture
def client(demo):
    return client_for(User.objects.get(username="qa_approver"))


def _queries(client, url, params=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    return response, [query["sql"] for query in queries]


def test_the_batch_detail_answers_only_the_fields_asked_for(demo, client):
    whole = client.get(f"{BATCHES}{demo.pk}/").json()
    response, queries = _queries(client, f"{BATCHES}{demo.pk}/", {"fields": ",".join(HEADER)})
    assert response.status_code == 200
    assert response.json() == {name: whole[name] for name in HEADER}
    # Children left out are not read.
    assert not [sql for sql in queries if BatchStep._meta.db_table in sql.split("FROM", 1)[-1].split("WHERE")[0]]
    assert response["ETag"]


def test_the_etag_of_a_narrow_detail_validates_that_detail(demo, client):
    url = f"{BATCHES}{demo.pk}/?fields=id,status"
    etag = client.get(url)["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_fields_answer_the_same_from_values_and_from_instances(demo, client, monkeypatch):
    params = {"fields": "id,batch_id,steps,signatures"}
    from_values = client.get(f"{BATCHES}{demo.pk}/", params).json()
    listed = client.get(BATCHES, {"fields": "id,status"}).json()["results"]
    monkeypatch.setattr(ValuesRows, "for_serializer", classmethod(lambda cls, serializer_class: None))
    assert client.get(f"{BATCHES}{demo.pk}/", params).json() == from_values
    assert client.get(BATCHES, {"fields": "id,status"}).json()["results"] == listed
    assert set(listed[0]) == {"id", "status"}


def test_an_unknown_field_is_a_400_naming_it(demo, client):
    response = client.get(f"{BATCHES}{demo.pk}/", {"fields": "id,nope"})
    assert response.status_code == 400
    message = response.json()["errors"]["fields"][0]
    assert "nope" in message
    assert "batch_id" in message  # and what may be asked for


def test_the_steps_of_a_batch_page_by_cursor_in_step_order(demo, client):
    expected = [step["id"] for step in client.get(f"{BATCHES}{demo.pk}/").json()["steps"]]
    seen, url, params = [], STEPS, {"batch": demo.pk, "cursor": "", "page_size": 3}
    while url:
        body = client.get(url, params).json()
        seen.extend(step["id"] for step in body["results"])
        url, params = body["next"], None
    assert seen == expected
