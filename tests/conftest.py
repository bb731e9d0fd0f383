"""Cross-cutting suites (API fuzzing, stateful lifecycle, concurrency) use the batch
fixtures that reach states through the services."""

import pytest

from batch_records.tests.conftest import (  # noqa: F401 - fixtures re-exported
    make_approved_mbr,
    make_batch,
    make_draft_mbr,
    make_started_batch,
)


@pytest.fixture
def all_roles_user(site):
    """A user holding every role group at `site`: reaches every route of the API."""
    from django.contrib.auth.models import Group

    from users.roles import ROLES
    from users.tests.factories import UserFactory

    user = UserFactory(username="every_role", first_name="Every", last_name="Role")
    user.groups.set(Group.objects.filter(name__in=ROLES))
    user.sites.add(site)
    return user


@pytest.fixture
def started_batch(make_started_batch):  # noqa: F811 - the re-exported fixture, requested
    return make_started_batch()
