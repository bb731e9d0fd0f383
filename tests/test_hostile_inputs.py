"""Issue 16, point 4: a corpus of hostile values sent through every write route of the
OpenAPI schema (every POST, PUT and PATCH, bodies built from the route's own request
schema) by a signed-in user holding every role, against real records of the demo data.

Asserted for every request: no 5xx, a JSON answer with `detail` and `code` when refused,
and nothing stored when refused (the row count of every table is unchanged: history rows,
signatures, ledger, outbox). The values no field may hold (NUL, lone surrogates, nesting
hundreds deep, numbers beyond any quantity, strings beyond any text) must be refused with
400/413 naming the field. Runs in the PostgreSQL suite (where NUL and surrogates used to
reach the database as a 500) and on SQLite.

The schemathesis suite (test_api_fuzz.py) explores generated values for every operation;
this one aims the values known to break storage at every field.
"""

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from drf_spectacular.generators import SchemaGenerator

from core.limits import MAX_STRING_LENGTH
from users.models import Site
from users.roles import ROLES
from users.tests.factories import UserFactory

SKIPPED_ROUTES = {"/api/auth/logout/"}  # it would revoke the test's own token
# How a collection names its records in URLs, where it is not `id`.
LOOKUPS = {"/api/batch_records/serials/": "serial_id"}


class Raw(str):
    """A JSON literal written into the body as is (a number no float can hold)."""


# Values that no field may store: each must be refused (400/413) naming the field.
REFUSED = {
    "nul": "before\x00after",
    "lone_surrogate": "before\ud800after",
    "lone_low_surrogate": "\udfff",
    "deep_nesting": json.loads("[" * 300 + "]" * 300),
    "huge_string": "x" * (MAX_STRING_LENGTH + 1),
    "huge_exponent": Raw("1e100000000"),
    "huge_negative_exponent": Raw("-1E-100000000"),
    "too_many_digits": Raw("9" * 400),
    "too_many_decimals": Raw("0." + "3" * 60),
}
# Values of the wrong type or shape: refused or accepted, but never a 5xx, and a refusal
# stores nothing.
WRONG = {
    "list": [1, 2, 3],
    "object": {"nested": {"deeper": "value"}},
    "boolean": True,
    "integer": 7,
    "negative": -1,
    "null": None,
    "empty": "",
    "numeric_text_huge_exponent": "1e100000000",
    "numeric_text_many_digits": "9" * 400,
    "infinity_text": "Infinity",
    "html": "<script>alert(1)</script>",
}


def _body_text(body):
    """The JSON text of `body`, with Raw values written as literals."""
    literals = {}

    def mark(value):
        if isinstance(value, Raw):
            key = f"__raw_{len(literals)}__"
            literals[key] = str(value)
            return key
        if isinstance(value, dict):
            return {name: mark(item) for name, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(body))
    for key, literal in literals.items():
        text = text.replace(f'"{key}"', literal)
    return text


def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].split("/")[-1]
        node = schema["components"]["schemas"][name]
    return node


def _writable_properties(schema, operation):
    content = (operation.get("requestBody") or {}).get("content", {})
    body_schema = _resolve(schema, content.get("application/json", {}).get("schema", {}))
    names = [
        name
        for name, prop in (body_schema.get("properties") or {}).items()
        if not _resolve(schema, prop).get("readOnly")
    ]
    return names or ["value"], "multipart/form-data" in content


def _total_rows():
    """Rows in every table: a refused request must leave each count as it was (history
    included, since every change writes a history row)."""
    tables = sorted(connection.introspection.table_names())
    quote = connection.ops.quote_name
    sql = " + ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}")
        return cursor.fetchone()[0]


@pytest.fixture
def hostile_world(db):
    """The demo data (every kind of record), and a user of every role at its sites."""
    from capa.tests.factories import CAPAFactory
    from deviations.tests.factories import DeviationFactory
    from documents.tests.factories import DocumentFactory
    from equipment.tests.factories import EquipmentFactory

    call_command("seed_demo", batches=5, quiet=True)
    user = UserFactory(username="hostile", first_name="Hostile", last_name="Tester")
    user.groups.set(Group.objects.filter(name__in=ROLES))
    sites = list(Site.objects.all())
    user.sites.set(sites)
    site = sites[0]
    DocumentFactory(site=site)
    DeviationFactory(site=site)
    CAPAFactory(site=site, owner=user)
    EquipmentFactory(site=site)
    return user


def _target_ids(client, schema):
    """{path template: a real id} for every templated write route with a record to aim at."""
    ids = {}
    for path in schema["paths"]:
        match = re.match(r"^(.*?/)\{(\w+)\}/", path)
        if not match:
            continue
        collection = match.group(1)
        if collection in ids:
            continue
        response = client.get(collection)
        if response.status_code != 200:
            continue
        data = response.json()
        rows = data.get("results", data) if isinstance(data, dict) else data
        if rows:
            ids[collection] = rows[0][LOOKUPS.get(collection, "id")]
    return ids


def _url(path, ids):
    match = re.match(r"^(.*?/)\{(\w+)\}/", path)
    if not match:
        return path
    record = ids.get(match.group(1))
    return None if record is None else re.sub(r"\{\w+\}", str(record), path, count=1)


def _send(client, method, url, body_text):
    cache.clear()  # throttles and lockout counters are not what this test is about
    return client.generic(method.upper(), url, body_text, content_type="application/json")


def _names_a_field(body, properties):
    fields = set(body.get("errors") or {})
    roots = {re.split(r"[.\[]", field, maxsplit=1)[0] for field in fields}
    return roots and roots <= {*properties, "body", "non_field_errors"}


def test_hostile_values_through_every_write_route_are_refused_and_store_nothing(hostile_world, api_client_for):
    client = api_client_for(hostile_world)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ids = _target_ids(client, schema)
    problems, exercised, statuses = [], set(), {}

    def check(label, method, url, properties, body, must_refuse):
        before = _total_rows()
        response = _send(client, method, url, _body_text(body))
        status = response.status_code
        statuses[status] = statuses.get(status, 0) + 1
        where = f"{method.upper()} {url} [{label}]"
        if status >= 500:
            problems.append(f"{where}: {status} {response.content[:300]!r}")
            return
        if status < 400:
            if must_refuse:
                problems.append(f"{where}: accepted ({status}) a value no field may hold")
            return
        if not response["Content-Type"].startswith("application/json"):
            problems.append(f"{where}: {status} answered as {response['Content-Type']}")
            return
        answer = response.json()
        if not (answer.get("detail") and answer.get("code")):
            problems.append(f"{where}: {status} without detail and code: {answer}")
        if _total_rows() != before:
            problems.append(f"{where}: refused with {status} but rows were stored")
        # 403/404/405: refused before the body is read (a route nobody may call this way,
        # e.g. POST on batch-steps/, whose rows come from the batch); checked above that
        # nothing was stored, not counted as exercised.
        if must_refuse and status not in (403, 404, 405):
            exercised.add((method, url))
            if status not in (400, 413):
                problems.append(f"{where}: {status} instead of 400/413: {answer}")
            elif not _names_a_field(answer, properties):
                problems.append(f"{where}: the error names no field of the body: {answer}")

    routes = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch") or path in SKIPPED_ROUTES:
                continue
            url = _url(path, ids)
            if url is None:
                continue
            routes += 1
            properties, _ = _writable_properties(schema, operation)
            for label, value in REFUSED.items():
                check(label, method, url, properties, dict.fromkeys(properties, value), True)
                nested = {name: {"field": value, "list": [value]} for name in properties}
                check(f"{label} nested", method, url, properties, nested, True)
            for label, value in WRONG.items():
                check(label, method, url, properties, dict.fromkeys(properties, value), False)

    print(f"\nhostile inputs: {routes} write routes, statuses {dict(sorted(statuses.items()))}")
    assert routes >= 70, "every write route of the schema is reached"
    assert len({url for _, url in exercised}) >= 60, "the bodies reached the parser, not a 404"
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems[:80])


def test_hostile_form_fields_are_refused_and_store_nothing(hostile_world, api_client_for):
    """Multipart bodies (document uploads) go through the same checks."""
    from documents.models import Document

    client = api_client_for(hostile_world)
    before = _total_rows()
    for value in ("before\x00after", "x" * (MAX_STRING_LENGTH + 1)):
        for field in ("title", "description", "version"):
            cache.clear()
            response = client.post("/api/documents/", {"title": "ok", field: value}, format="multipart")
            assert response.status_code == 400, response.content[:300]
            assert list(response.json()["errors"]) == [field]
    assert _total_rows() == before
    assert not Document.objects.filter(title="ok").exists()
