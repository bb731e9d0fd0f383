"""Documents become site-bound. Each existing document is given the site of the user who
created it (their first site), else the first site; a history row records the change with
its reason, as any other change to a controlled record. (Apart from the schema changes:
PostgreSQL refuses to build indexes in a transaction that changed rows under deferred
constraints.)"""

from django.db import migrations
from django.utils import timezone

REASON = "Site assigned: documents became site-bound (data migration documents.0004)"


def _default_site(apps):
    Site = apps.get_model("users", "Site")
    sites = list(Site.objects.order_by("pk")[:2])
    if sites:
        return sites[0]
    site = Site.objects.create(code="DEFAULT", name="Default site (documents kept before sites)")
    HistoricalSite = apps.get_model("users", "HistoricalSite")
    _record(HistoricalSite, Site, site, "+", "Site created for documents kept before sites")
    return site


def _record(historical_model, model, instance, history_type, reason):
    row = historical_model(
        history_date=timezone.now(), history_type=history_type, history_change_reason=reason, history_user_id=None
    )
    for field in model._meta.concrete_fields:
        setattr(row, field.attname, getattr(instance, field.attname))
    row.save()


def assign_sites(apps, schema_editor):
    Document = apps.get_model("documents", "Document")
    HistoricalDocument = apps.get_model("documents", "HistoricalDocument")
    Membership = apps.get_model("users", "User").sites.through
    documents = list(Document.objects.filter(site__isnull=True).order_by("pk"))
    if not documents:
        return
    fallback = _default_site(apps)
    for document in documents:
        membership = Membership.objects.filter(user_id=document.created_by_id).order_by("site_id").first()
        document.site_id = membership.site_id if membership else fallback.pk
        Document.objects.filter(pk=document.pk).update(site_id=document.site_id)
        _record(HistoricalDocument, Document, document, "~", REASON)



class Migration(migrations.Migration):

    dependencies = [
        ('documents', '0003_document_site'),
    ]

    operations = [
        migrations.RunPython(assign_sites, migrations.RunPython.noop),
    ]
