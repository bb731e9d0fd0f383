import factory

from documents.models import Document


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    title = factory.Sequence(lambda n: f"SOP {n}: tablet compression")
    version = "1.0"
    url = "https://dms.example.com/sop/1"
