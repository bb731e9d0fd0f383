"""SPEC §6: expiring tokens for tablets, logout, idle expiry; /api/users/me/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _login(username, password=PASSWORD):
    return APIClient().post("/api/auth/login/", {"username": username, "password": password}, format="json")


def test_login_returns_a_working_token(operator):
    response = _login("operator")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"token", "expiry"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = client.get("/api/users/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "operator"
    assert me.json()["groups"] == ["operator"]
    assert [site["code"] for site in me.json()["sites"]] == ["S1"]


def test_wrong_password_answers_403_with_a_message(operator):
    response = _login("operator", "nope")
    assert response.status_code == 403
    assert "credentials" in response.json()["detail"]


def test_unknown_fields_in_login_are_refused(operator):
    response = APIClient().post(
        "/api/auth/login/", {"username": "operator", "password": PASSWORD, "is_superuser": True}, format="json"
    )
    assert response.status_code == 400


def test_logout_revokes_the_token(operator):
    token = _login("operator").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/users/me/").status_code == 401


def test_expired_token_answers_401(operator):
    token = _login("operator").json()["token"]
    AuthToken.objects.filter(user=operator).update(expiry=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/users/me/")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_unauthenticated_requests_answer_401_in_json(anonymous_client):
    response = anonymous_client.get("/api/users/me/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_inactive_user_cannot_log_in(operator):
    operator.is_active = False
    operator.save()
    assert _login("operator").status_code == 403


def test_lockout_after_repeated_login_failures(operator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert _login("operator", "wrong").status_code == 403
    response = _login("operator")
    assert response.status_code == 403
    assert response.json()["code"] == "account_locked"


def test_change_own_password_needs_the_old_one(operator, api_client_for):
    client = api_client_for(operator)
    refused = client.post(
        "/api/users/me/password/", {"old_password": "wrong", "new_password": "A-new-Passphrase-77"}, format="json"
    )
    assert refused.status_code == 403
    weak = client.post("/api/users/me/password/", {"old_password": PASSWORD, "new_password": "123"}, format="json")
    assert weak.status_code == 400
    changed = client.post(
        "/api/users/me/password/", {"old_password": PASSWORD, "new_password": "A-new-Passphrase-77"}, format="json"
    )
    assert changed.status_code == 200
    assert _login("operator", "A-new-Passphrase-77").status_code == 200


def test_expired_tokens_of_other_tablets_are_purged_by_command(operator):
    from django.core.management import call_command

    _login("operator")
    live = _login("operator").json()["token"]
    AuthToken.objects.filter(user=operator).exclude(token_key=live[:15]).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    call_command("purge_expired_tokens")
    assert AuthToken.objects.filter(user=operator).count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {live}")
    assert client.get("/api/users/me/").status_code == 200
