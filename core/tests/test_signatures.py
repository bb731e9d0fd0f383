"""SPEC §4 / 21 CFR Part 11: one signature service, re-authentication, lockout, hashes."""

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from config import settings as production_settings
from core.exceptions import AuditBypassError, SignatureRejected
from core.models import Signature
from core.services import sign, verify_signatures
from documents.tests.factories import DocumentFactory
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_argon2_is_the_production_password_hasher():
    assert production_settings.PASSWORD_HASHERS[0] == "users.hashers.Argon2idRFC9106Hasher"


def test_sign_records_manifestation_and_hash(qa_approver):
    document = DocumentFactory()
    signature = sign(document, signer=qa_approver, password=PASSWORD, meaning="approved", comment="ok")
    assert signature.signer == qa_approver
    assert signature.signer_username == "qa_approver"
    assert signature.signer_full_name == "Qa Approver Tester"
    assert signature.meaning == "approved"
    assert signature.record_status == "draft"
    assert signature.comment == "ok"
    assert signature.is_valid_for(document.content_hash())  # keyed: see test_audit_chain
    assert len(signature.content_hash) == 64
    assert signature.signed_at.tzinfo is not None


def test_wrong_password_signs_nothing(qa_approver):
    document = DocumentFactory()
    with pytest.raises(SignatureRejected):
        sign(document, signer=qa_approver, password="wrong", meaning="approved")
    assert Signature.objects.count() == 0


def test_another_users_password_never_signs(qa_approver, operator):
    operator.set_password("Operators-Own-Secret-1")
    operator.save()
    document = DocumentFactory()
    with pytest.raises(SignatureRejected):
        sign(document, signer=qa_approver, password="Operators-Own-Secret-1", meaning="approved")


def test_username_sent_with_the_password_must_be_the_signer(qa_approver):
    document = DocumentFactory()
    with pytest.raises(SignatureRejected):
        sign(document, signer=qa_approver, password=PASSWORD, meaning="approved", username="operator")
    sign(document, signer=qa_approver, password=PASSWORD, meaning="approved", username="qa_approver")


def test_inactive_user_cannot_sign(qa_approver):
    qa_approver.is_active = False
    qa_approver.save()
    with pytest.raises(SignatureRejected):
        sign(DocumentFactory(), signer=qa_approver, password=PASSWORD, meaning="approved")


def test_unknown_meaning_is_refused(qa_approver):
    with pytest.raises(ValueError):
        sign(DocumentFactory(), signer=qa_approver, password=PASSWORD, meaning="liked")


def test_lockout_after_failures_blocks_signing_and_login_then_unlocks(qa_approver, api_client_for, freezer_cache):
    document = DocumentFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(SignatureRejected):
            sign(document, signer=qa_approver, password="wrong", meaning="approved")

    # Now even the right password is refused, for signing and for login.
    with pytest.raises(SignatureRejected) as refused:
        sign(document, signer=qa_approver, password=PASSWORD, meaning="approved")
    assert refused.value.code == "account_locked"
    response = api_client_for(qa_approver).post(
        "/api/auth/login/", {"username": "qa_approver", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "account_locked"

    # After the cool-off window the counters expire and the account works again.
    freezer_cache.expire_all()
    sign(document, signer=qa_approver, password=PASSWORD, meaning="approved")


def test_hash_changes_with_signed_content_and_valid_turns_false(qa_approver):
    document = DocumentFactory()
    sign(document, signer=qa_approver, password=PASSWORD, meaning="approved")
    assert [valid for _, valid in verify_signatures(document)] == [True]

    document.title = "Changed after signing"
    document.save()
    assert [valid for _, valid in verify_signatures(document)] == [False]


def test_a_signature_cannot_be_moved_to_another_record(qa_approver):
    first, second = (
        DocumentFactory(title="same", url="https://dms.example.com/x"),
        DocumentFactory(title="same", url="https://dms.example.com/x"),
    )
    sign(first, signer=qa_approver, password=PASSWORD, meaning="approved")
    assert first.content_hash() != second.content_hash()


def test_signatures_cannot_be_changed_through_the_orm(qa_approver):
    signature = sign(DocumentFactory(), signer=qa_approver, password=PASSWORD, meaning="approved")
    signature.comment = "edited"
    with pytest.raises(AuditBypassError):
        signature.save()
    with pytest.raises(AuditBypassError):
        signature.delete()
    with pytest.raises(AuditBypassError):
        Signature.objects.filter(pk=signature.pk).update(comment="edited")
    with pytest.raises(AuditBypassError):
        Signature.objects.all().delete()


@pytest.mark.parametrize("statement", ["UPDATE core_signature SET comment = 'x'", "DELETE FROM core_signature"])
def test_signatures_cannot_be_changed_with_raw_sql(qa_approver, statement):
    sign(DocumentFactory(), signer=qa_approver, password=PASSWORD, meaning="approved")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert Signature.objects.get().comment == ""
