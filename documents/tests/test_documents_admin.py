"""The admin: pages load with a bounded number of queries; status changes only through
actions that call the services, with the password asked on an intermediate page."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from core.models import Signature
from documents.tests.factories import DocumentFactory
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/documents/document/"


def test_changelist_and_change_page_load_with_few_queries(
    records_admin, admin_client_for, django_assert_max_num_queries
):
    client = admin_client_for(records_admin)
    DocumentFactory.create_batch(30)
    with django_assert_max_num_queries(12):
        assert client.get(CHANGELIST).status_code == 200
    document = DocumentFactory()
    with django_assert_max_num_queries(20):
        assert client.get(f"{CHANGELIST}{document.pk}/change/").status_code == 200
    assert client.get(f"{CHANGELIST}{document.pk}/history/").status_code == 200


def _run_action(client, document, **extra):
    data = {"action": "action_make_document_effective", ACTION_CHECKBOX_NAME: [document.pk], **extra}
    return client.post(CHANGELIST, data, follow=True)


def test_signing_action_asks_for_the_password_and_shows_the_meaning(qa_approver, admin_client_for):
    client = admin_client_for(qa_approver)
    document = DocumentFactory()
    page = _run_action(client, document)
    assert page.status_code == 200
    assert b"Meaning of this signature" in page.content
    assert b"approved" in page.content
    document.refresh_from_db()
    assert document.status == "draft"


def test_signing_action_with_the_password_signs_through_the_service(qa_approver, admin_client_for):
    client = admin_client_for(qa_approver)
    document = DocumentFactory()
    _run_action(client, document, confirm="yes", password=PASSWORD, comment="via admin")
    document.refresh_from_db()
    assert document.status == "effective"
    assert Signature.objects.get().signer == qa_approver


def test_signing_action_with_a_wrong_password_changes_nothing(qa_approver, admin_client_for):
    client = admin_client_for(qa_approver)
    document = DocumentFactory()
    page = _run_action(client, document, confirm="yes", password="wrong")
    assert b"password is not correct" in page.content
    document.refresh_from_db()
    assert document.status == "draft"
    assert Signature.objects.count() == 0


def test_delete_only_for_drafts_and_never_in_bulk(qa_approver, admin_client_for):
    from documents.services import make_document_effective

    client = admin_client_for(qa_approver)
    draft, effective = DocumentFactory(), DocumentFactory()
    make_document_effective(effective, actor=qa_approver, password=PASSWORD)
    assert client.get(f"{CHANGELIST}{effective.pk}/delete/").status_code == 403
    assert b"delete_selected" not in client.get(CHANGELIST).content
    assert client.get(f"{CHANGELIST}{draft.pk}/delete/").status_code == 403  # qa_approver may not delete


def test_signatures_are_read_only_in_the_admin(qa_approver, admin_client_for, django_user_model):
    superuser = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = admin_client_for(superuser)
    document = DocumentFactory()
    from documents.services import make_document_effective

    make_document_effective(document, actor=qa_approver, password=PASSWORD)
    signature = Signature.objects.get()
    assert client.get("/admin/core/signature/").status_code == 200
    change = client.post(f"/admin/core/signature/{signature.pk}/change/", {"comment": "forged"})
    assert change.status_code == 403
    assert client.get(f"/admin/core/signature/{signature.pk}/delete/").status_code == 403


def test_users_admin_never_deletes(records_admin, admin_client_for, operator):
    client = admin_client_for(records_admin)
    assert client.get("/admin/users/user/").status_code == 200
    assert client.get(f"/admin/users/user/{operator.pk}/change/").status_code == 200
    assert client.get(f"/admin/users/user/{operator.pk}/delete/").status_code == 403
