"""Anchors of any length (``Contact.anchor``, ``DirectoryObject.anchor``): an entry without an
objectGUID or entryUUID is anchored by its DN, and a deep tree's DN can pass the 300 characters
the columns held. On PostgreSQL such an entry failed its whole run ("value too long for type
character varying(300)"); the columns become ``text`` in place (no table rewrite, no index
rebuilt: the two types are stored alike).

SQLite never enforced the length, so its tables stay as they are: Django would rebuild the
contact table to change a column's type there, and a rebuild drops the table's triggers (those
of migration 0011, which keep ``ContactAlias`` true).
"""

from django.db import migrations, models

COLUMNS = (("directory_contact", "anchor"), ("directory_directoryobject", "anchor"))


def _retype(to: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, column in COLUMNS:
            schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {to}')
    return run


class Migration(migrations.Migration):

    dependencies = [
        ("directory", "0012_operation_batches"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="anchor",
                    field=models.TextField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="directoryobject",
                    name="anchor",
                    field=models.TextField(),
                ),
            ],
            database_operations=[
                migrations.RunPython(_retype("text"), _retype("varchar(300)")),
            ],
        ),
    ]
