"""Helpers for tests (no test of their own here)."""

import threading
import uuid
from contextlib import contextmanager

from django.db import connections


def run_concurrently(function, count, *args_per_thread, timeout=60):
    """Run `function(index)` in `count` threads that start together; return the list of
    (result, exception) per thread. Each thread uses and then closes its own database
    connection, so row locks and transactions really compete."""
    barrier = threading.Barrier(count)
    outcomes = [None] * count

    def worker(index):
        try:
            barrier.wait(timeout=timeout)
            outcomes[index] = (function(index), None)
        except Exception as error:  # noqa: BLE001 - handed back to the test
            outcomes[index] = (None, error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return outcomes


def open_owner_connection():
    """A new connection of the role that owns the schema: MIGRATE_DATABASE_URL's when the
    suite runs as the runtime role, else the suite's own. Opened by hand, beside the test's
    connection (a test declares only the databases its code uses); the caller closes it."""
    from django.conf import settings

    owner = connections.create_connection("owner" if "owner" in settings.DATABASES else "default")
    owner.connection = owner.get_new_connection(owner.get_connection_params())
    owner.init_connection_state()
    owner.set_autocommit(True)
    return owner


@contextmanager
def acting_as_runtime_role():
    """Inside the caller's transaction, the test's connection acts as the server's runtime
    role: itself when the suite runs as that role, else a role created and granted for this
    transaction only (rolled back with it) and taken with SET LOCAL ROLE. Yields its name."""
    from core.audit import owns_schema_tables
    from core.db_roles import create_runtime_role, grant_runtime_privileges

    connection = connections["default"]
    if not owns_schema_tables():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            yield cursor.fetchone()[0]
        return
    role = f"ebr_test_runtime_{uuid.uuid4().hex[:8]}"
    create_runtime_role(role, login=False)
    grant_runtime_privileges(role)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {role}")
    try:
        yield role
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
