import pytest

from deviations import services
from deviations.tests.factories import DeviationFactory
from users.tests.factories import PASSWORD


@pytest.fixture
def make_deviation(site, operator):
    """A deviation reported by the operator at `site` (open)."""

    def make(**fields):
        deviation = DeviationFactory.build(**{"site": site, **fields})
        deviation.save(actor=operator)
        return deviation

    return make


@pytest.fixture
def make_investigating_deviation(make_deviation, qa_reviewer):
    def make(**fields):
        return services.investigate_deviation(make_deviation(**fields), actor=qa_reviewer)

    return make


@pytest.fixture
def make_closed_deviation(make_investigating_deviation, qa_approver):
    def make(**fields):
        deviation = make_investigating_deviation(
            **{"root_cause": "Worn thermostat", "conclusion": "No product impact; thermostat replaced", **fields}
        )
        return services.close_deviation(deviation, actor=qa_approver, password=PASSWORD)

    return make
