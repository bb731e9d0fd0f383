"""Documents become site-bound. Each existing document is given the site of the user who
created it (their first site), else the only site, else the first site; a history row
records the change with its reason, as any other change to a controlled record."""

import django.db.models.deletion
import documents.uploads
from django.db import migrations, models
from django.utils import timezone

REASON = "Site assigned: documents became site-bound (data migration documents.0003)"


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
    # Not one transaction: PostgreSQL refuses to build the new column's index in the
    # transaction that moved rows under deferred constraints ("pending trigger events").
    # The data step runs in its own transaction and can be run again (it fills only
    # documents without a site).
    atomic = False

    dependencies = [
        ('documents', '0002_initial'),
        ('users', '0002_role_groups'),
    ]

    operations = [
        migrations.AddField(
            model_name='document',
            name='site',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='documents', to='users.site'),
        ),
        migrations.AddField(
            model_name='historicaldocument',
            name='site',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='users.site'),
        ),
        migrations.AlterField(
            model_name='document',
            name='file',
            field=models.FileField(blank=True, upload_to='documents/%Y/', validators=[documents.uploads.validate_document_file]),
        ),
        migrations.AlterField(
            model_name='historicaldocument',
            name='file',
            field=models.TextField(blank=True, max_length=100, validators=[documents.uploads.validate_document_file]),
        ),
        migrations.RunPython(assign_sites, migrations.RunPython.noop, atomic=True),
    ]
