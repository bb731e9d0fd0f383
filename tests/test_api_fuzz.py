"""Issue 8: schemathesis generates requests for every operation of /api/schema/ and checks
that none answers 5xx and that every response conforms to the schema. In-process (WSGI),
as an authenticated user holding every role; EBR_FUZZ_EXAMPLES sets examples per operation.
"""

import os
from collections import Counter
from decimal import Decimal

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from config.wsgi import application
from users.roles import ROLES
from users.tests.factories import UserFactory

EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def fuzz_token(site, make_started_batch, make_approved_mbr):
    """A user in every role group of `site`, and batches in production (one serialized) for
    the fuzzer to reach."""
    user = UserFactory(username="fuzzer", first_name="Fuzz", last_name="Tester")
    user.groups.set(Group.objects.filter(name__in=ROLES))
    user.sites.add(site)
    make_started_batch()
    make_started_batch(make_approved_mbr(is_serialized=True), quantity_planned=Decimal("3"))
    _, token = AuthToken.objects.create(user=user)
    return token


@pytest.fixture
def in_process_requests():
    # Requests served in-process must not close the test's database connection (the
    # test client arranges the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_every_operation_answers_without_server_error_and_conforms(fuzz_token, in_process_requests, capsys):
    headers = {"Authorization": f"Token {fuzz_token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application, headers=headers)
    failures, operations, statuses = [], 0, Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/auth/logout/":
            continue  # it would revoke the fuzzer's own token (logout has its own tests)
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy())
        def exercise(case):
            cache.clear()  # throttles would otherwise answer 429 instead of exercising the API
            # The generator fills security headers with arbitrary values; sign in for real.
            case.headers = {**(case.headers or {}), **headers}
            case.cookies = {}
            response = case.call_and_validate(checks=CHECKS)
            statuses[response.status_code] += 1

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collected, reported below
            failures.append(f"{operation.method.upper()} {operation.path}: {str(error)[:1500]}")
    with capsys.disabled():
        print(
            f"\nschemathesis: {operations} operations, {sum(statuses.values())} cases, "
            f"statuses {dict(sorted(statuses.items()))}, {len(failures)} failing"
        )
    assert operations > 20
    assert sum(statuses.values()) >= operations
    assert statuses[401] == 0, "the fuzzer must exercise the API signed in"
    assert failures == [], "\n\n".join(failures)
