"""The events feed: `GET /api/events/?after=<cursor>`, oldest first, the user's sites only."""

from decimal import Decimal

import pytest

from batch_records.tests.conftest import make_approved_mbr, make_batch, make_draft_mbr, make_started_batch
from events.models import DomainEvent

__all__ = ["make_approved_mbr", "make_batch", "make_draft_mbr", "make_started_batch"]

pytestmark = pytest.mark.django_db
FEED = "/api/events/"


def test_the_feed_pages_by_cursor(make_started_batch, api_client_for, operator):
    first = make_started_batch()
    client = api_client_for(operator)

    page = client.get(FEED).json()
    assert [(row["type"], row["aggregate_id"]) for row in page["results"]] == [
        ("BATCH_CREATED", first.batch_id),
        ("BATCH_STARTED", first.batch_id),
    ]
    assert page["has_more"] is False
    row = page["results"][1]
    assert row["subject"] == "progress.notification.production"
    assert row["site"] == "S1"
    assert row["actor"] == "operator"
    assert row["version"] == 1
    assert row["payload"]["quantity_planned"] == "100.000"

    assert client.get(FEED, {"after": page["next_cursor"]}).json() == {
        "results": [],
        "next_cursor": page["next_cursor"],
        "has_more": False,
    }
    second = make_started_batch()
    newer = client.get(FEED, {"after": page["next_cursor"], "limit": 1}).json()
    assert [(row["type"], row["aggregate_id"]) for row in newer["results"]] == [("BATCH_CREATED", second.batch_id)]
    assert newer["has_more"] is True
    rest = client.get(FEED, {"after": newer["next_cursor"], "type": "BATCH_STARTED,BATCH_COMPLETED"}).json()
    assert [row["type"] for row in rest["results"]] == ["BATCH_STARTED"]


def test_the_feed_shows_only_the_users_sites(make_started_batch, api_client_for, operator, other_site):
    from users.tests.factories import UserFactory

    make_started_batch(quantity_planned=Decimal("10"))
    stranger = UserFactory(username="elsewhere")
    stranger.groups.add(*operator.groups.all())
    stranger.sites.add(other_site)
    client = api_client_for(stranger)

    assert client.get(FEED).json()["results"] == []
    event = DomainEvent.objects.first()
    assert client.get(f"{FEED}{event.event_id}/").status_code == 404
    assert api_client_for(operator).get(f"{FEED}{event.event_id}/").json()["id"] == str(event.event_id)


def test_bad_feed_parameters_are_400(api_client_for, operator):
    client = api_client_for(operator)
    assert client.get(FEED, {"limit": "1000"}).status_code == 400
    assert "limit" in client.get(FEED, {"limit": "x"}).json()["errors"]
    assert client.get(FEED, {"after": "abc"}).status_code == 400


def test_the_feed_needs_a_signed_in_user(anonymous_client):
    assert anonymous_client.get(FEED).status_code == 401
