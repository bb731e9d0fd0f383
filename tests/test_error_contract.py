"""Issue 16, point 4: every error is JSON with `detail` and `code`, whatever the status and
the input; an unhandled error is a JSON 500 carrying the request id that its log line
carries; a dropped database connection is replaced before the next request uses it."""

import io
import json
import logging
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator

from batch_records.models import BatchStep
from batch_records.services.steps import complete_step, start_step
from conftest import PASSWORD
from core.api import exceptions as api_exceptions
from core.request_id import HEADER
from documents.api.views import DocumentViewSet

BAD_IDS = ["abc", "1.5", "0x1", "-1", "%00", "99999999999999999999999", "999999"]


def assert_json_error(response, status):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["detail"]
    assert body["code"]
    return body


def _paths_with_id():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        if "{" in path:
            for method in operations:
                if method in ("get", "post", "put", "patch", "delete"):
                    yield path, method


@pytest.mark.django_db
def test_bad_or_unknown_id_is_json_404_on_every_route(api_client_for, all_roles_user, started_batch):
    client = api_client_for(all_roles_user)
    checked = 0
    for path, method in _paths_with_id():
        for bad in BAD_IDS:
            cache.clear()  # the signature throttle is not what this test is about
            url = re.sub(r"\{[^}]+\}", bad, path)
            response = getattr(client, method)(url, {}, format="json")
            assert_json_error(response, 404)
            checked += 1
    assert checked > 100


@pytest.mark.django_db
def test_export_of_non_numeric_batch_id_is_json_404(api_client_for, all_roles_user):
    client = api_client_for(all_roles_user)
    url = "/api/batch_records/batch-records/abc/export/"
    assert_json_error(client.get(url), 404)
    assert_json_error(client.get(url + "?format=pdf"), 404)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_path_is_json_404_in_debug_and_production(settings, api_client_for, all_roles_user, debug):
    settings.DEBUG = debug
    client = api_client_for(all_roles_user)
    assert_json_error(client.get("/api/no-such-resource/"), 404)
    assert_json_error(client.post("/api/documents/1/no-such-action/", {}, format="json"), 404)


@pytest.mark.django_db
def test_admin_keeps_its_html_404(admin_client_for, records_admin):
    response = admin_client_for(records_admin).get("/admin/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_unhandled_error_is_json_500_with_the_logged_request_id(monkeypatch, api_client_for, all_roles_user, caplog):
    def broken(self, request, *args, **kwargs):
        raise RuntimeError("something the code did not expect")

    monkeypatch.setattr(DocumentViewSet, "list", broken)
    client = api_client_for(all_roles_user)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/documents/")
    body = assert_json_error(response, 500)
    assert body["code"] == "server_error"
    assert body["request_id"] == response[HEADER]
    assert "something the code did not expect" not in response.content.decode()
    logged = [record for record in caplog.records if record.exc_info and record.name == "ebr.api"]
    assert logged, "the traceback is logged"
    assert logged[0].request_id == body["request_id"]


@pytest.mark.django_db
def test_unhandled_error_on_a_write_keeps_nothing(monkeypatch, api_client_for, author):
    from documents.models import Document

    def broken(self, serializer):
        serializer.save()
        raise RuntimeError("after the save")

    monkeypatch.setattr(DocumentViewSet, "perform_create", broken)
    response = api_client_for(author).post("/api/documents/", {"title": "Kept?"}, format="json")
    assert_json_error(response, 500)
    assert not Document.objects.exists()
    assert not Document.history.exists()


@pytest.mark.parametrize("status", [400, 403, 404, 500])
def test_django_error_handlers_answer_json_for_the_api_and_html_elsewhere(status):
    request = RequestFactory().get("/api/anything/")
    request.request_id = "req-12345678"
    handler = {
        400: lambda r: api_exceptions.bad_request(r, Exception()),
        403: lambda r: api_exceptions.permission_denied(r, Exception()),
        404: lambda r: api_exceptions.page_not_found(r, Exception()),
        500: api_exceptions.server_error,
    }[status]
    response = handler(request)
    assert response.status_code == status
    body = json.loads(response.content)
    assert body["detail"]
    assert body["code"]
    if status == 500:
        assert body["request_id"] == "req-12345678"
    html = handler(RequestFactory().get("/admin/anything/"))
    assert html.status_code == status
    assert not html["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_request_id_is_answered_and_a_safe_client_id_kept(api_client_for, all_roles_user):
    client = api_client_for(all_roles_user)
    generated = client.get("/api/documents/")[HEADER]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/api/documents/", HTTP_X_REQUEST_ID="lb-7f3a9c01-0001")[HEADER] == "lb-7f3a9c01-0001"
    for unsafe in ["short", "x" * 200, "abc def ghi jkl", "id\r\nSet-Cookie: a=b", "../../../etc/passwd"]:
        answered = client.get("/api/documents/", HTTP_X_REQUEST_ID=unsafe)[HEADER]
        assert answered != unsafe
        assert re.fullmatch(r"[0-9a-f]{32}", answered)


@pytest.mark.django_db
def test_oversized_body_is_json_413(settings, api_client_for, author):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_client_for(author).post("/api/documents/", {"title": "x" * 20_000}, format="json")
    body = assert_json_error(response, 413)
    assert "body" in body["errors"]


@pytest.mark.django_db
def test_huge_exponent_in_a_signed_step_value_is_refused_and_nothing_stored(api_client_for, operator, started_batch):
    """The value `1e100000000` written out is a 100 MB string; it once went into the
    append-only history of a signed step."""
    step = BatchStep.objects.filter(batch=started_batch).order_by("step_number").first()
    client = api_client_for(operator)
    assert client.post(f"/api/batch_records/batch-steps/{step.pk}/start/", {}, format="json").status_code == 200
    names = [field["name"] for field in step.required_data_fields]
    history_before = BatchStep.history.count()
    for hostile in ('"1e100000000"', "1e100000000", '"-1E+999999999"', "1" * 5000, '"0E-99999999"'):
        values = ", ".join(f'"{name}": {hostile}' for name in names) or f'"value": {hostile}'
        body = f'{{"actual_values": {{{values}}}, "password": "{PASSWORD}"}}'
        response = client.generic(
            "POST",
            f"/api/batch_records/batch-steps/{step.pk}/complete/",
            body,
            content_type="application/json",
        )
        body = assert_json_error(response, 400)
        assert "actual_values" in body["detail"]
    step.refresh_from_db()
    assert step.status == "in_progress"
    assert BatchStep.history.count() == history_before


@pytest.mark.django_db
def test_step_values_within_limits_are_kept_exactly(operator, started_batch):
    step = BatchStep.objects.filter(batch=started_batch).order_by("step_number").first()
    start_step(step, actor=operator)
    values = {field["name"]: "123456789012345678901234567890" for field in step.required_data_fields}
    if not values:
        pytest.skip("the first step records no value")
    step = complete_step(step, actor=operator, password=PASSWORD, actual_values=values)
    assert set(step.actual_values.values()) == {"123456789012345678901234567890"}
    assert Decimal(next(iter(step.actual_values.values()))) == Decimal("123456789012345678901234567890")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_next_request_works_after_the_database_dropped_the_connection(all_roles_user):
    """CONN_HEALTH_CHECKS: the connection kept between requests (CONN_MAX_AGE) is
    terminated by the database, as a restart or failover does; the next request notices
    and reconnects instead of answering 500. Served in-process through the WSGI handler
    with Django's request signals connected, as a production worker serves."""
    from django.db import connections
    from knox.models import AuthToken

    from config.wsgi import application

    _, token = AuthToken.objects.create(user=all_roles_user)

    def get():
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/api/documents/",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": io.StringIO(),
            "HTTP_AUTHORIZATION": f"Token {token}",
        }
        statuses = []
        body = b"".join(application(environ, lambda status, headers: statuses.append(status)))
        return int(statuses[0].split()[0]), body

    assert get()[0] == 200
    assert connection.connection is not None, "the connection is kept between requests"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone()[0] is True
    finally:
        other.close()
    status, body = get()
    assert status == 200, body[:300]
    assert get()[0] == 200


def test_health_checks_are_on():
    from django.conf import settings

    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
