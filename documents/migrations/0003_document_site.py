import django.db.models.deletion
import documents.uploads
from django.db import migrations, models


class Migration(migrations.Migration):

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
    ]
