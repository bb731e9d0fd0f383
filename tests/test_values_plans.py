"""Reads built from `.values()` plans (core.api.values) answer exactly what the serializers
answer from model instances: every list route, and the batch detail (steps, materials,
equipment, deviations, signatures with `valid`, allowed actions, ETag)."""

import pytest
from django.core.management import call_command
from django.urls import URLResolver, get_resolver

from batch_records.api.serializers_batches import BatchRecordListSerializer, BatchRecordSerializer
from batch_records.api.views_batches import BatchRecordViewSet
from batch_records.models import BatchRecord, BatchStep
from conftest import client_for
from core.api.values import ValuesRows
from core.api.viewsets import AuditedViewSet
from users.models import User
from users.tests.factories import UserFactory


@pytest.fixture
def demo(db):
    call_command("seed_demo", batches=6, steps_min=4, steps_max=8, planned=2, quiet=True)
    # A signature that no longer matches its record: a signed step changed afterwards.
    step = BatchStep.objects.filter(signatures__isnull=False).order_by("pk").first()
    step.instruction_text += " (changed after signing)"
    step.save(actor=User.objects.get(username="records_admin"), reason="Test of signature validity")
    return step


@pytest.fixture
def without_plans(monkeypatch):
    def switch_off():
        monkeypatch.setattr(ValuesRows, "for_serializer", classmethod(lambda cls, serializer_class: None))

    return switch_off


def _list_routes():
    def walk(patterns, prefix):
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + route)
                continue
            view = getattr(pattern.callback, "cls", None)
            actions = getattr(pattern.callback, "actions", {})
            if view and issubclass(view, AuditedViewSet) and actions.get("get") == "list" and route.endswith("/$"):
                yield view, "/" + prefix + route.strip("^$")

    return sorted(set(walk(get_resolver().url_patterns, "")), key=lambda item: item[1])


# Lists only records administrators (and superusers) read: webhooks send records out of
# the system (events.roles).
RECORDS_ADMIN_ONLY = {"/api/events/webhooks/"}

# List routes served from instances (none today): name one here only with the reason.
LISTS_FROM_INSTANCES = set()


def test_every_list_is_read_from_values():
    """A field added to a list serializer that a plan cannot read would quietly send its
    route back to the slower instance path: this names the routes that are there."""
    from_instances = set()
    for view, _ in _list_routes():
        serializer_class = view.list_serializer_class or view.serializer_class
        if ValuesRows.for_serializer(serializer_class) is None:
            from_instances.add(view.__name__)
    assert from_instances == LISTS_FROM_INSTANCES


def test_the_batch_serializers_have_plans():
    assert ValuesRows.for_serializer(BatchRecordListSerializer) is not None
    assert ValuesRows.for_serializer(BatchRecordSerializer) is not None
    assert BatchRecordViewSet.detail_from_values


@pytest.mark.parametrize("who", ["superuser", "operator", "qa_approver"])
def test_every_list_answers_the_same_from_values_and_from_instances(demo, without_plans, who):
    user = UserFactory(username="root", is_superuser=True) if who == "superuser" else User.objects.get(username=who)
    client = client_for(user)
    routes = _list_routes()
    assert len(routes) >= 10
    from_values = {url: client.get(url, {"page_size": 200}) for _, url in routes}
    without_plans()
    shown = 0
    for _, url in routes:
        from_instances = client.get(url, {"page_size": 200})
        if url in RECORDS_ADMIN_ONLY and who != "superuser":
            assert from_values[url].status_code == from_instances.status_code == 403, url
            continue
        assert from_values[url].status_code == from_instances.status_code == 200, url
        assert from_values[url].json() == from_instances.json(), url
        shown += bool(from_instances.json()["results"])
    assert shown >= 8  # most routes had rows to compare


def test_batch_detail_answers_the_same_from_values_and_from_instances(demo, without_plans):
    client = client_for(User.objects.get(username="qa_approver"))
    batches = list(BatchRecord.objects.order_by("pk"))
    from_values = {batch.pk: client.get(f"/api/batch_records/batch-records/{batch.pk}/") for batch in batches}
    changed = from_values[demo.batch_id].json()
    step = next(row for row in changed["steps"] if row["id"] == demo.pk)
    assert step["signatures"]
    assert not any(signature["valid"] for signature in step["signatures"])
    assert any(signature["valid"] for row in changed["steps"] for signature in row["signatures"])
    without_plans()
    for batch in batches:
        from_instances = client.get(f"/api/batch_records/batch-records/{batch.pk}/")
        assert from_values[batch.pk].status_code == from_instances.status_code == 200
        assert from_values[batch.pk].json() == from_instances.json(), batch.batch_id
        assert from_values[batch.pk]["ETag"] == from_instances["ETag"]


def test_batch_detail_from_values_keeps_not_found_and_site_scoping(demo, site, other_site, api_client_for):
    from users.tests.factories import UserFactory as Users

    stranger = Users(username="stranger")
    stranger.sites.add(other_site)
    stranger.groups.add(*User.objects.get(username="qa_approver").groups.all())
    batch = BatchRecord.objects.order_by("pk").first()
    assert api_client_for(stranger).get(f"/api/batch_records/batch-records/{batch.pk}/").status_code == 404
    client = client_for(User.objects.get(username="qa_approver"))
    assert client.get("/api/batch_records/batch-records/999999/").status_code == 404
    assert client.get("/api/batch_records/batch-records/abc/").status_code == 404


def test_step_detail_answers_the_same_from_values_and_from_instances(demo, without_plans):
    client = client_for(User.objects.get(username="qa_approver"))
    steps = list(BatchStep.objects.order_by("pk"))
    from_values = {step.pk: client.get(f"/api/batch_records/batch-steps/{step.pk}/") for step in steps}
    without_plans()
    for step in steps:
        from_instances = client.get(f"/api/batch_records/batch-steps/{step.pk}/")
        assert from_values[step.pk].json() == from_instances.json()
        assert from_values[step.pk]["ETag"] == from_instances["ETag"]


def test_actions_answer_with_the_serializer_representation(demo, without_plans):
    batch = BatchRecord.objects.filter(status="pending").order_by("pk").first()
    client = client_for(User.objects.get(username="operator"))
    started = client.post(f"/api/batch_records/batch-records/{batch.pk}/start/", {}, format="json")
    assert started.status_code == 200, started.json()
    assert started.json()["status"] == "in_progress"
    step = batch.steps.order_by("step_number").first()
    step_started = client.post(f"/api/batch_records/batch-steps/{step.pk}/start/", {}, format="json")
    assert step_started.status_code == 200, step_started.json()
    assert step_started.json()["status"] == "in_progress"
    without_plans()
    assert step_started.json() == client.get(f"/api/batch_records/batch-steps/{step.pk}/").json()
    now = client.get(f"/api/batch_records/batch-records/{batch.pk}/").json()
    step_row = next(row for row in now["steps"] if row["id"] == step.pk)
    assert step_row == step_started.json()
    assert {**started.json(), "steps": None, "updated_at": None} == {**now, "steps": None, "updated_at": None}
