"""The keyed hash chain (SPEC §5): every audit row is a link of its record aggregate's chain,
verify_audit recomputes them, and key rotation keeps old links verifiable."""

import hashlib
import json
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from core.audit import install_append_only_triggers, owns_schema_tables, remove_append_only_triggers
from core.chain import aggregate_key, audit_keys, canonical_json, content_fields, link_hash, row_content
from core.models import AuditChainHead, Signature
from core.services import sign
from core.verification import verify_aggregate, verify_all, verify_anchors, write_anchor
from documents.models import Document
from documents.tests.factories import DocumentFactory
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _links(document):
    return list(document.history.order_by("history_id").values_list("chain_aggregate", "chain_seq", "chain_key_id"))


def test_history_rows_are_links_of_their_records_chain(author, site):
    document = Document(title="SOP 7", version="1.0", site=site)
    document.save(actor=author)
    document.title = "SOP 7 (revised)"
    document.save(actor=author, reason="Typo")
    key_id, _ = audit_keys()
    aggregate = aggregate_key(Document, document.pk)
    assert _links(document) == [(aggregate, 1, key_id), (aggregate, 2, key_id)]
    head = AuditChainHead.objects.get(aggregate=aggregate)
    assert (head.seq, head.hash) == (2, document.history.latest("history_id").chain_hash)
    report = verify_aggregate(aggregate)
    assert report.intact
    assert report.links == 2


def test_a_signature_is_keyed_and_joins_the_signed_records_chain(author, qa_approver):
    document = DocumentFactory()
    signature = sign(document, signer=qa_approver, password=PASSWORD, meaning="approved")
    digest = document.content_hash()
    # The stored hash is an HMAC: whoever knows only the algorithm cannot recompute it.
    assert signature.content_hash != digest
    assert signature.content_hash != hashlib.sha256(digest.encode()).hexdigest()
    assert signature.hash_key_id == audit_keys()[0]
    assert signature.is_valid_for(digest)
    assert (signature.chain_aggregate, signature.chain_seq) == (aggregate_key(Document, document.pk), 2)
    assert verify_aggregate(signature.chain_aggregate).intact


def test_a_signature_made_before_keys_stays_verifiable(qa_approver):
    document = DocumentFactory()
    legacy = Signature(record=document, signer=qa_approver, meaning="approved", content_hash=document.content_hash())
    assert legacy.hash_key_id == ""
    assert legacy.is_valid_for(document.content_hash())
    assert not legacy.is_valid_for("0" * 64)


def test_rows_of_different_records_are_in_different_chains():
    first, second = DocumentFactory(), DocumentFactory()
    assert first.history.get().chain_aggregate != second.history.get().chain_aggregate
    assert first.history.get().chain_seq == second.history.get().chain_seq == 1


def test_verify_audit_command_passes_on_an_intact_trail(author, capsys):
    DocumentFactory().save(actor=author, reason="Second version")
    call_command("verify_audit")
    assert "0 broken" in capsys.readouterr().out


ROTATED = "k1:first-secret-for-tests,k2:second-secret-for-tests"


def test_key_rotation_keeps_old_links_verifiable(author):
    with override_settings(EBR_AUDIT_KEYS="k1:first-secret-for-tests", EBR_AUDIT_KEY_ID=""):
        document = DocumentFactory()
        document.save(actor=author, reason="Under the first key")
    with override_settings(EBR_AUDIT_KEYS=ROTATED, EBR_AUDIT_KEY_ID="k2"):
        document.save(actor=author, reason="Under the second key")
        assert [key for *_, key in _links(document)] == ["k1", "k1", "k2"]
        assert verify_aggregate(aggregate_key(Document, document.pk)).intact
    # Drop the first key and its links can no longer be verified: reported, not ignored.
    with override_settings(EBR_AUDIT_KEYS="k2:second-secret-for-tests", EBR_AUDIT_KEY_ID="k2"):
        report = verify_aggregate(aggregate_key(Document, document.pk))
        assert not report.intact
        assert "key 'k1' is not configured" in report.breaks[0].problem


def test_a_signature_keyed_with_an_old_key_stays_valid_after_rotation(qa_approver):
    with override_settings(EBR_AUDIT_KEYS="k1:first-secret-for-tests", EBR_AUDIT_KEY_ID=""):
        document = DocumentFactory()
        signature = sign(document, signer=qa_approver, password=PASSWORD, meaning="approved")
    with override_settings(EBR_AUDIT_KEYS=ROTATED, EBR_AUDIT_KEY_ID="k2"):
        assert Signature.objects.get(pk=signature.pk).is_valid_for(document.content_hash())


def test_verify_audit_exits_non_zero_on_a_broken_head(author, capsys):
    document = DocumentFactory()
    aggregate = aggregate_key(Document, document.pk)
    head = AuditChainHead.objects.get(aggregate=aggregate)
    head.seq = 5
    head.save()
    with pytest.raises(CommandError) as error:
        call_command("verify_audit")
    assert error.value.returncode == 1
    out = capsys.readouterr().out
    assert f"BROKEN {aggregate}: link 5" in out
    assert "its head records link 5" in out


def test_verify_all_by_aggregate_and_since(author):
    first, second = DocumentFactory(), DocumentFactory()
    only = verify_all(aggregates=[aggregate_key(Document, first.pk)])
    assert [report.aggregate for report in only] == [aggregate_key(Document, first.pk)]
    head = AuditChainHead.objects.get(aggregate=aggregate_key(Document, second.pk))
    recent = verify_all(since=head.updated_at)
    assert aggregate_key(Document, second.pk) in [report.aggregate for report in recent]


def test_canonical_content_is_the_same_before_saving_and_after_reading(author, site):
    """Decimals, dates, JSON: the link computed from the unsaved row verifies against the
    row read back from the database."""
    document = Document(title="Ünïcode — SOP", version="2.0", description="x" * 3000, site=site)
    document.save(actor=author)
    assert verify_aggregate(aggregate_key(Document, document.pk)).intact
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'


# --- tampering: rows deleted, inserted, reordered; a chain rebuilt with the key ----------


@contextmanager
def triggers_off():
    """The attacker holding the owner's credentials switches the append-only triggers off
    (inside the test's transaction). As the runtime role the suite cannot: the same attack
    through the owner's connection is in batch_records/tests/test_audit_forgery.py."""
    if not owns_schema_tables():
        pytest.skip("tampering needs the owner role")
    remove_append_only_triggers()
    try:
        yield
    finally:
        install_append_only_triggers()


HISTORY = Document.history.model._meta.db_table


def _document_with_history(author, versions=4):
    document = DocumentFactory()
    for number in range(2, versions + 1):
        document.title = f"SOP version {number}"
        document.save(actor=author, reason=f"Version {number}")
    return document, aggregate_key(Document, document.pk)


def _history_id(document, seq):
    return document.history.get(chain_seq=seq).history_id


def test_a_deleted_history_row_is_detected(author):
    document, aggregate = _document_with_history(author)
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {HISTORY} WHERE history_id = %s", [_history_id(document, 2)])
    report = verify_aggregate(aggregate)
    assert (report.breaks[0].seq, report.breaks[0].problem) == (
        2,
        "link 2 is missing (a row was deleted or its link removed)",
    )


def test_a_history_row_cut_off_the_end_is_detected(author):
    document, aggregate = _document_with_history(author)
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {HISTORY} WHERE history_id = %s", [_history_id(document, 4)])
    report = verify_aggregate(aggregate)
    assert "the chain ends at link 3 but its head records link 4" in report.breaks[0].problem


def test_an_inserted_history_row_is_detected(author, capsys):
    document, aggregate = _document_with_history(author)
    columns = [field.column for field in Document.history.model._meta.concrete_fields if field.name != "history_id"]
    listed = ", ".join(columns)
    with connection.cursor() as cursor:
        # A copy of link 2, place and hash included, as if it had been recorded twice.
        cursor.execute(
            f"INSERT INTO {HISTORY} ({listed}) SELECT {listed} FROM {HISTORY} WHERE history_id = %s",
            [_history_id(document, 2)],
        )
    report = verify_aggregate(aggregate)
    assert report.breaks[0].problem == "two rows claim link 2 (a row was inserted or copied)"


def test_an_inserted_row_without_a_link_is_reported(author, capsys):
    document, _ = _document_with_history(author, versions=1)
    columns = [
        field.column
        for field in Document.history.model._meta.concrete_fields
        if field.name != "history_id"
        and field.name not in {"chain_aggregate", "chain_seq", "chain_key_id", "chain_hash"}
    ]
    listed = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {HISTORY} ({listed}, chain_aggregate, chain_key_id, chain_hash) "
            f"SELECT {listed}, '', '', '' FROM {HISTORY} WHERE history_id = %s",
            [_history_id(document, 1)],
        )
    with pytest.raises(CommandError):
        call_command("verify_audit")
    assert f"UNCHAINED {Document.history.model._meta.label_lower}: 1 rows carry no link" in capsys.readouterr().out


def test_reordered_history_rows_are_detected(author):
    document, aggregate = _document_with_history(author)
    second, third = _history_id(document, 2), _history_id(document, 3)
    with triggers_off(), connection.cursor() as cursor:
        # Rows 2 and 3 swap places: each takes the other's link.
        cursor.execute(f"UPDATE {HISTORY} SET chain_seq = 0 WHERE history_id = %s", [second])
        cursor.execute(f"UPDATE {HISTORY} SET chain_seq = 2 WHERE history_id = %s", [third])
        cursor.execute(f"UPDATE {HISTORY} SET chain_seq = 3 WHERE history_id = %s", [second])
    report = verify_aggregate(aggregate)
    assert report.breaks[0].seq == 2
    assert report.breaks[0].row_id == third
    assert "differs from what was chained" in report.breaks[0].problem


def test_an_anchor_catches_a_chain_rebuilt_with_the_stolen_key(author, tmp_path):
    document, aggregate = _document_with_history(author)
    call_command("audit_anchor", "--dir", str(tmp_path))
    assert verify_anchors(tmp_path) == ([], 1)
    # Later, someone with the key rewrites version 2 and recomputes every link after it.
    model = Document.history.model
    previous = ""
    with triggers_off(), connection.cursor() as cursor:
        for row in document.history.order_by("chain_seq"):
            if row.chain_seq == 2:
                row.title = "Forged title"
            values = {field.attname: getattr(row, field.attname) for field in content_fields(model)}
            previous = link_hash(
                row.chain_key_id,
                aggregate=aggregate,
                seq=row.chain_seq,
                previous=previous,
                table=model._meta.label_lower,
                content=row_content(model, values),
            )
            cursor.execute(
                f"UPDATE {HISTORY} SET title = %s, chain_hash = %s WHERE history_id = %s",
                [row.title, previous, row.history_id],
            )
        cursor.execute(
            f"UPDATE {AuditChainHead._meta.db_table} SET hash = %s WHERE aggregate = %s", [previous, aggregate]
        )
    assert verify_aggregate(aggregate).intact  # the chain alone no longer tells
    breaks, anchors = verify_anchors(tmp_path)
    assert anchors == 1
    assert breaks[0].aggregate == aggregate
    assert breaks[0].seq == 4
    assert "differs from the hash anchored in" in breaks[0].problem
    with pytest.raises(CommandError):
        call_command("verify_audit", "--anchors", "--anchor-dir", str(tmp_path))


def test_an_anchor_file_changed_by_hand_is_reported(author, tmp_path):
    _document_with_history(author, versions=2)
    path = write_anchor(tmp_path)
    anchor = json.loads(path.read_text())
    for head in anchor["heads"].values():
        head["seq"] += 1
    path.write_text(json.dumps(anchor))
    breaks, _ = verify_anchors(tmp_path)
    assert "is not signed by a configured key" in breaks[0].problem


def test_the_demo_data_made_through_every_service_verifies(capsys):
    """Batches, steps, materials, equipment, lots and their ledger, users and their groups:
    every link written by the services verifies when read back from the database."""
    call_command("seed_demo", batches=3, steps_min=4, steps_max=6, quiet=True)
    call_command("verify_audit")
    assert " 0 broken." in capsys.readouterr().out
