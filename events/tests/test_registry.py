"""The declaration table decides which saves raise which events; the backoff doubles."""

from types import SimpleNamespace

import pytest

from events.registry import RecordEvents
from events.relay import backoff

DECLARATION = RecordEvents(
    SimpleNamespace,
    aggregate="thing",
    domain="production",
    payload=dict,
    created="THING_CREATED",
    statuses={"done": "THING_DONE"},
    fields_set={"checker_id": "THING_CHECKED"},
)


@pytest.mark.parametrize(
    ("created", "before", "now", "raised"),
    [
        (True, None, {"status": "new", "checker_id": None}, ["THING_CREATED"]),
        (False, {"status": "new", "checker_id": None}, {"status": "done", "checker_id": None}, ["THING_DONE"]),
        (False, {"status": "done", "checker_id": None}, {"status": "done", "checker_id": None}, []),
        (False, {"status": "new", "checker_id": None}, {"status": "busy", "checker_id": None}, []),
        (False, {"status": "done", "checker_id": None}, {"status": "done", "checker_id": 7}, ["THING_CHECKED"]),
        (False, {"status": "done", "checker_id": 7}, {"status": "done", "checker_id": 8}, []),
        # Loaded without its watched fields: nothing is known to have changed.
        (False, None, {"status": "done", "checker_id": 7}, []),
    ],
)
def test_events_raised_by_a_save(created, before, now, raised):
    assert DECLARATION.raised_by(created, before, now) == raised


def test_the_declaration_lists_its_event_types():
    assert DECLARATION.event_types() == ["THING_CREATED", "THING_DONE", "THING_CHECKED"]


def test_backoff_doubles_up_to_its_cap(settings):
    settings.EBR_WEBHOOK_BACKOFF_SECONDS = 30
    settings.EBR_WEBHOOK_BACKOFF_MAX_SECONDS = 200
    assert [backoff(attempts) for attempts in range(1, 6)] == [30, 60, 120, 200, 200]
