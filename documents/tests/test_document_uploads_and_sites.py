"""Issue 16, point 6: uploads have a size limit (413) and an allow-list of types checked on
extension, content type and content (400), naming the field; documents belong to a site
and other sites neither see nor change them."""

import io
import zipfile

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Document
from documents.tests.factories import DocumentFactory
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/documents/"
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _zip(*members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        for member in members:
            package.writestr(member, "<x/>")
    return buffer.getvalue()


def upload(client, name, content, content_type, **fields):
    file = SimpleUploadedFile(name, content, content_type=content_type)
    return client.post(URL, {"title": "SOP upload", **fields, "file": file}, format="multipart")


def test_default_upload_limit_is_25_mb():
    assert django_settings.EBR_UPLOAD_MAX_BYTES == 25 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("sop.pdf", PDF, "application/pdf"),
        ("scan.png", PNG, "image/png"),
        ("photo.JPG", b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image/jpeg"),
        ("procedure.docx", _zip("[Content_Types].xml", "word/document.xml"), DOCX),
        ("legacy.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32, "application/vnd.ms-excel"),
        ("sheet.ods", _zip("mimetype", "content.xml"), "application/vnd.oasis.opendocument.spreadsheet"),
    ],
)
def test_allowed_document_types_are_accepted(author, api_client_for, name, content, content_type):
    response = upload(api_client_for(author), name, content, content_type)
    assert response.status_code == 201, response.json()
    assert response.json()["file"]


@pytest.mark.parametrize(
    ("name", "content", "content_type", "problem"),
    [
        ("tool.exe", b"MZ" + b"\x00" * 32, "application/octet-stream", "not accepted"),
        ("page.html", b"<html></html>", "text/html", "not accepted"),
        ("noextension", PDF, "application/pdf", "not accepted"),
        ("sop.pdf", PDF, "text/html", "must be sent as application/pdf"),
        ("sop.pdf", b"<html><script>alert(1)</script></html>", "application/pdf", "not a .pdf file"),
        ("scan.png", PDF, "image/png", "not a .png file"),
        ("procedure.docx", b"PK\x03\x04 not really a zip", DOCX, "not a .docx file"),
        ("procedure.docx", _zip("evil.sh"), DOCX, "not a .docx file"),
    ],
)
def test_other_types_or_mismatched_files_are_refused_naming_the_field(
    author, api_client_for, name, content, content_type, problem
):
    response = upload(api_client_for(author), name, content, content_type)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["file"]
    assert problem in body["errors"]["file"][0]
    assert not Document.objects.exists()
    assert not Document.history.exists()


def test_an_upload_over_the_limit_is_413_and_nothing_is_stored(settings, author, api_client_for):
    settings.EBR_UPLOAD_MAX_BYTES = 1024
    response = upload(api_client_for(author), "sop.pdf", PDF + b"\x00" * 2048, "application/pdf")
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "invalid"
    assert "file" in body["errors"]
    assert "1024 bytes" in body["detail"]
    assert not Document.objects.exists()
    assert not Document.history.exists()


def test_replacing_the_file_of_a_draft_is_checked_too(settings, author, api_client_for):
    document = DocumentFactory()
    client = api_client_for(author)
    file = SimpleUploadedFile("evil.html", b"<html></html>", content_type="text/html")
    response = client.patch(f"{URL}{document.pk}/", {"file": file}, format="multipart")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["file"]
    settings.EBR_UPLOAD_MAX_BYTES = 10
    file = SimpleUploadedFile("sop.pdf", PDF, content_type="application/pdf")
    assert client.patch(f"{URL}{document.pk}/", {"file": file}, format="multipart").status_code == 413


# --- site scoping ---------------------------------------------------------------------------


@pytest.fixture
def author_elsewhere(other_site):
    from django.contrib.auth.models import Group

    from users.roles import AUTHOR, QA_APPROVER
    from users.tests.factories import UserFactory

    user = UserFactory(username="author_elsewhere")
    user.groups.set(Group.objects.filter(name__in=[AUTHOR, QA_APPROVER]))
    user.sites.add(other_site)
    return user


def test_another_sites_user_cannot_see_change_or_delete_a_draft(author_elsewhere, site, api_client_for):
    document = DocumentFactory(site=site)
    client = api_client_for(author_elsewhere)
    assert client.get(URL).json()["count"] == 0
    assert client.get(f"{URL}{document.pk}/").status_code == 404
    assert client.patch(f"{URL}{document.pk}/", {"title": "Taken over"}, format="json").status_code == 404
    assert client.delete(f"{URL}{document.pk}/").status_code == 404
    signing = client.post(f"{URL}{document.pk}/make_effective/", {"password": PASSWORD}, format="json")
    assert signing.status_code == 404
    document.refresh_from_db()
    assert document.title != "Taken over"
    assert document.status == "draft"


def test_own_sites_author_still_deletes_a_draft(author, api_client_for):
    document = DocumentFactory()
    assert api_client_for(author).delete(f"{URL}{document.pk}/").status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()


def test_a_new_document_is_kept_by_the_authors_only_site(author, site, api_client_for):
    response = api_client_for(author).post(URL, {"title": "SOP-1"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["site"] == site.pk
    assert response.json()["site_code"] == site.code


def test_an_author_of_several_sites_names_one_of_theirs(author, site, other_site, api_client_for):
    client = api_client_for(author)
    author.sites.add(other_site)
    unnamed = client.post(URL, {"title": "SOP-2"}, format="json")
    assert unnamed.status_code == 400
    assert list(unnamed.json()["errors"]) == ["site"]
    named = client.post(URL, {"title": "SOP-2", "site": other_site.pk}, format="json")
    assert named.status_code == 201
    assert named.json()["site"] == other_site.pk


def test_a_site_not_ones_own_is_refused(author, other_site, api_client_for):
    response = api_client_for(author).post(URL, {"title": "SOP-3", "site": other_site.pk}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["site"]
    assert not Document.objects.exists()


def test_a_document_stays_at_its_site(author, other_site, api_client_for):
    author.sites.add(other_site)
    document = DocumentFactory()
    response = api_client_for(author).patch(f"{URL}{document.pk}/", {"site": other_site.pk}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["site"]


def test_a_body_larger_than_any_accepted_upload_is_refused_before_it_is_read(settings, author, api_client_for):
    settings.EBR_UPLOAD_MAX_BYTES = 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = upload(api_client_for(author), "sop.pdf", PDF + b"\x00" * 4096, "application/pdf")
    assert response.status_code == 413
    assert list(response.json()["errors"]) == ["body"]
    assert not Document.objects.exists()
