"""Fixtures that reach batch states through the services, as a user would."""

from decimal import Decimal
from itertools import count

import pytest

from batch_records.tests.factories import MasterBatchRecordFactory
from users.tests.factories import PASSWORD

_numbers = count(1)


@pytest.fixture
def make_draft_mbr(author):
    def make(**fields):
        return MasterBatchRecordFactory(author=author, **fields)

    return make


@pytest.fixture
def make_approved_mbr(make_draft_mbr, author, qa_approver):
    """An MBR submitted by its author and approved (signed) by a QA approver."""

    def make(**fields):
        from batch_records.services.mbr import approve_mbr, submit_mbr

        mbr = make_draft_mbr(**fields)
        mbr = submit_mbr(mbr, actor=author)
        return approve_mbr(mbr, actor=qa_approver, password=PASSWORD)

    return make


@pytest.fixture
def make_batch(make_approved_mbr, verifier, site):
    """A pending batch created by a supervisor from an approved MBR."""

    def make(mbr=None, **fields):
        from batch_records.services.batches import create_batch

        number = next(_numbers)
        values = {
            "batch_number": f"B{number:05d}",
            "lot_number": f"L{number:05d}",
            "quantity_planned": Decimal("100"),
            "site": site,
            **fields,
        }
        return create_batch(mbr or make_approved_mbr(), actor=verifier, **values)

    return make


@pytest.fixture
def make_started_batch(make_batch, operator):
    def make(mbr=None, **fields):
        from batch_records.services.batches import start_batch

        return start_batch(make_batch(mbr, **fields), actor=operator)

    return make
