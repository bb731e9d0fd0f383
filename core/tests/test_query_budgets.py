"""Query budgets of every list, detail and history route of the API, found by walking the URL conf.

Each resource gets a few records (with their children: steps, materials, signatures...),
then many more, made through the services. A list answers in the same number of queries
for 3 rows as for 20, and the detail of the newest record in the same number whether it has
few children (3 steps) or many (10 steps, more signatures); both stay within the budget
stated here (DEFAULT_BUDGET for a route added since).
"""

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from batch_records.services.batches import create_batch, start_batch
from batch_records.services.deviations import open_batch_deviation
from batch_records.services.equipment_usage import add_batch_equipment
from batch_records.services.materials import dispense_material, verify_material
from batch_records.services.mbr import approve_mbr, submit_mbr
from batch_records.services.steps import complete_step, start_step, verify_step
from batch_records.tests.factories import MasterBatchRecordFactory, manufacturing_instructions
from capa.tests.factories import CAPAFactory
from deviations.tests.factories import DeviationFactory
from documents.tests.factories import DocumentFactory
from equipment.services import record_calibration, record_cleaning
from equipment.tests.factories import EquipmentFactory
from events.relay import dispatch_pending
from events.services import register_webhook
from inventory.models import Material
from inventory.services import receive_lot
from jobs.services import request_export
from orders.services import create_order
from orders.workflows import ORDER_WORKFLOW
from users.roles import ROLES
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

# Queries per request for a reader holding every role, as measured: 4 for every request
# (the token twice, the user's and the groups' permissions), then the count and the page of
# a list, or the record and its prefetches. Lists are read with ?page_size=200.
BUDGETS = {
    "user-list": 7,
    "user-detail": 6,
    "document-list": 6,
    "document-detail": 6,
    "equipment-list": 6,
    "equipment-detail": 5,
    "calibration-record-list": 6,
    "calibration-record-detail": 5,
    "cleaning-log-list": 6,
    "cleaning-log-detail": 5,
    "deviation-list": 6,
    "deviation-detail": 7,
    "capa-list": 6,
    "capa-detail": 6,
    "serialnumber-list": 6,
    "serialnumber-detail": 9,
    "masterbatchrecord-list": 6,
    "masterbatchrecord-detail": 6,
    "batchrecord-list": 6,
    # 15 before allowed_actions was judged by the transitions' guards: the records that pass
    # state and role are read once per kind (batch, steps, materials, equipment uses,
    # deviations) and the facts the guards share once per request (the batch's step
    # statuses, its open material lines); the count stays the same whatever the children.
    "batchrecord-detail": 20,
    "batchstep-list": 6,
    "batchstep-detail": 7,
    "batchdeviation-list": 6,
    "batchdeviation-detail": 6,
    "batchmaterial-list": 6,
    "batchmaterial-detail": 7,
    "batchequipment-list": 6,
    "batchequipment-detail": 6,
    "exportjob-list": 6,
    "exportjob-detail": 5,
}

# The `history/` route of any record: the record, a count and a page of its own history rows
# (never its nested children, however many).
HISTORY_BUDGET = 8
# A route without its own line above (added since) is held to this.
DEFAULT_BUDGET = 8

_numbers = count(1)


def router_routes():
    """{url name: (viewset class, action)} for every list, detail and history route of a router."""
    routes = {}

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                actions = getattr(pattern.callback, "actions", None) or {}
                if actions.get("get") in ("list", "retrieve", "history") and pattern.name:
                    routes.setdefault(pattern.name, (pattern.callback.cls, actions["get"]))

    walk(get_resolver().url_patterns)
    return routes


@pytest.fixture
def reader(site):
    """Someone who may read every resource: a member of every role group (not a superuser,
    so permission checks and site scoping run as they do for real users)."""
    user = UserFactory(username="auditor", first_name="Audit", last_name="Reader")
    user.groups.add(*Group.objects.filter(name__in=ROLES))
    user.sites.add(site)
    return user


@pytest.fixture
def add_records(site, operator, verifier, author, qa_approver, records_admin):
    """`add_records(n, steps=...)`: n more records of every resource, each batch with
    `steps` steps, one performed, verified and signed, a material dispensed and verified,
    an equipment use and a deviation; and a serialized batch of n units."""

    def mbr(steps, **fields):
        number = next(_numbers)
        draft = MasterBatchRecordFactory(
            author=author,
            product_code=f"QB-{number:04d}",
            manufacturing_instructions=manufacturing_instructions(steps),
            **fields,
        )
        return approve_mbr(submit_mbr(draft, actor=author), actor=qa_approver, password=PASSWORD)

    def batch(master, quantity=Decimal("100")):
        number = next(_numbers)
        planned = create_batch(
            master,
            actor=verifier,
            batch_number=f"QB{number:05d}",
            lot_number=f"L{number:05d}",
            quantity_planned=quantity,
            site=site,
        )
        return start_batch(planned, actor=operator)

    def add(n, *, steps):
        # A serialized batch of n units first, so that the newest batch is an executed one.
        batch(mbr(steps, is_serialized=True), quantity=Decimal(n))
        for _ in range(n):
            executed = batch(mbr(steps))
            step = executed.steps.order_by("step_number").first()
            start_step(step, actor=operator)
            complete_step(step, actor=operator, actual_values={"blend_time": "10"}, password=PASSWORD)
            verify_step(step, actor=verifier, password=PASSWORD)
            material = executed.materials.order_by("line_number").first()
            dispense_material(
                material, actor=operator, lot_number="LOT-1", quantity=material.quantity_required, password=PASSWORD
            )
            verify_material(material, actor=verifier, password=PASSWORD)
            equipment = EquipmentFactory(site=site)
            record_calibration(
                equipment, actor=verifier, result="pass", next_due_date=timezone.localdate() + timedelta(days=90)
            )
            record_cleaning(equipment, actor=operator, result="pass")
            add_batch_equipment(executed, actor=operator, equipment=equipment)
            open_batch_deviation(
                executed, actor=operator, deviation_type="documentation_error", description="Late entry."
            )
            request_export(executed, actor=operator, format="json")
            stock_lot(site, records_admin)
            DocumentFactory()
            DeviationFactory(site=site)
            CAPAFactory(site=site, owner=operator)
            UserFactory().sites.add(site)
            # A webhook, and its deliveries of the events above.
            register_webhook(
                actor=records_admin,
                site=site,
                url="http://127.0.0.1:9/hook",
                event_types=["BATCH_STARTED"],
                secret="budget-webhook-secret",
            )
            dispatch_pending()
            # A production order with a batch planned from it.
            order = create_order(
                actor=verifier,
                site=site,
                mbr=mbr(steps),
                quantity_ordered=Decimal("50"),
                due_date=timezone.localdate() + timedelta(days=30),
            )
            ORDER_WORKFLOW.perform(order, "create_batch", actor=verifier, quantity_planned=Decimal("25"))

    return add


def stock_lot(site, records_admin):
    """A lot received into the inventory (a material, a lot, a receipt movement)."""
    material = Material.objects.filter(code="QB-RM").first() or Material.objects.create(
        code="QB-RM", name="Budget raw material", unit_of_measure="kg"
    )
    receive_lot(
        actor=records_admin,
        material=material,
        site=site,
        supplier="Acme Pharma",
        quantity=Decimal("10"),
        expiry_date=timezone.localdate() + timedelta(days=365),
    )


def count_queries(client, url):
    """Queries of a second GET of `url`: the first fills the process's caches (content
    types, permissions), which a running server has filled long before."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return len(queries)


def route_url(name, viewset, action):
    """The list (one page of up to 200), or the detail or history of the newest record."""
    if action == "list":
        return reverse(name) + "?page_size=200"
    record = viewset.queryset.model.objects.order_by("pk").last()
    assert record is not None, f"{name}: no record to read"
    kwarg = viewset.lookup_url_kwarg or viewset.lookup_field
    return reverse(name, kwargs={kwarg: getattr(record, viewset.lookup_field)})


def budget(name):
    if name.endswith("-history"):
        return HISTORY_BUDGET
    return BUDGETS.get(name, DEFAULT_BUDGET)


def test_the_budgets_name_routes_of_the_url_conf():
    assert not set(BUDGETS) - set(router_routes())


def test_list_and_detail_query_counts_do_not_grow_with_rows(api_client_for, reader, add_records):
    client = api_client_for(reader)
    routes = router_routes()
    add_records(3, steps=3)
    few = {name: count_queries(client, route_url(name, *route)) for name, route in routes.items()}
    add_records(17, steps=10)
    many = {name: count_queries(client, route_url(name, *route)) for name, route in routes.items()}
    problems = [
        f"{name}: {few[name]} queries with few rows or children, {many[name]} with many (budget {budget(name)})"
        for name in routes
        if few[name] != many[name] or many[name] > budget(name)
    ]
    assert not problems, "\n".join(problems)
