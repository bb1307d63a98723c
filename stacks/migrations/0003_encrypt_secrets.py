"""Stack secrets are encrypted at rest: the column becomes text holding one Fernet token per stack.

The values already stored (plain JSON) are encrypted in place with the newest key of
FLOWSITE_SECRET_KEYS; raw SQL, because the field itself would try to decrypt them on reading.
"""

import json

from django.db import migrations

import stacks.encryption


def encrypt_existing(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, secrets FROM stacks_stack")
        for pk, stored in cursor.fetchall():
            if stored is None or not stored.lstrip().startswith("{"):
                continue  # already a token
            token = stacks.encryption.encrypt(json.loads(stored))
            cursor.execute("UPDATE stacks_stack SET secrets = %s WHERE id = %s", [token, pk])


def decrypt_existing(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, secrets FROM stacks_stack")
        for pk, stored in cursor.fetchall():
            if stored and not stored.lstrip().startswith("{"):
                plain = json.dumps(stacks.encryption.decrypt(stored))
                cursor.execute("UPDATE stacks_stack SET secrets = %s WHERE id = %s", [plain, pk])


class Migration(migrations.Migration):

    dependencies = [
        ("stacks", "0002_vertex_kind"),
    ]

    operations = [
        migrations.AlterField(
            model_name="stack",
            name="secrets",
            field=stacks.encryption.EncryptedSecretsField(
                blank=True, default=dict, help_text="Write-only: never shown back; encrypted at rest."
            ),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
