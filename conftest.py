"""Fixtures shared by every app's tests: personas (one user per role), API clients
authenticated with real tokens, and the database plumbing for transactional tests."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.audit import install_append_only_triggers, remove_append_only_triggers
from core.testing import open_owner_connection
from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER
from users.tests.factories import PASSWORD, SiteFactory, UserFactory

PASSWORD = PASSWORD


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Lockout counters and throttles live in the cache: each test starts clean."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _flush_around_append_only_triggers():
    """Transactional tests empty every table afterwards (TRUNCATE/DELETE), which the
    append-only triggers rightly refuse. Around that flush only, the triggers are taken
    off and put back; no test ever runs without them."""
    original = connection.ops.__class__.execute_sql_flush

    def execute_sql_flush(ops, sql_list):
        # Run as the owner role when the suite runs as the runtime role (MIGRATE_DATABASE_URL):
        # only the owner may take the triggers off and truncate.
        # (A connection of its own: a test declares only the databases its code uses.)
        if "owner" not in settings.DATABASES:
            remove_append_only_triggers(ops.connection)
            try:
                original(ops, sql_list)
            finally:
                install_append_only_triggers(ops.connection)
            return
        owner = open_owner_connection()
        try:
            remove_append_only_triggers(owner)
            try:
                with owner.cursor() as cursor:
                    for sql in sql_list:
                        cursor.execute(sql)
            finally:
                install_append_only_triggers(owner)
        finally:
            owner.close()

    connection.ops.__class__.execute_sql_flush = execute_sql_flush
    yield
    connection.ops.__class__.execute_sql_flush = original


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (row locks and concurrent connections)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def site(db):
    return SiteFactory(code="S1", name="Main plant")


@pytest.fixture
def other_site(db):
    return SiteFactory(code="S2", name="Second plant")


def _persona(role, site, username):
    user = UserFactory(username=username, first_name=username.replace("_", " ").title(), last_name="Tester")
    user.groups.add(Group.objects.get(name=role))
    user.sites.add(site)
    return user


@pytest.fixture
def operator(site):
    return _persona(OPERATOR, site, "operator")


@pytest.fixture
def operator2(site):
    return _persona(OPERATOR, site, "operator_two")


@pytest.fixture
def verifier(site):
    return _persona(VERIFIER, site, "verifier")


@pytest.fixture
def author(site):
    return _persona(AUTHOR, site, "author")


@pytest.fixture
def qa_reviewer(site):
    return _persona(QA_REVIEWER, site, "qa_reviewer")


@pytest.fixture
def qa_approver(site):
    return _persona(QA_APPROVER, site, "qa_approver")


@pytest.fixture
def records_admin(site):
    return _persona(RECORDS_ADMIN, site, "records_admin")


def client_for(user):
    """An API client signed in as `user` with a real expiring token."""
    client = APIClient()
    _, token = AuthToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.user = user
    return client


@pytest.fixture
def api_client_for(db):
    return client_for


@pytest.fixture
def anonymous_client():
    return APIClient()


class _CacheClock:
    """Moves the in-process cache's clock forward, so that entries with a timeout (the
    lockout counters) expire as they would after the cool-off window."""

    def __init__(self, monkeypatch):
        import django.core.cache.backends.locmem as locmem

        self._monkeypatch = monkeypatch
        self._locmem = locmem
        self._offset = 0.0

    def advance(self, seconds):
        import time as real_time

        self._offset += seconds
        offset = self._offset

        class ShiftedTime:
            @staticmethod
            def time():
                return real_time.time() + offset

        self._monkeypatch.setattr(self._locmem, "time", ShiftedTime)

    def expire_all(self):
        from django.conf import settings

        self.advance(settings.AXES_COOLOFF_TIME.total_seconds() + 1)


@pytest.fixture
def freezer_cache(monkeypatch):
    return _CacheClock(monkeypatch)


@pytest.fixture
def admin_client_for(db):
    """A Django test client logged in to the admin as `user` (made staff)."""
    from django.test import Client

    def make(user):
        user.is_staff = True
        user.save()
        client = Client()
        client.force_login(user)
        return client

    return make
