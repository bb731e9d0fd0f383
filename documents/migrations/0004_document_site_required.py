import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('documents', '0003_document_site'),
    ]

    operations = [
        migrations.AlterField(
            model_name='document',
            name='site',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='documents', to='users.site'),
        ),
    ]
