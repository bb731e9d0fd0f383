"""Account lockout as a tablet sees it, and the unlock by a records administrator (issue 23):
attempts remaining, locked until when (UTC), and a signed, audited unlock through the API."""

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import Signature
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
PASSWORD_CHANGE = "/api/users/me/password/"
NEW_PASSWORD = "A-new-Passphrase-77"


def _wrong_signature(client):
    return client.post(PASSWORD_CHANGE, {"old_password": "wrong", "new_password": NEW_PASSWORD}, format="json")


def _login(username, password=PASSWORD):
    return APIClient().post("/api/auth/login/", {"username": username, "password": password}, format="json")


def _lock(client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        last = _wrong_signature(client)
    return last


def _unlock(client, user, **body):
    return client.post(f"/api/users/{user.pk}/unlock/", {"password": PASSWORD, **body}, format="json")


def test_a_wrong_password_says_how_many_attempts_remain_then_until_when(operator, api_client_for):
    client = api_client_for(operator)
    limit = settings.AXES_FAILURE_LIMIT
    for failed in range(1, limit):
        response = _wrong_signature(client)
        assert response.status_code == 403
        left = limit - failed
        assert response.json()["detail"] == (
            "The password is not correct; nothing was signed or changed. "
            f"{left} attempt{'s' if left != 1 else ''} left before the account is locked."
        )
        assert response.json()["code"] == "bad_password"
    before = timezone.now()
    response = _wrong_signature(client)
    after = timezone.now()
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "account_locked"
    prefix = (
        "The password is not correct; nothing was signed or changed. "
        "This account is locked after repeated failed attempts until "
    )
    assert body["detail"].startswith(prefix)
    assert body["detail"].endswith("Z (UTC).")
    until = datetime.fromisoformat(body["detail"][len(prefix) : -len(" (UTC).")].replace("Z", "+00:00"))
    cool_off = settings.AXES_COOLOFF_TIME
    assert before + cool_off - timedelta(seconds=1) <= until <= after + cool_off
    # Login and any signature then say until when, exactly.
    expected = (
        f"This account is locked after repeated failed attempts until {until.isoformat().replace('+00:00', 'Z')} (UTC)."
    )
    login = _login("operator")
    assert (login.status_code, login.json()["detail"], login.json()["code"]) == (403, expected, "account_locked")
    signing = client.post(PASSWORD_CHANGE, {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")
    assert (signing.status_code, signing.json()["detail"]) == (403, expected)


def test_records_admin_unlocks_with_a_signed_reason(operator, records_admin, api_client_for):
    _lock(api_client_for(operator))
    assert _login("operator").status_code == 403
    response = _unlock(api_client_for(records_admin), operator, reason="Identity confirmed by phone (ticket 4711)")
    assert response.status_code == 200, response.json()
    assert response.json()["username"] == "operator"
    assert _login("operator").status_code == 200
    [signature] = Signature.objects.filter(meaning="unlocked")
    assert (signature.signer, signature.record, signature.comment) == (
        records_admin,
        operator,
        "Identity confirmed by phone (ticket 4711)",
    )
    [unlocked] = operator.history.filter(history_user=records_admin)
    assert unlocked.history_change_reason == "Account unlocked: Identity confirmed by phone (ticket 4711)"
    # The counters start again from zero.
    assert "4 attempts left" in _wrong_signature(api_client_for(operator)).json()["detail"]


def test_unlock_needs_the_reason(operator, records_admin, api_client_for):
    _lock(api_client_for(operator))
    response = _unlock(api_client_for(records_admin), operator, reason="  ")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert _login("operator").status_code == 403


def test_unlock_with_a_wrong_password_leaves_the_account_locked(operator, records_admin, api_client_for):
    _lock(api_client_for(operator))
    response = api_client_for(records_admin).post(
        f"/api/users/{operator.pk}/unlock/", {"password": "wrong", "reason": "Confirmed"}, format="json"
    )
    assert response.status_code == 403
    assert _login("operator").status_code == 403
    assert not Signature.objects.filter(meaning="unlocked").exists()


@pytest.mark.parametrize("role", ["operator2", "verifier", "qa_approver"])
def test_only_records_admins_unlock(role, operator, api_client_for, request):
    _lock(api_client_for(operator))
    response = _unlock(api_client_for(request.getfixturevalue(role)), operator, reason="Confirmed")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Unlocking an account is for records administrators (permission users.unlock_user)."
    )
    assert _login("operator").status_code == 403


def test_an_account_not_locked_is_a_409(operator, records_admin, api_client_for):
    response = _unlock(api_client_for(records_admin), operator, reason="Confirmed")
    assert response.status_code == 409
    assert response.json()["detail"] == "The account operator is not locked: nothing to unlock."


def test_nobody_unlocks_their_own_account(records_admin, api_client_for):
    response = _unlock(api_client_for(records_admin), records_admin, reason="Mine")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "You cannot unlock your own account: another records administrator must do it."
    )


def test_records_admin_unlocks_in_the_admin(operator, records_admin, api_client_for, admin_client_for):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    _lock(api_client_for(operator))
    payload = {
        "action": "action_unlock_account",
        ACTION_CHECKBOX_NAME: [operator.pk],
        "confirm": "yes",
        "password": PASSWORD,
        "reason": "Identity confirmed at the desk",
    }
    page = admin_client_for(records_admin).post("/admin/users/user/", payload, follow=True)
    assert page.status_code == 200
    assert _login("operator").status_code == 200
    [signature] = Signature.objects.filter(meaning="unlocked")
    assert (signature.signer, signature.comment) == (records_admin, "Identity confirmed at the desk")
