import factory

from documents.models import Document
from users.tests.factories import SiteFactory


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    # The site of the persona fixtures (conftest `site`): their users see the document.
    site = factory.SubFactory(SiteFactory, code="S1")
    title = factory.Sequence(lambda n: f"SOP {n}: tablet compression")
    version = "1.0"
    url = "https://dms.example.com/sop/1"
