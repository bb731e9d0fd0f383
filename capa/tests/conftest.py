import pytest

from capa import services
from capa.tests.factories import CAPAFactory
from users.tests.factories import PASSWORD


@pytest.fixture
def make_capa(site, operator, qa_reviewer):
    """An open CAPA opened by QA at `site`, owned by the operator unless told otherwise."""

    def make(**fields):
        capa = CAPAFactory.build(**{"site": site, "owner": operator, **fields})
        capa.save(actor=qa_reviewer)
        return capa

    return make


@pytest.fixture
def make_in_progress_capa(make_capa, qa_reviewer):
    def make(**fields):
        return services.start_capa(make_capa(**fields), actor=qa_reviewer)

    return make


@pytest.fixture
def make_capa_in_effectiveness_check(make_in_progress_capa, qa_reviewer):
    def make(**fields):
        return services.check_capa_effectiveness(make_in_progress_capa(**fields), actor=qa_reviewer)

    return make


@pytest.fixture
def make_closed_capa(make_capa_in_effectiveness_check, qa_approver):
    def make(**fields):
        capa = make_capa_in_effectiveness_check(
            **{"effectiveness_result": "No recurrence in 3 months of audits.", **fields}
        )
        return services.close_capa(capa, actor=qa_approver, password=PASSWORD)

    return make
