"""Stack secrets are encrypted at rest with rotatable keys from the environment."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from stacks.models import Stack

pytestmark = pytest.mark.django_db

VALUE = "sk-live-3f9a7c2e"


def stored(stack: Stack) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM stacks_stack WHERE id = %s", [stack.pk])
        return cursor.fetchone()[0]


def test_the_database_holds_a_token_never_the_value():
    stack = Stack.objects.create(name="prod", kind="local", secrets={"API_TOKEN": VALUE})
    raw = stored(stack)
    assert VALUE not in raw and "API_TOKEN" not in raw
    assert Stack.objects.get(pk=stack.pk).secrets == {"API_TOKEN": VALUE}
    Stack.objects.filter(pk=stack.pk).update(secrets={"OTHER": "x-value"})
    assert Stack.objects.get(pk=stack.pk).secret_values() == ["x-value"]


def test_keys_rotate_without_losing_a_secret(settings):
    old_key = settings.FLOWSITE_SECRET_KEYS[0]
    stack = Stack.objects.create(name="prod", kind="local", secrets={"API_TOKEN": VALUE})
    new_key = Fernet.generate_key().decode()
    settings.FLOWSITE_SECRET_KEYS = [new_key, old_key]
    before = stored(stack)
    out = io.StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "re-encrypted the secrets of 1 stack(s)" in out.getvalue()
    assert stored(stack) != before
    settings.FLOWSITE_SECRET_KEYS = [new_key]
    assert Stack.objects.get(pk=stack.pk).secrets == {"API_TOKEN": VALUE}


def test_secrets_under_a_key_that_is_gone_say_so(settings):
    stack = Stack.objects.create(name="prod", kind="local", secrets={"API_TOKEN": VALUE})
    settings.FLOWSITE_SECRET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception, match="cannot be decrypted with any key in FLOWSITE_SECRET_KEYS"):
        Stack.objects.get(pk=stack.pk)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_the_secrets_already_stored():
    executor = MigrationExecutor(connection)
    before, after = [("stacks", "0002_vertex_kind")], executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    made = old.get_model("stacks", "Stack").objects.create(name="old", kind="local", secrets={"API_TOKEN": VALUE})
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    stack = Stack.objects.get(pk=made.pk)
    assert VALUE not in stored(stack)
    assert stack.secrets == {"API_TOKEN": VALUE}
