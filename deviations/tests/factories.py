import factory

from deviations.models import Deviation
from users.tests.factories import SiteFactory


class DeviationFactory(factory.django.DjangoModelFactory):
    """An open deviation as reported. Later states are reached through the services."""

    class Meta:
        model = Deviation

    title = factory.Sequence(lambda n: f"Deviation {n}: granulator over-temperature")
    description = "Inlet air temperature reached 72 °C against a limit of 65 °C for 4 minutes."
    site = factory.SubFactory(SiteFactory)
