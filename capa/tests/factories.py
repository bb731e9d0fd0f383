import factory

from capa.models import CAPA
from users.tests.factories import SiteFactory


class CAPAFactory(factory.django.DjangoModelFactory):
    """An open CAPA; pass an `owner` who is a user of its site. Later states are reached
    through the services."""

    class Meta:
        model = CAPA

    title = factory.Sequence(lambda n: f"CAPA {n}: prevent label mix-ups")
    description = "Two label lots were found on line 3 during line clearance."
    action_plan = "Revise the line-clearance checklist; train packaging operators."
    site = factory.SubFactory(SiteFactory)
