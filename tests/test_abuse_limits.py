"""Issue 16, point 5: abuse limits cannot be dodged by a header, and do not stop honest
work. Throttles and the lockout identify a client by the address the configured proxies
report (NUM_PROXIES), never by a client-sent X-Forwarded-For alone; only signing actions
count against the signature throttle, at the real rates."""

import pytest
from axes.helpers import get_client_ip_address
from django.conf import settings as django_settings
from django.test import RequestFactory
from rest_framework.throttling import SimpleRateThrottle

from batch_records.models import BatchStep
from conftest import PASSWORD
from users.client_address import client_ip

LOGIN_URL = "/api/auth/login/"


def _login_limit():
    return int(django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"].split("/")[0])


def _signature_limit():
    rate = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["signature"]
    assert rate.endswith("/min"), "the pace below is computed for a per-minute rate"
    return int(rate.split("/")[0])


class FakeClock:
    """The throttles' clock, moved by the test (the rates themselves are the real ones)."""

    def __init__(self, monkeypatch, start=1_800_000_000.0):
        self.now = start
        monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: self.now))

    def advance(self, seconds):
        self.now += seconds


@pytest.mark.django_db
def test_login_throttle_is_not_dodged_by_a_forged_forwarded_for(anonymous_client, monkeypatch):
    FakeClock(monkeypatch)
    statuses = []
    for attempt in range(_login_limit() + 1):
        response = anonymous_client.post(
            LOGIN_URL,
            {"username": "nobody", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}",
        )
        statuses.append(response.status_code)
    assert 429 not in statuses[:-1]
    assert statuses[-1] == 429
    assert response.json()["code"] == "throttled"


@pytest.mark.django_db
def test_behind_one_proxy_the_address_it_reports_is_the_client(settings, anonymous_client, monkeypatch):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    FakeClock(monkeypatch)
    limit = _login_limit()
    # One client behind the proxy, forging a different left-hand entry each time: counted as one.
    for attempt in range(limit):
        response = anonymous_client.post(
            LOGIN_URL,
            {"username": "nobody", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}, 192.0.2.10",
        )
        assert response.status_code != 429
    forged = anonymous_client.post(
        LOGIN_URL,
        {"username": "nobody", "password": "wrong"},
        format="json",
        HTTP_X_FORWARDED_FOR="1.1.1.1, 192.0.2.10",
    )
    assert forged.status_code == 429
    # Another client behind the same proxy has its own count.
    other = anonymous_client.post(
        LOGIN_URL, {"username": "nobody", "password": "wrong"}, format="json", HTTP_X_FORWARDED_FOR="192.0.2.11"
    )
    assert other.status_code != 429


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        (0, None, "10.0.0.1"),
        (0, "203.0.113.9", "10.0.0.1"),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, None, "10.0.0.1"),
    ],
)
def test_throttles_and_lockout_share_one_client_address_rule(settings, num_proxies, forwarded_for, expected):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().post(LOGIN_URL, REMOTE_ADDR="10.0.0.1", **headers)
    assert client_ip(request) == expected
    assert get_client_ip_address(request) == expected  # django-axes, through AXES_CLIENT_IP_CALLABLE


@pytest.fixture
def ninety_step_batch(make_approved_mbr, make_batch, operator):
    from batch_records.services.batches import start_batch

    instructions = [
        {
            "step_number": number,
            "instruction_text": f"Process step {number}.",
            "required_data_fields": [{"name": "temperature", "type": "number", "unit": "°C"}],
            "specifications": {"temperature": {"min": 15, "max": 25}},
            "requires_verification": False,
        }
        for number in range(1, 91)
    ]
    batch = start_batch(make_batch(make_approved_mbr(manufacturing_instructions=instructions)), actor=operator)
    return list(BatchStep.objects.filter(batch=batch).order_by("step_number"))


def _start_and_complete(client, step):
    started = client.post(f"/api/batch_records/batch-steps/{step.pk}/start/", {}, format="json")
    completed = client.post(
        f"/api/batch_records/batch-steps/{step.pk}/complete/",
        {"actual_values": {"temperature": "20.5"}, "password": PASSWORD},
        format="json",
    )
    return started, completed


@pytest.mark.django_db
def test_operator_at_shop_floor_pace_is_never_throttled(api_client_for, operator, ninety_step_batch, monkeypatch):
    """A 90-step batch in 10 minutes: 90 starts and 90 signed completions, at the real
    rates."""
    clock = FakeClock(monkeypatch)
    client = api_client_for(operator)
    seconds_per_step = 10 * 60 / len(ninety_step_batch)
    for step in ninety_step_batch:
        started, completed = _start_and_complete(client, step)
        assert started.status_code == 200, started.json()
        assert completed.status_code == 200, completed.json()
        clock.advance(seconds_per_step)
    assert not BatchStep.objects.filter(batch=ninety_step_batch[0].batch).exclude(status="completed").exists()


@pytest.mark.django_db
def test_unsigned_actions_do_not_count_against_the_signature_throttle(
    api_client_for, operator, ninety_step_batch, monkeypatch
):
    """Within one minute, starts are free; the signed completions are counted, and the
    one over the rate is refused."""
    FakeClock(monkeypatch)  # time stands still: everything below happens in one minute
    client = api_client_for(operator)
    limit = _signature_limit()
    assert len(ninety_step_batch) > limit
    for step in ninety_step_batch[:limit]:
        started, completed = _start_and_complete(client, step)
        assert started.status_code == 200, started.json()
        assert completed.status_code == 200, completed.json()
    started, completed = _start_and_complete(client, ninety_step_batch[limit])
    assert started.status_code == 200, "starting signs nothing and is not throttled"
    assert completed.status_code == 429
    assert completed.json()["code"] == "throttled"
    assert "Retry-After" in completed
