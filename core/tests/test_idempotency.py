"""SPEC §6 / issue 8: POST actions honour Idempotency-Key (flaky Wi-Fi retries)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.models import IdempotencyKey, Signature
from core.testing import run_concurrently
from documents.models import Document
from documents.tests.factories import DocumentFactory
from users.tests.factories import PASSWORD

URL = "/api/documents/"


@pytest.mark.django_db
def test_retried_create_returns_the_first_response_and_creates_once(author, api_client_for):
    client = api_client_for(author)
    first = client.post(URL, {"title": "SOP"}, HTTP_IDEMPOTENCY_KEY="k-1")
    retry = client.post(URL, {"title": "SOP"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Document.objects.count() == 1


@pytest.mark.django_db
def test_retried_signing_action_signs_once(qa_approver, api_client_for):
    document = DocumentFactory()
    client = api_client_for(qa_approver)
    path = f"{URL}{document.pk}/make_effective/"
    first = client.post(path, {"password": PASSWORD}, HTTP_IDEMPOTENCY_KEY="sign-1")
    retry = client.post(path, {"password": PASSWORD}, HTTP_IDEMPOTENCY_KEY="sign-1")
    assert first.status_code == retry.status_code == 200
    assert Signature.objects.count() == 1
    # Without the key, the same request is a new attempt and the workflow refuses it.
    assert client.post(path, {"password": PASSWORD}).status_code == 409


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(author, api_client_for):
    client = api_client_for(author)
    client.post(URL, {"title": "A"}, HTTP_IDEMPOTENCY_KEY="k-2")
    response = client.post(URL, {"title": "B"}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert Document.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_user(author, records_admin, api_client_for):
    api_client_for(author).post(URL, {"title": "A"}, HTTP_IDEMPOTENCY_KEY="shared")
    other = api_client_for(records_admin).post(URL, {"title": "A"}, HTTP_IDEMPOTENCY_KEY="shared")
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other
    assert Document.objects.count() == 2


@pytest.mark.django_db
def test_a_failed_request_stores_nothing_and_can_be_retried(qa_approver, api_client_for):
    document = DocumentFactory()
    client = api_client_for(qa_approver)
    path = f"{URL}{document.pk}/make_effective/"
    assert client.post(path, {"password": "typo"}, HTTP_IDEMPOTENCY_KEY="k-3").status_code == 403
    assert IdempotencyKey.objects.count() == 0
    assert client.post(path, {"password": PASSWORD}, HTTP_IDEMPOTENCY_KEY="k-3").status_code == 200


@pytest.mark.django_db
def test_expired_keys_are_forgotten_and_purged(author, api_client_for):
    client = api_client_for(author)
    client.post(URL, {"title": "A"}, HTTP_IDEMPOTENCY_KEY="old")
    stored = IdempotencyKey.objects.get()
    stored.created_at = timezone.now() - timedelta(hours=25)
    stored.save()
    assert client.post(URL, {"title": "A"}, HTTP_IDEMPOTENCY_KEY="old").status_code == 201
    assert Document.objects.count() == 2

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    call_command("purge_idempotency_keys")
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_do_the_work_once(author):
    from conftest import client_for

    clients = [client_for(author) for _ in range(8)]

    def post(index):
        return clients[index].post(URL, {"title": "once"}, HTTP_IDEMPOTENCY_KEY="burst").status_code

    codes = [code for code, error in run_concurrently(post, 8)]
    assert Document.objects.count() == 1
    assert set(codes) <= {201, 409}
    assert codes.count(201) >= 1


@pytest.mark.django_db
def test_multipart_upload_with_a_key_is_replayed_by_file_content(author, api_client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api_client_for(author)

    def upload(content):
        data = {"title": "SOP scan", "file": SimpleUploadedFile("sop.pdf", content, "application/pdf")}
        return client.post(URL, data, format="multipart", HTTP_IDEMPOTENCY_KEY="upload-1")

    assert upload(b"%PDF-1.4 first").status_code == 201
    assert upload(b"%PDF-1.4 first")["Idempotent-Replayed"] == "true"
    assert upload(b"%PDF-1.4 other").status_code == 422
    assert Document.objects.count() == 1
