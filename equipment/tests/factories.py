import factory

from equipment.models import Equipment
from users.tests.factories import SiteFactory


class EquipmentFactory(factory.django.DjangoModelFactory):
    """New equipment as registered: available, never calibrated, dirty. Tests make it usable
    through the services (see the `usable_equipment` fixture)."""

    class Meta:
        model = Equipment

    name = factory.Sequence(lambda n: f"Tablet press {n}")
    equipment_type = "tablet_press"
    site = factory.SubFactory(SiteFactory)
