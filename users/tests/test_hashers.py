"""Argon2 parameters are chosen (RFC 9106 second option) and old hashes upgrade on use."""

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, identify_hasher, make_password
from django.test import override_settings
from rest_framework.test import APIClient

from core.services import check_password_for_signature
from users.hashers import Argon2idRFC9106Hasher
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

RFC9106_PARAMS = "m=65536,t=3,p=4"


def _params(encoded):
    # argon2$argon2id$v=19$m=65536,t=3,p=4$salt$hash
    return encoded.split("$")[3]


def test_the_production_hasher_uses_rfc9106_second_recommended_option():
    assert settings.PRODUCTION_PASSWORD_HASHERS[0] == "users.hashers.Argon2idRFC9106Hasher"
    encoded = Argon2idRFC9106Hasher().encode(PASSWORD, Argon2idRFC9106Hasher().salt())
    assert encoded.startswith("argon2$argon2id$")
    assert _params(encoded) == RFC9106_PARAMS


@pytest.fixture
def user_with_django_default_argon2(operator):
    operator.password = make_password(PASSWORD, hasher=Argon2PasswordHasher())
    operator.save(update_fields=["password"])
    assert _params(operator.password) == "m=102400,t=2,p=8"
    return operator


def test_an_old_argon2_hash_upgrades_on_next_login(user_with_django_default_argon2):
    with override_settings(PASSWORD_HASHERS=settings.PRODUCTION_PASSWORD_HASHERS):
        response = APIClient().post("/api/auth/login/", {"username": "operator", "password": PASSWORD}, format="json")
        assert response.status_code == 200
        user_with_django_default_argon2.refresh_from_db()
        assert _params(user_with_django_default_argon2.password) == RFC9106_PARAMS
        assert isinstance(identify_hasher(user_with_django_default_argon2.password), Argon2idRFC9106Hasher)


def test_an_old_argon2_hash_upgrades_on_next_signature(user_with_django_default_argon2):
    with override_settings(PASSWORD_HASHERS=settings.PRODUCTION_PASSWORD_HASHERS):
        check_password_for_signature(user_with_django_default_argon2, PASSWORD)
        user_with_django_default_argon2.refresh_from_db()
        assert _params(user_with_django_default_argon2.password) == RFC9106_PARAMS


def test_a_wrong_password_does_not_rehash(user_with_django_default_argon2):
    old = user_with_django_default_argon2.password
    with override_settings(PASSWORD_HASHERS=settings.PRODUCTION_PASSWORD_HASHERS):
        response = APIClient().post("/api/auth/login/", {"username": "operator", "password": "wrong"}, format="json")
        assert response.status_code == 403
    user_with_django_default_argon2.refresh_from_db()
    assert user_with_django_default_argon2.password == old
